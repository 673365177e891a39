"""A guidance sweep: one edit rendered on a grid of text guidance (rows) by image guidance
(columns) from a single LLM pass, so the strength of an edit is picked by eye, not by trial.
Shared by the CLI (``edit --sweep``), the window, the wire and the engine. Pure Python."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.params import (
    IMAGE_GUIDANCE,
    SWEEP_CELLS,
    SWEEP_VALUES,
    TEXT_GUIDANCE,
    EditParams,
)

SPEC_HELP = "text, image, both, or values such as text=5,7.5,10:image=1.2,1.5"
IMAGE_STEP = 0.3  # image guidance acts within a few tenths (1.0 loosest, the reference's 1.5)
DECIMALS = 2  # a sweep's values, as the window's spin boxes hold them (and its cells are named)


class Varies(Enum):
    """What a set of renders of one edit changes: the seed, or the guidance on a grid."""

    SEEDS = "seeds"
    TEXT = "text"
    IMAGE = "image"
    BOTH = "both"


@dataclass(frozen=True)
class Sweep:
    """The guidance values to render; an empty axis keeps the job's own value."""

    text: tuple[float, ...] = ()  # one row per value
    image: tuple[float, ...] = ()  # one column per value

    @property
    def rows(self) -> int:
        return max(1, len(self.text))

    @property
    def columns(self) -> int:
        return max(1, len(self.image))

    def validated(self) -> Sweep:
        """The sweep checked, its values rounded to 2 decimals as the window's boxes hold them
        (from a spec, the wire or the default grid alike): each cell's label and file name
        (``cell_label``, ``cell_suffix``) then differ from every other's, and two values that
        round alike are refused as the same value twice, never a cell overwriting another."""
        if not self.text and not self.image:
            raise InputError("a sweep varies text guidance, image guidance or both")
        axes = []
        for name, values, bounds in (
            ("text guidance", self.text, TEXT_GUIDANCE),
            ("image guidance", self.image, IMAGE_GUIDANCE),
        ):
            _check_count(name, len(values))
            rounded = tuple(round(float(value), DECIMALS) for value in values)
            for value in rounded:
                bounds.check(name, value)
            repeated = next((i for i, v in enumerate(rounded) if v in rounded[:i]), None)
            if repeated is not None:
                first = rounded.index(rounded[repeated])
                alike = "" if values[first] == values[repeated] else f" (to {DECIMALS} decimals)"
                raise InputError(f"{name} {rounded[repeated]:g} is in the sweep twice{alike}")
            axes.append(rounded)
        sweep = Sweep(*axes)
        cells = sweep.rows * sweep.columns
        if cells > SWEEP_CELLS.high:
            raise InputError(
                f"a sweep renders at most {SWEEP_CELLS.high:g} cells, not "
                f"{sweep.rows}x{sweep.columns} = {cells}"
            )
        return sweep

    def cells(self, params: EditParams) -> list[EditParams]:
        """Each cell's settings in reading order: row by row (text guidance), then across
        (image guidance); everything else is ``params``'."""
        return [
            replace(params, text_guidance=text, image_guidance=image)
            for text in self.text or (params.text_guidance,)
            for image in self.image or (params.image_guidance,)
        ]


def cell_label(params: EditParams) -> str:
    """What a cell is called under its picture: ``text 7.5 · image 1.5``."""
    return f"text {params.text_guidance:g} · image {params.image_guidance:g}"


def cell_suffix(params: EditParams) -> str:
    """What a cell adds to a file name: ``-t7.5-i1.5``."""
    return f"-t{params.text_guidance:g}-i{params.image_guidance:g}"


def around(params: EditParams, varies: Varies) -> Sweep:
    """The default grid about ``params``' guidance: three text values (x2/3, x1, x4/3), three image
    values (-0.3, +0, +0.3), or both; kept within range by moving away from the end it meets."""
    if varies is Varies.SEEDS:
        raise ValueError("seeds are variations, not a sweep")
    text = _text_values(params.text_guidance) if varies in (Varies.TEXT, Varies.BOTH) else ()
    image = _image_values(params.image_guidance) if varies in (Varies.IMAGE, Varies.BOTH) else ()
    return Sweep(text, image).validated()


def parse_sweep(spec: str, params: EditParams) -> Sweep:
    """``edit --sweep``: ``text``, ``image`` or ``both`` (the default grid about ``params``), or
    values per axis, ``text=5,7.5,10``, ``image=1.2,1.5``, joined by ``:``; an axis named without
    values gets its default. InputError in one line for anything else."""
    spec = spec.strip()
    if spec in (Varies.TEXT.value, Varies.IMAGE.value, Varies.BOTH.value):
        return around(params, Varies(spec))
    axes: dict[str, tuple[float, ...]] = {}
    for part in spec.split(":"):
        name, has_values, values = (piece.strip() for piece in part.partition("="))
        if name not in (Varies.TEXT.value, Varies.IMAGE.value):
            raise InputError(f"cannot read the sweep {spec[:40]!r}: write {SPEC_HELP}")
        if name in axes:
            raise InputError(f"the sweep names {name} guidance twice")
        if has_values:
            axes[name] = _numbers(values, f"{name} guidance")
        else:
            default = around(params, Varies(name))
            axes[name] = default.text if name == Varies.TEXT.value else default.image
    return Sweep(axes.get("text", ()), axes.get("image", ())).validated()


def _numbers(text: str, name: str) -> tuple[float, ...]:
    pieces = [piece.strip() for piece in text.split(",")]
    _check_count(name, len(pieces))  # before reading them: a spec of a million values is refused at once
    numbers = []
    for piece in pieces:
        try:
            numbers.append(float(piece))
        except ValueError:
            raise InputError(f"{name} {piece[:20]!r} in the sweep is not a number") from None
    return tuple(numbers)


def _check_count(name: str, count: int) -> None:
    if count > SWEEP_VALUES.high:
        raise InputError(f"a sweep takes at most {SWEEP_VALUES.high:g} {name} values, not {count}")


def _text_values(chosen: float) -> tuple[float, ...]:
    factors = (2 / 3, 1.0, 4 / 3) if chosen * 4 / 3 <= TEXT_GUIDANCE.high else (4 / 9, 2 / 3, 1.0)
    return _distinct(chosen if f == 1.0 else round(chosen * f, 1) for f in factors)


def _image_values(chosen: float) -> tuple[float, ...]:
    if chosen - IMAGE_STEP < IMAGE_GUIDANCE.low:
        offsets: tuple[float, ...] = (0.0, IMAGE_STEP, 2 * IMAGE_STEP)
    elif chosen + IMAGE_STEP > IMAGE_GUIDANCE.high:
        offsets = (-2 * IMAGE_STEP, -IMAGE_STEP, 0.0)
    else:
        offsets = (-IMAGE_STEP, 0.0, IMAGE_STEP)
    return _distinct(chosen if o == 0.0 else round(chosen + o, 2) for o in offsets)


def _distinct(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(dict.fromkeys(float(v) for v in values))
