"""Working-size planning: keep the photo's aspect ratio inside a pixel budget."""

from __future__ import annotations

import math


def working_size(width: int, height: int, pixel_budget: int) -> tuple[int, int]:
    """The size diffusion runs at: same aspect ratio, area close to (never over) the budget,
    both sides multiples of 8 and at least 8.

    Photos are scaled down or up to the budget: Stable Diffusion degrades badly far below
    its training size, and the result is resized back to the photo's own size anyway.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    scale = math.sqrt(pixel_budget / (width * height))
    w = max(8, int(width * scale) // 8 * 8)
    h = max(8, int(height * scale) // 8 * 8)
    return w, h
