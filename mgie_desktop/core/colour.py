"""A photo's colour space. One whose RGB profile is not sRGB (Display P3, Adobe RGB, ProPhoto...)
is shown and edited in sRGB, the space the models were trained in and the canvas shows, and is
exported in its own again with its profile: LittleCMS does both (Pillow's ImageCms).

The photo's own pixels stay in its own space as its master (core/master.py); the edits made in
sRGB reach them as changes converted back, so what an edit left alone is exported exactly as it
came. Pure Pillow and numpy: no Qt, no torch."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

try:
    from PIL import ImageCms
except ImportError:  # a Pillow built without LittleCMS: photos are shown as their numbers say
    ImageCms = None  # type: ignore[assignment]

SAME = 2  # levels: a profile that maps every test colour this close to sRGB is sRGB for us
_lock = threading.Lock()  # one LittleCMS transform at a time per profile pair is enough here


@dataclass(frozen=True)
class ColourSpace:
    """An RGB profile other than sRGB, with its transforms to and from sRGB (8 bits a channel)."""

    icc: bytes
    name: str

    def to_srgb(self, image: Image.Image) -> Image.Image:
        return _apply(_transforms(self.icc)[0], image)

    def from_srgb(self, image: Image.Image) -> Image.Image:
        return _apply(_transforms(self.icc)[1], image)


@lru_cache(maxsize=8)
def colour_space(icc: bytes | None) -> ColourSpace | None:
    """The photo's space if its pixels need converting to be seen as sRGB: None for no profile,
    sRGB itself (or one that maps to it), a profile that is not RGB, or one LittleCMS refuses."""
    if ImageCms is None or not icc or len(icc) < 128 or icc[16:20] != b"RGB ":
        return None
    try:
        to_srgb, _ = _transforms(icc)
        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a damaged profile: shown as it is, as before
    probe = _probe()
    difference = np.abs(
        np.asarray(_apply(to_srgb, probe), dtype=np.int16) - np.asarray(probe, dtype=np.int16)
    )
    if int(difference.max()) <= SAME:
        return None
    return ColourSpace(icc, name or "an embedded profile")


@lru_cache(maxsize=1)
def _probe() -> Image.Image:
    """Colours across the cube: 9 levels a channel."""
    levels = np.linspace(0, 255, 9).round().astype(np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(9, 81, 3)
    return Image.fromarray(grid, "RGB")


@lru_cache(maxsize=8)
def _transforms(icc: bytes) -> tuple[Any, Any]:
    own = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    intent = ImageCms.Intent.RELATIVE_COLORIMETRIC  # matrix profiles have no perceptual tables
    return (
        ImageCms.buildTransform(own, srgb, "RGB", "RGB", renderingIntent=intent),
        ImageCms.buildTransform(srgb, own, "RGB", "RGB", renderingIntent=intent),
    )


def _apply(transform: Any, image: Image.Image) -> Image.Image:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    with _lock:
        converted = ImageCms.applyTransform(rgb, transform)
    assert converted is not None, "applyTransform returns the image unless told to work in place"
    converted.info = {}  # no profile travels with the pixels: the photo's metadata says which
    return converted
