"""core.change: telling an edit that did nothing from a real one, small ones included."""

import numpy as np
from PIL import Image, ImageDraw

from mgie_desktop.core.change import NOTHING_LEVELS, change_levels, did_nothing


def _photo(seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), "RGB")


def test_the_source_again_or_a_round_trip_s_noise_is_nothing():
    photo = _photo()
    assert change_levels(photo, photo) == 0 and did_nothing(photo, photo)
    noisy = np.asarray(photo, dtype=np.int16) + np.random.default_rng(2).integers(-3, 4, (300, 400, 3))
    assert did_nothing(photo, Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))


def test_a_small_object_on_a_large_photo_is_an_edit():
    photo = Image.new("RGB", (2000, 1500), (90, 140, 200))
    bird = photo.copy()
    ImageDraw.Draw(bird).ellipse((1000, 500, 1300, 700), fill=(30, 30, 30))  # ~2 % of the photo
    assert not did_nothing(photo, bird) and change_levels(photo, bird) > NOTHING_LEVELS


def test_only_the_masked_region_counts():
    photo = Image.new("RGB", (200, 100), (100, 100, 100))
    outside = photo.copy()
    ImageDraw.Draw(outside).rectangle((0, 0, 99, 99), fill=(250, 0, 0))  # changed on the left half
    mask = Image.new("L", (200, 100), 0)
    ImageDraw.Draw(mask).rectangle((100, 0, 199, 99), fill=255)  # the edit was allowed on the right
    assert did_nothing(photo, outside, mask) and not did_nothing(photo, outside)
