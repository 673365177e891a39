"""File plumbing shared by photos and sessions: pre-checks before opening, atomic writes,
and plain-words reasons for OS errors."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mgie_desktop.core.errors import InputError


def check_openable(path: Path, fail: Callable[[str], InputError], kind: str) -> None:
    """Raise ``fail(problem)`` naming the problem in plain words."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise fail("the file does not exist") from None
    except OSError as exc:
        raise fail(f"the file cannot be read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise fail(f"it is a folder, not {kind}")
    if st.st_size == 0:
        raise fail("the file is empty (0 bytes)")


def os_reason(exc: BaseException) -> str:
    """An OS error as a person would say it ("the disk is full", not errno 28)."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return "the disk is full"
        if exc.errno == errno.EROFS:
            return "the disk is read-only"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        return exc.strerror or str(exc) or type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def default_file_mode() -> int:
    """Temp files are created 0600; a new file should get the usual umask-based permissions."""
    try:  # Linux reports the umask without changing it (os.umask is process-wide and racy)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles for this)."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: Path,
    write: Callable[[BinaryIO], object],
    what: str,
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, MemoryError),
) -> None:
    """Write via a temp file beside ``path``, fsync, then os.replace: ``path`` is either the old
    file or the complete new one, never half of either. Failures (``errors``) raise InputError
    and leave no temp file behind."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot save {what}: a folder with that name already exists")
    if not folder.is_dir():
        raise InputError(f"cannot save {what}: the folder '{folder}' does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(
            f"cannot save {what}: cannot write to the folder '{folder}' ({os_reason(exc)})"
        ) from None
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                mode = path.stat().st_mode & 0o777  # replacing a file: keep its permissions
            except OSError:
                mode = default_file_mode()
            with contextlib.suppress(OSError):
                os.chmod(tmp, mode)
            os.replace(tmp, path)
            fsync_dir(folder)  # the new name survives a power cut, not only the bytes
        except errors as exc:
            raise InputError(f"cannot save {what}: {os_reason(exc)}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
