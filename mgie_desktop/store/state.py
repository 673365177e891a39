"""What the store has verified, kept in ``DEST/.mgie-store/verified.json``.

For each manifest path: the size and mtime at verification (so a later ``list`` can tell a
file is untouched without re-hashing gigabytes), its sha256, and where the expected hash came
from: ``manifest``, ``hub-lfs`` (the Hub's LFS sha256), ``hub-git`` (the Hub's git blob id) or
``first-download`` (no published hash: recorded so later corruption is still detected).

Under ``revisions``: for a Hub source the manifest does not pin to a commit (a branch, or null
for the default branch), the commit its first download came from; later fetches of that
repository use it, so every file of a model comes from one commit, however many runs it takes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

from mgie_desktop.store.manifest import Source

STATE_DIR = ".mgie-store"
STATE_FILE = "verified.json"
_COMMIT = re.compile(r"[0-9a-f]{40}")


class StoreState:
    def __init__(self, dest: Path):
        self.path = Path(dest) / STATE_DIR / STATE_FILE
        self.files: dict[str, dict] = {}
        self.revisions: dict[str, str] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                self.files = {k: v for k, v in data["files"].items() if isinstance(v, dict)}
            if isinstance(data, dict) and isinstance(data.get("revisions"), dict):
                self.revisions = {
                    k: v for k, v in data["revisions"].items() if isinstance(v, str) and _COMMIT.fullmatch(v)
                }
        except (OSError, ValueError):
            pass  # missing or damaged: everything is simply "not yet verified"

    def get(self, rel: str) -> dict | None:
        return self.files.get(rel)

    def recorded_sha256(self, rel: str) -> str | None:
        rec = self.files.get(rel) or {}
        return rec.get("sha256") if isinstance(rec.get("sha256"), str) else None

    def unchanged(self, rel: str, path: Path) -> bool:
        """True when ``path`` still has the size and mtime it had when verified."""
        rec = self.files.get(rel)
        try:
            st = path.stat()
        except OSError:
            return False
        return bool(rec) and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns

    def put(self, rel: str, path: Path, sha256: str, how: str) -> None:
        st = path.stat()
        self.files[rel] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256,
            "hash_source": how,
        }
        self.save()

    def pinned_source(self, source: Source) -> Source:
        """``source`` at the commit its repository's first download came from, when the manifest
        does not pin it and one is recorded; else ``source`` itself."""
        commit = None if source.pinned else self.revisions.get(source.repo_key)
        return replace(source, revision=commit) if commit else source

    def pin(self, source: Source, commit: str) -> None:
        """Record the commit an unpinned ``source`` was first downloaded from (once)."""
        if source.pinned or source.repo_key in self.revisions or not _COMMIT.fullmatch(commit):
            return
        self.revisions[source.repo_key] = commit
        self.save()

    def drop(self, rel: str) -> None:
        if self.files.pop(rel, None) is not None:
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {"version": 1, "files": self.files, "revisions": self.revisions}, f, indent=1, sort_keys=True
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
