"""Did an edit change the photo? MGIE and InstructPix2Pix sometimes ignore an instruction and hand
the photo back (a known failure of both); the window then says so and offers what usually helps.

Measured on copies at most ``SIDE`` pixels on their long side, where the edit was allowed (inside
its mask): the 99th percentile of the per-pixel change. A real edit, even a small object on a
large photo, moves more than 1 % of the pixels by more than a few levels; a result that is its
source again (after the VAE's round trip, or carried back by the detail finish) does not.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 256
NOTHING_LEVELS = 8  # of 255: below this for 99 % of the allowed pixels, the edit did nothing visible
ALLOWED = 128  # a mask's grey level from which a pixel counts as inside it


def change_levels(source: Image.Image, result: Image.Image, mask: Image.Image | None = None) -> float:
    """The 99th percentile of the largest channel change per pixel, in levels of 255, over the
    pixels the edit was allowed to change (all of them without a mask)."""
    size = _small(source.size)
    before = np.asarray(source.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.int16)
    after = np.asarray(result.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.int16)
    change = np.abs(after - before).max(axis=2)
    if mask is not None:
        allowed = np.asarray(mask.convert("L").resize(size, Image.Resampling.BILINEAR)) >= ALLOWED
        change = change[allowed]
    return float(np.percentile(change, 99)) if change.size else 0.0


def did_nothing(source: Image.Image, result: Image.Image, mask: Image.Image | None = None) -> bool:
    return change_levels(source, result, mask) < NOTHING_LEVELS


def _small(size: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, SIDE / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
