"""Per-file status of the manifest's files in a models directory, and the full re-hash.

``statuses`` is cheap (sizes, and the record of the last verification; no hashing), for
``models list``. ``verify_files`` re-reads every file in large chunks, for ``models verify``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mgie_desktop.store.download import part_path
from mgie_desktop.store.hashing import HASH_CHUNK, sha256_file
from mgie_desktop.store.manifest import FileEntry, Manifest, target_path
from mgie_desktop.store.state import StoreState

INSTALLED, UNVERIFIED, PARTIAL, MISSING, CORRUPT = "installed", "unverified", "partial", "missing", "corrupt"


@dataclass(frozen=True)
class FileStatus:
    path: str
    model_id: str
    status: str  # installed | unverified | partial | missing | corrupt
    bytes_on_disk: int  # the file's size, or the .part's
    expected_size: int | None
    detail: str = ""


def file_status(entry: FileEntry, dest: Path, state: StoreState) -> FileStatus:
    target = target_path(dest, entry.path)

    def status(kind: str, have: int, detail: str = "") -> FileStatus:
        return FileStatus(entry.path, entry.model_id, kind, have, entry.size, detail)

    if not target.is_file():
        part = part_path(target)
        if part.is_file():
            return status(PARTIAL, part.stat().st_size, "download in progress (resumable)")
        return status(MISSING, 0, "dangling link" if target.is_symlink() else "")
    have = target.stat().st_size
    if entry.size is not None and have != entry.size:
        return status(CORRUPT, have, f"wrong size ({have} bytes, expected {entry.size})")
    recorded = state.recorded_sha256(entry.path)
    if recorded and state.unchanged(entry.path, target):
        if entry.sha256 and recorded != entry.sha256:
            return status(CORRUPT, have, "verified against a different hash than the manifest's")
        return status(INSTALLED, have)
    return status(UNVERIFIED, have, "present, not verified since it last changed")


def statuses(manifest: Manifest, dest: Path) -> list[FileStatus]:
    state = StoreState(dest)
    return [file_status(entry, Path(dest), state) for entry in manifest.files]


def verify_files(
    manifest: Manifest,
    dest: Path,
    cancel: threading.Event | None = None,
    on_file: Callable[[str], None] | None = None,
    chunk: int = HASH_CHUNK,
) -> list[str]:
    """Re-hash every manifest file; one line per bad file (missing, wrong size, checksum
    mismatch). Files with neither a published nor a recorded hash are only size-checked."""
    dest = Path(dest)
    state = StoreState(dest)
    bad = []
    for entry in manifest.files:
        if on_file is not None:
            on_file(entry.path)
        target = target_path(dest, entry.path)
        if not target.is_file():
            bad.append(f"missing: {entry.path}")
            continue
        have = target.stat().st_size
        if entry.size is not None and have != entry.size:
            bad.append(f"wrong size: {entry.path} ({have} bytes, expected {entry.size})")
            continue
        expected = entry.sha256 or state.recorded_sha256(entry.path)
        if expected is None:
            continue
        digest = sha256_file(target, cancel, chunk=chunk)
        if digest != expected:
            bad.append(f"checksum mismatch: {entry.path} (sha256 {digest}, expected {expected})")
            continue
        how = (state.get(entry.path) or {}).get(
            "hash_source", "manifest" if entry.sha256 else "first-download"
        )
        try:
            state.put(entry.path, target, digest, how)
        except OSError:
            pass  # a read-only models directory can still be verified
    return bad
