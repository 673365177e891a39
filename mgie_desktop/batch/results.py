"""The results file, ``OUTPUT_DIR/results.jsonl``: one JSON object a line per photo edited,
appended as each photo ends, so a stopped batch resumes where it was.

A line: ``{"photo", "status": "ok" | "failed", "output", "seconds", "expressive_instructions",
"seeds", "error", "recipe", "source", "recipe_file", "finished"}`` (``finished``: Unix time)
(``recipe``: a digest of the recipe and output format that made it; ``source``: the photo's path;
``recipe_file``: the recipe's path, for the review window's rerun command; a re-render asked for
in review.json adds ``"rerender"``, the request it made). A rerun skips a photo whose latest line says "ok" for the same recipe and whose output file
exists; failed photos are tried again. Lines are appended whole (one write, flushed and fsynced,
under an advisory lock where the OS has one; a short write on a full disk is taken back), so
several Ray workers can share the file. A crash can still leave one torn last line: reading
ignores it, and ``open_results`` repairs it before a run appends after it. A file that cannot be
written is an InputError naming it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import fsync_dir, os_reason

try:  # POSIX; on Windows a single local writer needs no lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

NAME = "results.jsonl"
OK, FAILED = "ok", "failed"
TORN_LINE_LIMIT = 1 << 20  # a torn tail longer than any line of ours is cut unread
BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


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
    return (
        entry is not None
        and entry.get("status") == OK
        and entry.get("recipe") == digest
        and entry.get("output") == output
        and Path(output).is_file()
    )


def open_results(path: Path) -> None:
    """Before a run: the results file can be appended to (else InputError naming it), and a torn
    last line from a crash is repaired, so the run's first line is not glued onto it and lost."""
    created = not path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | BINARY, 0o644)
        try:
            with _locked(fd):
                _repair_torn_line(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    if created:
        fsync_dir(path.parent)  # the new file's name survives a power cut with its first lines


def append_result(path: Path, entry: dict) -> None:
    """Add one line, whole, and make it durable before the next photo starts."""
    data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | BINARY, 0o644)
        try:
            with _locked(fd):
                _write_whole(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> InputError:
    return InputError(f"cannot write the results file {path}: {os_reason(exc)}")


@contextlib.contextmanager
def _locked(fd: int):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _write_whole(fd: int, data: bytes) -> None:
    """``data`` at the end, durable; or the file as it was (a short write is taken back, never
    left as a torn line for the next writer to append to)."""
    size = os.fstat(fd).st_size
    try:
        if os.write(fd, data) != len(data):  # only a full disk writes less to a file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _repair_torn_line(fd: int) -> None:
    """A last line without its newline: completed when it is whole JSON (only the newline was
    lost), else cut off (its photo has no line, so it is edited again)."""
    size = os.fstat(fd).st_size
    if not size or _read_at(fd, size - 1, 1) == b"\n":
        return
    start = _last_line_start(fd, size)
    if size - start <= TORN_LINE_LIMIT and _is_json(_read_at(fd, start, size - start)):
        os.lseek(fd, size, os.SEEK_SET)
        os.write(fd, b"\n")
    else:
        os.ftruncate(fd, start)
    os.fsync(fd)


def _last_line_start(fd: int, size: int, chunk: int = 1 << 16) -> int:
    end = size
    while end > 0:
        begin = max(0, end - chunk)
        newline = _read_at(fd, begin, end - begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def _read_at(fd: int, offset: int, count: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)  # os.pread is POSIX only
    return os.read(fd, count)


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
