"""Opening a session: a .mgie zip (``open_session``) or an autosave folder (core/autosave.py).

Step images are extracted only into the work folder, only under names the manifest may use,
and a failed open removes whatever it had written there. Pixels are not decoded here: a step
whose PNG is sound in structure but whose pixel data is damaged opens with the rest, and asking
for that step raises ``history.DamagedImage`` naming it (``ImageStore.get``); nothing else is lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import check_openable, os_reason
from mgie_desktop.core.history import History, ImageStore
from mgie_desktop.core.master import read_stored

from .layout import MASTER_NAME
from .manifest import app_info, read_manifest, saved_time, source_bytes
from .members import Members, ZipMembers
from .model import Session, SourceMeta
from .png import extract_png, read_alpha
from .streams import TooBig, copy_stream


def _check_free_space(members: Members, manifest: dict[str, Any], workdir: Path | None) -> None:
    needed = sum(members.size(step["image"]) or 0 for step in manifest["steps"])
    if workdir is not None:
        probe = workdir
        while not probe.exists() and probe != probe.parent:  # the folder may not exist yet
            probe = probe.parent
    else:
        probe = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(probe).free
        if needed > free:
            raise InputError(
                f"there is not enough free disk space to open it ({needed / 1024**2:,.0f} MB needed)"
            )


def load(members: Members, path: Path | None, workdir: Path | None) -> Session:
    """A Session from checked members; messages are tails for "cannot open ...: " (see ``tail``)."""
    manifest = read_manifest(members)
    src = manifest.get("source") or {}
    meta_args: dict[str, Any] = {
        "name": src.get("name") or "",
        "icc_profile": source_bytes(src, "icc_profile"),
        "exif": source_bytes(src, "exif"),
        "source_format": src.get("format"),
        "source_mode": src.get("mode"),
    }
    alpha = read_alpha(members) if src.get("alpha") else None

    if workdir is not None:
        workdir = Path(workdir)
    _check_free_space(members, manifest, workdir)

    created_dir = workdir is not None and not workdir.exists()
    store = ImageStore(workdir) if workdir is not None else ImageStore()
    written: list[Path] = []
    try:
        for step in manifest["steps"]:
            dest = store.path(step["id"])
            if dest.exists():
                raise InputError(f"the work folder already holds an image for step {step['id']}")
            written.append(dest)
            extract_png(members, step["image"], dest, f"the image of step {step['id']}")
        history = History.restore(manifest, store)
        if src.get("master"):
            written.append(store.master_path)
            extract_master(members, store.master_path, _root_size(history))
    except BaseException:
        # Undo only this call's writes: its files, and the work folder if it made it (a temp
        # store removes itself on close). Anything else in the folder is left alone.
        store.close()
        for file in written:
            with contextlib.suppress(OSError):
                file.unlink()
        if created_dir and workdir is not None:
            with contextlib.suppress(OSError):
                workdir.rmdir()
        raise
    return Session(
        history=history,
        source=SourceMeta(alpha=alpha, **meta_args),
        path=path,
        app=app_info(manifest),
        saved=saved_time(manifest),
    )


def _root_size(history: History) -> tuple[int, int]:
    root = next(step for step in history.steps if step.is_root)
    with Image.open(history.store.path(root.id)) as im:  # the header only: checked by extract_png
        width, height = im.size
    return width, height


def extract_master(members: Members, dest: Path, size: tuple[int, int]) -> None:
    """Copy the 16-bit master to ``dest``, no larger than its pixels justify, and check it is
    16-bit RGB of the photo's ``size``."""
    declared = members.size(MASTER_NAME) or 0
    cap = size[0] * size[1] * 6 * 11 // 10 + 1024 * 1024  # raw 16-bit RGB, generous overhead
    if declared > cap:
        raise InputError(f"the 16-bit master is too large ({declared:,} bytes)")
    try:
        with members.open(MASTER_NAME) as src, open(dest, "xb") as dst:
            copy_stream(src, dst, cap)
    except TooBig:
        raise InputError("the 16-bit master is larger than the session file says") from None
    read_stored(dest, size)  # decoded once here, so a damaged one is reported now


def tail(message: str) -> str:
    """A message to follow "cannot open session 'x': ". Ours already start lowercase; a first word
    capitalised as a sentence's would be (one capital, then lowercase) is lowered all the same."""
    if message[:1].isupper() and message[1:2].islower():
        return message[0].lower() + message[1:]
    return message


@contextlib.contextmanager
def opened_zip(path: Path, label: str) -> Iterator[ZipMembers]:
    """The checked members of a .mgie zip; any failure inside becomes "cannot open session ..."."""

    shown = display_text(label)  # a downloaded file's name may hold escapes too

    def fail(problem: str) -> InputError:
        return InputError(f"cannot open session '{shown}': {problem}")

    check_openable(path, fail, "a session file")
    try:
        with zipfile.ZipFile(path) as zf:
            yield ZipMembers(zf)
    except InputError as exc:
        if str(exc).startswith("cannot open session"):
            raise
        raise fail(tail(str(exc))) from None
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc) or "Bad magic" in str(exc) or "Truncated" in str(exc):
            raise fail(f"the file is damaged ({os_reason(exc)})") from None
        raise fail(
            "it is not an MGIE session file, or it is damaged or truncated (not a valid zip archive)"
        ) from None
    except (EOFError, struct.error, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise fail(f"the file is damaged or truncated ({os_reason(exc)})") from None
    except MemoryError:
        raise fail("not enough memory to read it") from None
    except OSError as exc:
        raise fail(f"the file cannot be read ({os_reason(exc)})") from None
    except Exception as exc:  # zlib.error and friends: a corrupt archive can raise almost anything
        raise fail(f"the file is damaged ({os_reason(exc)})") from None


def open_session(path: str | os.PathLike[str], workdir: str | os.PathLike[str] | None = None) -> Session:
    """Open a .mgie file. Step images are extracted into ``workdir`` (default: a private temp
    folder removed by ``Session.close()``), and nowhere else. Every problem is an InputError."""
    path = Path(path)
    with opened_zip(path, path.name or str(path)) as members:
        return load(members, path, Path(workdir) if workdir is not None else None)
