"""A full disk (or quota) under the outputs: no one photo's fault, so the batch stops at the first
output it refuses instead of rendering every photo left only to fail each the same way. What
is done stays written and recorded; the refused photo gets no results line, so a rerun does it."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from mgie_desktop.core.errors import InputError

QUOTA = getattr(errno, "EDQUOT", None)  # not on Windows
FULL = {errno.ENOSPC} | ({QUOTA} if QUOTA is not None else set())
KEY = "disk_full"  # a Ray worker's fatal row carries the details under this key


def disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC or EDQUOT behind ``exc``, if any: core.files wraps OS errors in InputError
    (``from exc``, or ``from None``, which still keeps the context)."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, OSError) and node.errno in FULL:
            return node
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return None


class OutputDiskFull(InputError):
    """Writing ``photo``'s output found no room. ``estimate``: bytes one output may take (its
    pixels uncompressed), for when no output of the batch is there yet to measure."""

    def __init__(self, photo: str, output: str, quota: bool, estimate: int):
        self.photo, self.output, self.quota, self.estimate = photo, output, quota, int(estimate)
        super().__init__(f"stopped at {photo}: cannot write {output}: {self.reason}")

    @property
    def reason(self) -> str:
        return "the disk quota is used up" if self.quota else "the disk is full"

    def row(self) -> dict:
        return {"photo": self.photo, "output": self.output, "quota": self.quota, "estimate": self.estimate}

    @classmethod
    def from_row(cls, row: dict) -> OutputDiskFull:
        return cls(str(row["photo"]), str(row["output"]), bool(row["quota"]), int(row["estimate"]))


def stop_line(exc: OutputDiskFull, done_outputs: list[str], left: int) -> str:
    """The one line that ends the batch: which photo, where, the room there is and the room the
    ``left`` photos need (each sized as the largest output written, else ``exc.estimate``)."""
    folder = Path(exc.output).parent
    each = max([_size_of(path) for path in done_outputs] + [0]) or exc.estimate
    free = None if exc.quota else _free(folder)  # a quota's room is not the disk's
    room = [] if free is None else [f"{_size(free)} free"]
    room.append(f"the {left} photo(s) left need about {_size(each * left)}")
    return (
        f"stopped at {exc.photo}: cannot write its output in {folder}: {exc.reason} ({'; '.join(room)}); "
        "the photos finished are kept and recorded: make room and rerun the same command to go on"
    )


def _size_of(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _free(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(size: int) -> str:
    if size < 1024**2:
        return f"{-(-size // 1024)} KB"
    return f"{size / 1024**2:,.1f} MB" if size < 10 * 1024**2 else f"{size / 1024**2:,.0f} MB"
