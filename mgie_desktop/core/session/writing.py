"""Saving a session: every step image and the manifest in one .mgie zip, written atomically
(temp file beside it, fsync, ``os.replace``), so a crash or a full disk leaves the old file."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import atomic_write, os_reason
from mgie_desktop.core.history import History
from mgie_desktop.core.imaging import Photo

from . import streams
from .layout import ALPHA_NAME, MANIFEST_NAME, MASTER_NAME
from .manifest import build_manifest, manifest_bytes
from .model import SourceMeta, as_meta
from .png import alpha_png


def flush_step_images(history: History, what: str) -> None:
    """Wait for the history's background writer: a save copies the step files from disk."""
    try:
        history.store.flush()
    except Exception as exc:
        raise InputError(f"cannot save {what}: a step image could not be written ({os_reason(exc)})") from exc


def atomic_write_session(path: Path, write: Callable[[BinaryIO], object], what: str) -> None:
    # zipfile.LargeZipFile is no OSError, but it is a failed save all the same.
    atomic_write(path, write, what, errors=(OSError, ValueError, MemoryError, zipfile.LargeZipFile))


def _entry(name: str, stamp: tuple[int, int, int, int, int, int], compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = compress_type
    return info


def _master_file(history: History, what: str) -> Path:
    try:
        return history.store.master_file()
    except Exception as exc:
        raise InputError(
            f"cannot save {what}: the photo's 16-bit master could not be written ({os_reason(exc)})"
        ) from exc


def _copy_member(zf: zipfile.ZipFile, source: Path, info: zipfile.ZipInfo) -> None:
    size = source.stat().st_size
    info.file_size = size
    with open(source, "rb") as src, zf.open(info, "w", force_zip64=size > 2**31) as dst:
        streams.copy_stream(src, dst)


def save_session(
    history: History,
    path: str | os.PathLike[str],
    photo_meta: Photo | SourceMeta | dict[str, Any] | None = None,
) -> Path:
    """Write ``history`` (every step, branch, the current step and redo memory) to a .mgie file.

    Atomic: on any failure (disk full, read-only folder, ...) the previous file is untouched,
    no partial file is left, and InputError says what went wrong. Returns the path written.
    """
    path = Path(path)
    what = f"session '{path.name or path}'"
    meta = as_meta(photo_meta)
    saved = time.time()
    manifest = build_manifest(history, meta, saved)
    flush_step_images(history, what)
    master = _master_file(history, what) if "master" in manifest["source"] else None
    data = manifest_bytes(manifest)
    alpha = alpha_png(meta.alpha) if meta.alpha is not None else None
    t = time.localtime(saved)
    stamp = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
            zf.writestr(_entry(MANIFEST_NAME, stamp, zipfile.ZIP_DEFLATED), data)
            for step in manifest["steps"]:  # PNG is compressed already
                _copy_member(
                    zf, history.store.path(step["id"]), _entry(step["image"], stamp, zipfile.ZIP_STORED)
                )
            if alpha is not None:
                zf.writestr(_entry(ALPHA_NAME, stamp, zipfile.ZIP_STORED), alpha)
            if master is not None:  # deflated already
                _copy_member(zf, master, _entry(MASTER_NAME, stamp, zipfile.ZIP_STORED))

    atomic_write_session(path, write, what)
    return path
