"""Masks that limit an edit to part of a photo: white edits, black keeps, grey blends.

Pure Pillow (no Qt, no torch): reading a mask file, fitting it to a photo with a soft edge,
compositing the edited photo over the original through it, and keeping it small in a history
step. Pixels where the fitted mask is 0 are the original's, bit for bit.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageFilter

from mgie_desktop.core.errors import InputError

FEATHER_FRACTION = 0.004  # the soft edge added to a fitted mask: 0.4 % of the photo's long side
STORED_SIDE = 1024  # a mask kept with a history step is at most this long (it is soft anyway)


def read_mask(path: Path) -> Image.Image:
    """A mask file of any size and mode as 8-bit grey; InputError when it cannot be used."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            mask = _grey(opened)
    except Exception as exc:  # Pillow raises many kinds for a damaged or hostile file (SyntaxError too)
        raise InputError(f"cannot read the mask {path}: {exc}") from exc
    check_mask(mask)
    return mask


def _grey(image: Image.Image) -> Image.Image:
    """Grey levels; transparent parts of an RGBA mask keep (are black)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("L")
    return image.convert("L")


def check_mask(mask: Image.Image) -> None:
    if mask.getextrema()[1] == 0:
        raise InputError("the mask is empty: paint where the edit should apply (white edits, black keeps)")


def is_full(mask: Image.Image) -> bool:
    """All white: the edit applies everywhere, as without a mask."""
    return mask.getextrema()[0] == 255


def fit_mask(mask: Image.Image, size: tuple[int, int], feather: float = FEATHER_FRACTION) -> Image.Image:
    """``mask`` stretched to ``size`` with a soft edge of ``feather`` x the long side."""
    fitted = _grey(mask)
    if fitted.size != size:
        fitted = fitted.resize(size, Image.Resampling.BILINEAR)
    radius = feather * max(size)
    if radius >= 0.5 and not is_full(fitted):
        fitted = fitted.filter(ImageFilter.GaussianBlur(radius))
    return fitted


def composite(edited: Image.Image, original: Image.Image, fitted: Image.Image) -> Image.Image:
    """The edited photo inside the mask, the original outside, blended along its soft edge."""
    if edited.size != original.size or fitted.size != original.size:
        raise ValueError(f"sizes differ: edited {edited.size}, original {original.size}, mask {fitted.size}")
    return Image.composite(edited.convert(original.mode), original, fitted)


def mask_to_text(mask: Image.Image) -> str:
    """A mask for a history step (JSON): a PNG, at most STORED_SIDE long, in base64."""
    small = _grey(mask)
    if max(small.size) > STORED_SIDE:
        scale = STORED_SIDE / max(small.size)
        small = small.resize(
            (max(1, round(small.width * scale)), max(1, round(small.height * scale))), Image.Resampling.BOX
        )
    buffer = io.BytesIO()
    small.save(buffer, "PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def mask_from_text(text: str) -> Image.Image:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format != "PNG" or max(opened.size) > STORED_SIDE:
                raise ValueError("not a stored mask")
            opened.load()
            mask: Image.Image = opened.convert("L")
            return mask
    except Exception as exc:  # a session is hostile input: bombs, broken chunks, anything
        raise InputError(f"a step's mask is damaged ({exc})") from exc
