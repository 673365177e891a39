"""Crop, rotate 90° and flip: history steps like any edit, applied losslessly at full resolution.

A step's ``params["geometry"]`` holds the operation as plain JSON (it travels in sessions, so it
is checked like any untrusted input): ``{"op": "rotate", "degrees": 90 | 180 | 270}`` (clockwise),
``{"op": "flip", "axis": "horizontal" | "vertical"}`` or ``{"op": "crop", "box": [left, top,
right, bottom]}`` in pixels of the step it applies to. Pure Pillow: no Qt, no torch.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from .errors import InputError

_ROTATIONS = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
_FLIPS = {"horizontal": Image.Transpose.FLIP_LEFT_RIGHT, "vertical": Image.Transpose.FLIP_TOP_BOTTOM}
# Crop ratios offered (width / height); None is free, "original" keeps the photo's.
RATIOS: dict[str, float | str | None] = {
    "Free": None,
    "Original": "original",
    "1:1": 1.0,
    "4:5": 4 / 5,
    "3:2": 3 / 2,
    "4:3": 4 / 3,
    "16:9": 16 / 9,
    "2:3": 2 / 3,
}

ROTATE_RIGHT = {"op": "rotate", "degrees": 90}
ROTATE_LEFT = {"op": "rotate", "degrees": 270}
FLIP_HORIZONTAL = {"op": "flip", "axis": "horizontal"}
FLIP_VERTICAL = {"op": "flip", "axis": "vertical"}


def crop(box: tuple[int, int, int, int]) -> dict[str, Any]:
    return {"op": "crop", "box": [int(v) for v in box]}


def is_operation(op: object) -> bool:
    """Whether ``op`` has the shape of one of the operations above (whether a crop's box fits its
    image is ``apply``'s to say: that needs the image)."""
    if not isinstance(op, dict):
        return False
    kind = op.get("op")
    if kind == "rotate":
        return _is_int(op.get("degrees")) and op["degrees"] in _ROTATIONS
    if kind == "flip":
        return isinstance(op.get("axis"), str) and op["axis"] in _FLIPS
    box = op.get("box")
    return kind == "crop" and isinstance(box, list) and len(box) == 4 and all(_is_int(v) for v in box)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def apply(image: Image.Image, op: dict[str, Any]) -> Image.Image:
    """``image`` with ``op`` applied; InputError for an operation that makes no sense for it."""
    kind = op.get("op") if isinstance(op, dict) else None
    if kind == "rotate" and _is_int(op.get("degrees")) and op["degrees"] in _ROTATIONS:
        return image.transpose(_ROTATIONS[op["degrees"]])
    if kind == "flip" and isinstance(op.get("axis"), str) and op["axis"] in _FLIPS:
        return image.transpose(_FLIPS[op["axis"]])
    if kind == "crop":
        box = op.get("box")
        if (
            isinstance(box, list)
            and len(box) == 4
            and all(_is_int(v) for v in box)
            and 0 <= box[0] < box[2] <= image.width
            and 0 <= box[1] < box[3] <= image.height
        ):
            return image.crop(tuple(box))
        raise InputError(f"the crop {box} does not fit the {image.width}×{image.height} image")
    raise InputError(f"unknown geometry operation {op!r}")


def apply_all(image: Image.Image, ops: list[dict[str, Any]]) -> Image.Image:
    for op in ops:
        image = apply(image, op)
    return image


def describe(op: dict[str, Any]) -> str:
    """The history's words for an operation."""
    if op["op"] == "rotate":
        return {90: "Rotate 90° clockwise", 180: "Rotate 180°", 270: "Rotate 90° counter-clockwise"}[
            op["degrees"]
        ]
    if op["op"] == "flip":
        return f"Flip {op['axis']}ly"
    left, top, right, bottom = op["box"]
    return f"Crop to {right - left}×{bottom - top}"
