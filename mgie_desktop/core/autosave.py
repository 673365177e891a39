"""Autosave and crash recovery: the running session kept on disk after every change.

Each running session writes an unzipped session folder (the same layout as a ``.mgie``) and
holds an OS lock on it while the app runs; the lock dies with the process, even on kill -9, so
the next start can tell a crashed session from a live one. Only new step images are copied per
save, and ``session.json`` is replaced last, so an interrupted save leaves the previous one whole.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import platformdirs
from PIL import Image

if sys.platform == "win32":  # the OS lock that dies with its process (sys.platform: what mypy follows)
    import msvcrt
else:
    import fcntl

from mgie_desktop import __version__

from .errors import InputError
from .files import fsync_dir, os_reason
from .history import History
from .imaging import Photo
from .paths import APP_NAME
from .session.layout import APP_LABEL, LOCK_NAME, MANIFEST_NAME, MASTER_NAME, OWNER_NAME
from .session.manifest import build_manifest, manifest_bytes, read_manifest, saved_time
from .session.members import FolderMembers
from .session.model import Session, SourceMeta, as_meta
from .session.png import alpha_png
from .session.reading import load, tail
from .session.streams import copy_stream
from .session.writing import atomic_write_session, flush_step_images

DISCARD_TRIES, DISCARD_WAIT_S = 40, 0.05  # a running app holds its lock for good; a look, for milliseconds


def default_autosave_folder() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "autosave"


def _try_lock(fh: BinaryIO) -> bool:
    """Take an exclusive, non-blocking lock the OS drops when the holder dies (even SIGKILL)."""
    try:
        if sys.platform == "win32":
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fh: BinaryIO) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        fh.close()


def _remove_tree(folder: Path, lock_fh: BinaryIO | None) -> None:
    # session.json first: without it nothing is offered for recovery, whatever is left over.
    with contextlib.suppress(OSError):
        (folder / MANIFEST_NAME).unlink()
    if os.name == "nt" and lock_fh is not None:  # Windows cannot delete a file that is open
        _unlock(lock_fh)
        lock_fh = None
    shutil.rmtree(folder, ignore_errors=True)
    if lock_fh is not None:
        _unlock(lock_fh)


class Autosaver:
    """Keeps the running session recoverable: call ``save`` after every edit, ``close`` on a
    clean exit. One Autosaver per open photo.

    Layout: ``folder/<session-id>/{lock, owner.json, session.json, steps/*.png, source/alpha.png}``;
    ``lock`` is held (flock / msvcrt.locking) for as long as this object is open.
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self.folder = Path(folder) if folder is not None else default_autosave_folder()
        self.path: Path | None = None  # this session's folder, made on the first save
        self._lock_fh: BinaryIO | None = None
        self._written: set[int] = set()
        self._history: weakref.ref[Any] | None = None
        self._alpha: Image.Image | None = None
        self._master_copied = False
        self._closed = False

    def _start(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
            # Built under a hidden name and renamed once locked, so find_recoverable never sees
            # an unlocked session folder that is still being set up.
            staging = self.folder / f".{name}.starting"
            staging.mkdir()
            fh = open(staging / LOCK_NAME, "a+b")
            if not _try_lock(fh):
                fh.close()
                raise OSError(errno.EAGAIN, "cannot lock the autosave folder")
            owner = {"pid": os.getpid(), "started": time.time(), "app": APP_LABEL, "version": __version__}
            (staging / OWNER_NAME).write_text(json.dumps(owner), encoding="utf-8")
            (staging / "steps").mkdir()
            final = self.folder / name
            os.replace(staging, final)
            fsync_dir(self.folder)
        except OSError as exc:
            raise InputError(f"cannot autosave to '{self.folder}': {os_reason(exc)}") from exc
        self._lock_fh = fh
        self.path = final

    def save(self, history: History, photo_meta: Photo | SourceMeta | dict[str, Any] | None = None) -> Path:
        """Bring the autosave up to date with ``history``; it is complete on disk when this returns.

        Only new step images are copied (each atomically); ``session.json`` is replaced last,
        so an interrupted save leaves the previous autosave whole. Raises InputError on failure.
        """
        if self._closed:
            raise InputError("cannot autosave: this session was already closed")
        meta = as_meta(photo_meta)
        manifest = build_manifest(history, meta, time.time())
        if self.path is None:
            self._start()
        assert self.path is not None
        if self._history is None or self._history() is not history:
            self._history = weakref.ref(history)
            self._written = set()
            self._alpha = None
            self._master_copied = False
        what = "the autosave"
        flush_step_images(history, what)

        steps_dir = self.path / "steps"
        added = False
        for step in manifest["steps"]:
            if step["id"] in self._written:
                continue
            src_path = history.store.path(step["id"])

            def copy(fh: BinaryIO, src_path: Path = src_path) -> None:
                with open(src_path, "rb") as src:
                    copy_stream(src, fh)

            atomic_write_session(self.path.joinpath(*step["image"].split("/")), copy, what)
            self._written.add(step["id"])
            added = True
        if meta.alpha is not None and meta.alpha is not self._alpha:
            (self.path / "source").mkdir(exist_ok=True)
            data = alpha_png(meta.alpha)
            atomic_write_session(self.path / "source" / "alpha.png", lambda fh: fh.write(data), what)
            self._alpha = meta.alpha
        if "master" in manifest["source"] and not self._master_copied:  # it never changes: copied once
            (self.path / "source").mkdir(exist_ok=True)
            master = history.store.master_file()

            def copy_master(fh: BinaryIO) -> None:
                with open(master, "rb") as src:
                    copy_stream(src, fh)

            atomic_write_session(self.path.joinpath(*MASTER_NAME.split("/")), copy_master, what)
            self._master_copied = True
        if added:
            fsync_dir(steps_dir)
        data = manifest_bytes(manifest)
        atomic_write_session(self.path / MANIFEST_NAME, lambda fh: fh.write(data), what)
        return self.path

    def close(self) -> None:
        """Clean exit: remove this session's autosave (nothing is offered for recovery)."""
        if self._closed:
            return
        self._closed = True
        if self.path is not None:
            _remove_tree(self.path, self._lock_fh)
        elif self._lock_fh is not None:
            _unlock(self._lock_fh)
        self._lock_fh = None

    def release(self) -> None:
        """Stop autosaving but keep the files, e.g. when the app fails: next start offers them."""
        if self._lock_fh is not None:
            _unlock(self._lock_fh)
        self._lock_fh = None
        self._closed = True

    def find_recoverable(self) -> list[RecoverableSession]:
        return find_recoverable(self.folder)

    def discard(self, recoverable: RecoverableSession | str | os.PathLike[str]) -> None:
        discard(recoverable)

    def __enter__(self) -> Autosaver:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.release()


@dataclass(frozen=True)
class RecoverableSession:
    """An autosave left behind by a process that did not exit cleanly."""

    path: Path
    saved: float | None = None
    steps: int = 0
    source_name: str = ""
    current_instruction: str = ""
    pid: int | None = None
    problem: str | None = None  # why it cannot be opened, if it looks damaged

    def open(self, workdir: str | os.PathLike[str] | None = None) -> Session:
        """Load it as a Session (images copied into ``workdir``); the autosave itself is kept
        until ``discard``. Start a new Autosaver for the recovered history."""
        try:
            return load(FolderMembers(self.path), None, Path(workdir) if workdir is not None else None)
        except InputError as exc:
            raise InputError(f"cannot recover the session from {self.path.name}: {tail(str(exc))}") from None
        except OSError as exc:
            raise InputError(f"cannot recover the session from {self.path.name}: {os_reason(exc)}") from None

    def discard(self) -> None:
        discard(self)


def find_recoverable(folder: str | os.PathLike[str] | None = None) -> list[RecoverableSession]:
    """Autosaves whose process is gone (crash, kill -9, power loss), newest first. Sessions of
    running processes (this one included) are locked and skipped; empty leftovers are removed."""
    folder = Path(folder) if folder is not None else default_autosave_folder()
    found: list[RecoverableSession] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        fh: BinaryIO | None
        try:
            fh = open(entry / LOCK_NAME, "a+b")
        except OSError:
            continue
        try:
            if not _try_lock(fh):
                fh.close()
                fh = None
                continue  # its process is still running
            if not (entry / MANIFEST_NAME).is_file():
                _remove_tree(entry, fh)  # never saved anything: nothing to recover
                fh = None
                continue
            found.append(_describe(entry))
        finally:
            if fh is not None:
                _unlock(fh)
    found.sort(key=lambda r: r.saved or 0.0, reverse=True)
    return found


def _describe(entry: Path) -> RecoverableSession:
    pid = None
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        owner = json.loads((entry / OWNER_NAME).read_text(encoding="utf-8"))
        pid = int(owner["pid"])
    try:
        manifest = read_manifest(FolderMembers(entry))
    except InputError as exc:
        return RecoverableSession(entry, pid=pid, problem=str(exc))
    except OSError as exc:
        return RecoverableSession(entry, pid=pid, problem=os_reason(exc))
    by_id = {s["id"]: s for s in manifest["steps"]}
    return RecoverableSession(
        path=entry,
        saved=saved_time(manifest),
        steps=len(by_id),
        source_name=(manifest.get("source") or {}).get("name") or "",
        current_instruction=by_id[manifest["current"]].get("instruction", ""),
        pid=pid,
    )


def discard(recoverable: RecoverableSession | str | os.PathLike[str]) -> None:
    """Delete a left-behind autosave (after recovering it, or when the user declines)."""
    path = recoverable.path if isinstance(recoverable, RecoverableSession) else Path(recoverable)
    if not path.is_dir():
        return
    try:
        fh = open(path / LOCK_NAME, "a+b")
    except OSError as exc:
        raise InputError(f"cannot discard the autosave '{path.name}': {os_reason(exc)}") from None
    for _ in range(DISCARD_TRIES):  # another window's look (find_recoverable) holds it for a moment
        if _try_lock(fh):
            break
        time.sleep(DISCARD_WAIT_S)
    else:
        fh.close()
        raise InputError(f"cannot discard the autosave '{path.name}': it belongs to a running MGIE Desktop")
    _remove_tree(path, fh)
