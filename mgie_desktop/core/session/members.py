"""Reading the members of a session that came from elsewhere: a .mgie zip or an autosave folder.

Both expose the same two calls (``size`` and ``open``), so manifest and image checks run
unchanged on either. Names are refused before anything is opened (zip-slip: ``..``, absolute
paths, drive letters, backslashes), and a zip's declared sizes are checked up front against
the limits in the package (zip bombs, huge totals).
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from mgie_desktop.core.errors import InputError

from . import limits, streams
from .streams import CHUNK

_DRIVE = re.compile(r"^[A-Za-z]:")


def quoted(name: str, width: int = 80) -> str:
    """A member name from the archive for a message: quoted with its control characters
    escaped (repr), and cut short, so the one-line refusal stays one short line."""
    return repr(name) if len(name) <= width else repr(name[:width]) + "..."


def unsafe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or ":" in name:
        return True
    if name.startswith("/") or _DRIVE.match(name):
        return True
    return any(part == ".." for part in name.split("/"))


class ZipMembers:
    """Members of a .mgie zip, after checking every name, flag and declared size."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in zf.infolist():
            # The raw name too: zipfile tidies filename (cuts it at a NUL, turns Windows \ into /).
            for name in {info.filename, info.orig_filename}:
                if unsafe_name(name):
                    raise InputError(f"it contains an unsafe file name {quoted(name)} (outside the session)")
            if info.filename in self.infos:
                raise InputError(f"it contains {quoted(info.filename)} twice")
            if info.flag_bits & 0x1:
                raise InputError("it contains encrypted files")
            if info.file_size < 0 or info.compress_size < 0:
                raise InputError(f"{quoted(info.filename)} has an invalid size")
            if info.file_size > CHUNK and info.file_size > limits.MAX_RATIO * max(1, info.compress_size):
                raise InputError(f"{quoted(info.filename)} expands suspiciously (a zip bomb?)")
            total += info.file_size
            if total > limits.MAX_TOTAL_BYTES:
                raise InputError(
                    f"its contents would take more than {limits.MAX_TOTAL_BYTES / 1024**3:.0f} GiB when unpacked"
                )
            self.infos[info.filename] = info

    def size(self, name: str) -> int | None:
        info = self.infos.get(name)
        return None if info is None or info.is_dir() else info.file_size

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with self.zf.open(self.infos[name]) as fh:
            yield cast(BinaryIO, fh)  # a ZipExtFile: a binary file object


class FolderMembers:
    """The same layout unzipped in a folder (an autosave). Only expected names are looked up."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, name: str) -> Path:
        if unsafe_name(name):
            raise InputError(f"it refers to an unsafe file name {quoted(name)}")
        return self.root.joinpath(*name.split("/"))

    def size(self, name: str) -> int | None:
        path = self._path(name)
        if path.is_symlink() or not path.is_file():  # a link could point anywhere on the disk
            return None
        return path.stat().st_size

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with open(self._path(name), "rb") as fh:
            yield fh


Members = ZipMembers | FolderMembers


def read_member(members: Members, name: str, limit: int) -> bytes:
    """A small member in memory, refusing (``TooBig``) more than ``limit`` bytes whatever it declares."""
    buf = io.BytesIO()
    with members.open(name) as fh:
        streams.copy_stream(fh, buf, limit)
    return buf.getvalue()
