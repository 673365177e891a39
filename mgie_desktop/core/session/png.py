"""Step and alpha images: written as PNG, and checked when read so a hostile one cannot exhaust
memory or disk (Pillow's pixel limit, a byte cap derived from the pixel count, chunk CRCs)."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from mgie_desktop.core.errors import InputError

from . import streams
from .layout import ALPHA_NAME
from .members import Members, read_member
from .streams import TooBig

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def alpha_png(alpha: Image.Image) -> bytes:
    buf = io.BytesIO()
    (alpha if alpha.mode == "L" else alpha.convert("L")).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def png_dimensions(head: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's first 24 bytes (signature + IHDR), without Pillow."""
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _max_pixels() -> int | None:
    return Image.MAX_IMAGE_PIXELS or None  # read each time: a deployment or a test may change it


def _check_pixels(width: int, height: int, what: str) -> None:
    limit = _max_pixels()
    if limit and width * height > limit:
        raise InputError(f"{what} is too large ({width}x{height} pixels; the limit is {limit:,})")


def _member_limit(declared: int) -> int:
    # A PNG is never much larger than its raw pixels (4 bytes each here, plus chunk overhead).
    limit = _max_pixels()
    return declared if limit is None else min(declared, limit * 5 + 1024 * 1024)


def _check_png(fh: BinaryIO, what: str) -> Image.Image:
    """Open a PNG lazily and check its header, pixel count and colour mode (no decode)."""
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; _check_pixels refuses instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(fh, formats=["PNG"])
        except Image.DecompressionBombError:
            raise InputError(f"{what} is too large (decompression bomb protection)") from None
        except Exception:
            raise InputError(f"{what} is not a valid PNG image") from None
    _check_pixels(im.width, im.height, what)
    if im.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        raise InputError(f"{what} has an unexpected colour mode {im.mode}")
    return im


def extract_png(members: Members, name: str, dest: Path, what: str) -> None:
    """Copy one step image to ``dest`` (which must not exist), checking it before and after."""
    declared = members.size(name) or 0
    limit = _member_limit(declared)
    if declared > limit:
        raise InputError(f"{what} is too large ({declared:,} bytes)")
    try:
        with members.open(name) as src, open(dest, "xb") as dst:
            head = src.read(24)
            dims = png_dimensions(head)
            if dims is None:
                raise InputError(f"{what} is not a valid PNG image")
            _check_pixels(dims[0], dims[1], what)  # before writing anything
            # Refuse to write more than the pixels can justify (8-bit RGBA, generous overhead),
            # whatever size the archive declares.
            cap = min(limit, int(dims[0] * dims[1] * 4 * 1.1) + dims[1] + 1024 * 1024)
            dst.write(head)
            streams.copy_stream(src, dst, max(0, cap - len(head)))
    except TooBig:
        raise InputError(f"{what} is larger than the session file says") from None
    with open(dest, "rb") as fh:
        im = _check_png(fh, what)
        try:
            im.verify()  # chunk CRCs and structure, without inflating the pixels
        except Exception:
            raise InputError(f"{what} is damaged") from None


def decode_png(data: bytes, what: str, mode: str, max_pixels: int | None = None) -> Image.Image:
    """A PNG received whole (an upload), checked before it is inflated: its pixel count against
    ``max_pixels`` (default: Pillow's limit), then decoded, so truncation is reported here."""
    im = _check_png(io.BytesIO(data), what)
    if max_pixels and im.width * im.height > max_pixels:
        raise InputError(f"{what} is too large ({im.width}x{im.height} pixels; the limit is {max_pixels:,})")
    try:
        im.load()
    except Exception:
        raise InputError(f"{what} is damaged or incomplete") from None
    return im if im.mode == mode else im.convert(mode)


def read_alpha(members: Members) -> Image.Image:
    """The source's transparency, decoded into memory (it is small: one byte per pixel)."""
    what = "the source's transparency"
    try:
        data = read_member(members, ALPHA_NAME, _member_limit(members.size(ALPHA_NAME) or 0))
    except TooBig:
        raise InputError(f"{what} is too large") from None
    im = _check_png(io.BytesIO(data), what)
    try:
        im.load()
    except Exception:
        raise InputError(f"{what} is damaged") from None
    return im.copy() if im.mode == "L" else im.convert("L")
