"""The results file, ``OUTPUT_DIR/results.jsonl``: one JSON object a line per photo edited,
appended as each photo ends, so a stopped batch resumes where it was.

A line: ``{"photo", "status": "ok" | "failed", "output", "seconds", "expressive_instructions",
"seeds", "error", "recipe", "finished"}`` (``finished``: Unix time) (``recipe``: a digest of the recipe and output format that made
it). A rerun skips a photo whose latest line says "ok" for the same recipe and whose output file
exists; failed photos are tried again. Lines are appended whole (one write, flushed and fsynced,
under an advisory lock where the OS has one), so several Ray workers can share the file and a
crash leaves at most one torn last line, which reading ignores.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

try:  # POSIX; on Windows a single local writer needs no lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

NAME = "results.jsonl"
OK, FAILED = "ok", "failed"


def recipe_digest(recipe_data: dict, fmt: str) -> str:
    """What makes an output: the recipe (as JSON, keys sorted) and the output format."""
    canonical = json.dumps({"recipe": recipe_data, "format": fmt}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def read_results(path: Path) -> dict[str, dict]:
    """The latest line for each photo (torn or foreign lines are skipped)."""
    latest: dict[str, dict] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("photo"), str):
                    latest[entry["photo"]] = entry
    except FileNotFoundError:
        pass
    return latest


def is_done(entry: dict | None, output: str, digest: str) -> bool:
    return (entry is not None and entry.get("status") == OK and entry.get("recipe") == digest
            and entry.get("output") == output and Path(output).is_file())


def append_result(path: Path, entry: dict) -> None:
    """Add one line, whole, and make it durable before the next photo starts."""
    data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
