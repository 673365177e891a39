"""Small upright sRGB copies of photos for the contact sheet, decoded at a fraction of their size
where the format allows (a JPEG's DCT scaling through ``Image.draft``), one photo at a time: a
sheet of hundreds of photos never holds more than one decoded photo. Pure Pillow."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageCms, ImageDraw, ImageFont, ImageOps

from mgie_desktop.core.files import os_reason

_SRGB = ImageCms.createProfile("sRGB")


class ThumbnailError(Exception):
    """The photo cannot be shown: the reason in a few words (missing, damaged, too large)."""


def thumbnail(path: Path, box: tuple[int, int]) -> Image.Image:
    """The photo at ``path`` fitted into ``box`` (RGB, upright, colours in sRGB); ThumbnailError
    with a short reason when it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                # Twice the box: the scaled decode is rough, the resampling below smooths it.
                im.draft("RGB", (box[0] * 2, box[1] * 2))
                im.load()
                upright = ImageOps.exif_transpose(im)
                small = _rgb(upright, im.info.get("icc_profile"))
        small.thumbnail(box, Image.Resampling.LANCZOS)
        return small
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
