"""Where an edit changed pixels: an amplified per-pixel difference for the difference view."""

from __future__ import annotations

import numpy as np
from PIL import Image


def difference_image(before: Image.Image, after: Image.Image, gain: float = 4.0) -> Image.Image:
    """Grey map of the largest channel change per pixel, amplified so faint edits show;
    black means untouched."""
    a = np.asarray(before.convert("RGB"), dtype=np.int16)
    b = np.asarray(
        after.convert("RGB").resize(before.size) if after.size != before.size else after.convert("RGB"),
        dtype=np.int16,
    )
    change = np.abs(b - a).max(axis=2).astype(np.float32) * gain
    return Image.fromarray(np.clip(change, 0, 255).astype(np.uint8), "L").convert("RGB")
