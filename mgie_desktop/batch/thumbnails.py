"""Small upright sRGB copies of photos for the contact sheet, decoded at a fraction of their size
where the format allows (a JPEG's DCT scaling through ``Image.draft``), one photo at a time: a
sheet of hundreds of photos never holds more than one decoded photo. Pure Pillow.

The paths come from a results folder (results.jsonl's ``source``, the files in OUTPUT_DIR): outside
input. Only a regular file is opened (a FIFO would block a pool thread forever), and only in the
formats a photo is opened in (``core.imaging``'s allow-list: Pillow's EPS plugin runs Ghostscript)."""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageCms, ImageDraw, ImageFont, ImageOps

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import check_openable, os_reason
from mgie_desktop.core.imaging import _open_formats

_SRGB = ImageCms.createProfile("sRGB")


class ThumbnailError(Exception):
    """The photo cannot be shown: the reason in a few words (missing, damaged, too large)."""


def thumbnail(path: Path, box: tuple[int, int]) -> Image.Image:
    """The photo at ``path`` fitted into ``box`` (RGB, upright, colours in sRGB); ThumbnailError
    with a short reason when it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _open_regular(Path(path)) as fh, Image.open(fh, formats=_open_formats()) as im:
                # Twice the box: the scaled decode is rough, the resampling below smooths it.
                im.draft("RGB", (box[0] * 2, box[1] * 2))
                im.load()
                upright = ImageOps.exif_transpose(im)
                small = _rgb(upright, im.info.get("icc_profile"))
        small.thumbnail(box, Image.Resampling.LANCZOS)
        return small
    except ThumbnailError:
        raise
    except FileNotFoundError:
        raise ThumbnailError("missing") from None
    except Image.DecompressionBombError:
        raise ThumbnailError("too large to show") from None
    except OSError as exc:
        text = str(exc).lower()
        reason = "damaged" if "truncated" in text or "cannot identify" in text else os_reason(exc)
        raise ThumbnailError(reason) from None
    except Exception:  # noqa: BLE001 (a corrupt file can surface as almost any exception)
        raise ThumbnailError("damaged") from None


def _open_regular(path: Path) -> BinaryIO:
    """``path`` open for reading if it is a regular file (ThumbnailError if it is something else:
    a folder, a FIFO, a device); opened without blocking and checked again once open, so a file
    swapped for a FIFO in between cannot hang the thread either."""
    if not stat.S_ISREG(path.stat().st_mode):  # FileNotFoundError: "missing"
        raise ThumbnailError("unsupported")
    try:
        check_openable(path, InputError, "a photo")
    except InputError:
        raise ThumbnailError("damaged") from None  # what is left for it to say: an empty file
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ThumbnailError("unsupported")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """``im`` as RGB: through its ICC profile when it has one (an Adobe RGB or CMYK photo would
    otherwise look flat or wrong), plainly when there is none or the profile is broken."""
    if im.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        im = im.convert("RGBA" if "transparency" in im.info or im.mode.endswith("A") else "RGB")
    if im.mode in ("RGBA", "LA"):
        flat = Image.new("RGB", im.size, "white")  # transparency shown on the sheet's white
        flat.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return flat
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return im.convert("RGB")


def pair_image(before: Path | None, after: Path | None, after_problem: str, side: int) -> Image.Image:
    """A before/after pair side by side, each fitted into a ``side`` square on white; a grey box
    naming the problem where a photo cannot be shown (``after_problem``: why there is no after)."""
    gap = max(4, side // 24)
    pair = Image.new("RGB", (2 * side + gap, side), "white")
    draw = ImageDraw.Draw(pair)
    for column, (source, problem) in enumerate(((before, ""), (after, after_problem))):
        left = column * (side + gap)
        if not problem:
            try:
                if source is None:
                    raise ThumbnailError("unknown")
                small = thumbnail(source, (side, side))
            except ThumbnailError as exc:
                problem = str(exc)
            else:
                pair.paste(small, (left + (side - small.width) // 2, (side - small.height) // 2))
                continue
        draw.rectangle([left, 0, left + side - 1, side - 1], fill=(225, 225, 225), outline=(190, 190, 190))
        face = ImageFont.load_default(size=max(10, side // 10))
        text = f"[{problem}]"
        width = draw.textlength(text, font=face)
        draw.text((left + (side - width) / 2, side / 2 - side // 16), text, font=face, fill=(90, 90, 90))
    return pair
