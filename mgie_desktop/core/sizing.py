"""Sizes: the working size that keeps a photo's aspect ratio inside a pixel budget, and crop boxes
fitted to a ratio. Plain arithmetic (the canvas uses it at start-up, before Pillow loads)."""

from __future__ import annotations

import math

from mgie_desktop.core.errors import InputError

# A photo more than this many times as long as it is wide is refused where it enters: each
# model stretches the short side to its own size (CLIP's 224 px, the edit's working size), so the
# long side, and the memory, would grow without bound (a 1x20000 strip asked for ~7 GB).
MAX_ASPECT_RATIO = 16


def check_aspect(width: int, height: int, what: str = "the photo") -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{what} has no pixels ({width}x{height})")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise InputError(
            f"{what} is {width}x{height} pixels, more than {MAX_ASPECT_RATIO} times as long as it "
            "is wide: crop it to a less extreme shape first"
        )


def working_size(width: int, height: int, pixel_budget: int) -> tuple[int, int]:
    """The size diffusion runs at: same aspect ratio, area close to (never over) the budget,
    both sides multiples of 8 and at least 8.

    Photos are scaled down or up to the budget: Stable Diffusion degrades badly far below
    its training size, and the result is resized back to the photo's own size anyway.
    """
    check_aspect(width, height)
    scale = math.sqrt(pixel_budget / (width * height))
    w = max(8, int(width * scale) // 8 * 8)
    h = max(8, int(height * scale) // 8 * 8)
    # A side raised to the minimum of 8 takes its area from the other side, so the budget holds.
    if w * h > pixel_budget:
        if w == 8:
            h = max(8, pixel_budget // 8 // 8 * 8)
        else:
            w = max(8, pixel_budget // h // 8 * 8)
    return w, h


# FLUX.2 [klein] (engine/klein.py) was trained at 1024 x 1024 where Stable Diffusion 1.5 was at
# 512 x 512: it edits at four times the pixel budget (a megapixel by default), at most a megapixel
# (its pipeline shrinks the photo it reads to that), both sides multiples of 16 (its VAE's 8
# times its transformer's 2x2 patches).
KLEIN_BUDGET_SCALE = 4
KLEIN_MAX_PIXELS = 1024 * 1024
KLEIN_MULTIPLE = 16


def klein_working_size(width: int, height: int, pixel_budget: int) -> tuple[int, int]:
    """The size FLUX.2 [klein] edits a ``width`` x ``height`` photo at, for MGIE's ``pixel_budget``."""
    w, h = working_size(width, height, min(KLEIN_MAX_PIXELS, pixel_budget * KLEIN_BUDGET_SCALE))
    step = KLEIN_MULTIPLE
    return max(step, w // step * step), max(step, h // step * step)


def fit_ratio(
    box: tuple[float, float, float, float], ratio: float | None, bounds: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` (left, top, right, bottom) made whole pixels inside ``bounds`` (width, height) and,
    with a ``ratio``, shrunk around its centre to that width/height ratio. At least 1×1."""
    width, height = bounds
    left, top = max(0.0, min(box[0], box[2])), max(0.0, min(box[1], box[3]))
    right, bottom = min(float(width), max(box[0], box[2])), min(float(height), max(box[1], box[3]))
    if ratio:
        w, h = right - left, bottom - top
        if w / max(h, 1e-9) > ratio:
            w = h * ratio
        else:
            h = w / ratio
        cx, cy = (left + right) / 2, (top + bottom) / 2
        left, right, top, bottom = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    left, top = int(round(left)), int(round(top))
    right, bottom = max(left + 1, int(round(right))), max(top + 1, int(round(bottom)))
    return left, top, min(right, width), min(bottom, height)
