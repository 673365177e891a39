"""Chunked copying with an optional hard cap, for session members of any size."""

from __future__ import annotations

from typing import IO

CHUNK = 1024 * 1024


class TooBig(Exception):
    """More bytes arrived than the cap allows; callers turn this into their own InputError."""


def copy_stream(src: IO[bytes], dst: IO[bytes], limit: int | None = None) -> int:
    """Copy in chunks; with ``limit``, refuse to copy more than that many bytes.

    The cap counts what actually arrives, not what the archive declares: a hostile zip can lie
    about sizes, so this is what keeps a zip bomb off the disk.
    """
    total = 0
    while True:
        chunk = src.read(CHUNK if limit is None else min(CHUNK, limit - total + 1))
        if not chunk:
            return total
        total += len(chunk)
        if limit is not None and total > limit:
            raise TooBig(total)
        dst.write(chunk)
