"""Crop, rotate and flip operations and an edit's strength, in the pure core (no Qt, no torch)."""

import numpy as np
import pytest
from PIL import Image

from mgie_desktop.core import geometry
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History, validate_manifest
from mgie_desktop.core.sizing import fit_ratio


def marked() -> Image.Image:
    image = Image.new("RGB", (6, 4), "black")
    image.putpixel((0, 0), (255, 0, 0))  # top left
    return image


@pytest.mark.parametrize(
    "op, size, red_at",
    [
        (geometry.ROTATE_RIGHT, (4, 6), (3, 0)),
        (geometry.ROTATE_LEFT, (4, 6), (0, 5)),
        ({"op": "rotate", "degrees": 180}, (6, 4), (5, 3)),
        (geometry.FLIP_HORIZONTAL, (6, 4), (5, 0)),
        (geometry.FLIP_VERTICAL, (6, 4), (0, 3)),
        (geometry.crop((0, 0, 2, 2)), (2, 2), (0, 0)),
    ],
)
def test_operations(op, size, red_at):
    out = geometry.apply(marked(), op)
    assert out.size == size and out.getpixel(red_at) == (255, 0, 0)
    assert geometry.describe(op)


@pytest.mark.parametrize(
    "op",
    [
        {"op": "rotate", "degrees": 45},
        {"op": "crop", "box": [0, 0, 7, 4]},
        {"op": "crop", "box": [3, 0, 3, 4]},
        {"op": "crop", "box": "0,0,1,1"},
        {"op": "shear"},
        "rotate",
    ],
)
def test_operations_from_a_hostile_session_are_refused(op):
    with pytest.raises(InputError):
        geometry.apply(marked(), op)


def test_fit_ratio_keeps_inside_and_centres():
    assert fit_ratio((10, 10, 50, 40), 1.0, (96, 64)) == (15, 10, 45, 40)
    assert fit_ratio((50, 40, 10, 10), None, (96, 64)) == (10, 10, 50, 40)  # dragged up and left
    assert fit_ratio((-20, -5, 200, 100), None, (96, 64)) == (0, 0, 96, 64)
    assert fit_ratio((5, 5, 5, 5), 16 / 9, (96, 64))[2:] >= (6, 6)  # never empty


def test_strength_blends_and_validates():
    history = History()
    root = history.start(Image.new("RGB", (4, 4), (0, 0, 0)))
    edit = history.push(Image.new("RGB", (4, 4), (200, 100, 50)), instruction="warmer")
    with pytest.raises(ValueError):
        history.set_strength(root.id, 0.5)
    with pytest.raises(ValueError):
        history.set_strength(edit.id, 1.5)
    history.set_strength(edit.id, 0.25)
    assert np.asarray(history.image()).tolist()[0][0] == [50, 25, 12]
    assert history.rendered().getpixel((0, 0)) == (200, 100, 50)
    history.push(Image.new("RGB", (4, 4)), instruction="later")
    assert not history.can_set_strength(edit.id)
    manifest = history.to_manifest()
    manifest["steps"][1]["params"]["strength"] = 2
    with pytest.raises(InputError, match="strength"):
        validate_manifest(manifest)
