"""What a history step was made with: its kind and its settings, typed once where they enter.

A session stores a step's settings as a flat JSON object (``StepParams.to_json``), the same keys
the app has always written: the render settings of ``EditParams`` plus ``model`` and ``strength``
for an edit, ``{"geometry": op}`` for a crop, rotation or flip, ``{}`` for the opened photo.
``StepParams.from_json`` reads that back, checking each value's type; ranges are checked where
a render starts (``EditParams.validated``), so a session from an older version whose numbers
the window no longer offers still opens, with every step. Pure Python: no Qt, no torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

from .errors import InputError
from .geometry import is_operation
from .params import EditParams


class StepKind(Enum):
    """How a step's image came to be. An edit's value is its ``model`` in files and recipes."""

    ORIGINAL = "original"  # the photo as opened
    MGIE = "mgie"  # MGIE: its LLM wrote the expressive instruction the render followed
    IP2P = "ip2p"  # plain InstructPix2Pix read the person's words itself
    KLEIN = "klein"  # FLUX.2 [klein] read the person's words itself (engine/klein.py)
    GEOMETRY = "geometry"  # a crop, rotation or flip (core/geometry.py)


RENDERS = (StepKind.MGIE, StepKind.IP2P, StepKind.KLEIN)  # the kinds that can be rendered again
MODEL_NAMES = tuple(kind.value for kind in RENDERS)
# What a person reads for each engine (the window, the command line's messages).
ENGINE_NAMES = {"mgie": "MGIE", "ip2p": "InstructPix2Pix", "klein": "FLUX.2 [klein]"}
# FLUX.2 [klein] 4B is distilled: it takes these few steps and no guidance whatever it is asked
# (engine/klein.py), so its steps record them.
KLEIN_STEPS = 4

# Each render setting's JSON type: bool is no number here, though Python says it is an int.
_INTEGER, _NUMBER, _TEXT = "an integer", "a number", "text"
_SETTINGS = {
    "seed": _INTEGER,
    "steps": _INTEGER,
    "text_guidance": _NUMBER,
    "image_guidance": _NUMBER,
    "scheduler": _TEXT,
    "pixel_budget": _INTEGER,
}
assert set(_SETTINGS) == {f.name for f in fields(EditParams)}, "every render setting is read back"


@dataclass(frozen=True)
class StepParams:
    kind: StepKind = StepKind.ORIGINAL
    render: EditParams | None = None  # an edit's settings (MGIE, IP2P)
    strength: float = 1.0  # 0..1: how much of an edit's render shows over its source
    geometry: dict[str, Any] | None = None  # GEOMETRY: the operation as core.geometry writes it

    @classmethod
    def edit(cls, render: EditParams, kind: StepKind = StepKind.MGIE, strength: float = 1.0) -> StepParams:
        if kind not in RENDERS:
            raise ValueError(f"{kind} is not a render")
        return cls(kind, render, strength)

    @classmethod
    def of_geometry(cls, op: dict[str, Any]) -> StepParams:
        return cls(StepKind.GEOMETRY, geometry=op)

    @property
    def is_render(self) -> bool:
        return self.kind in RENDERS

    def with_strength(self, strength: float) -> StepParams:
        if not self.is_render:
            raise ValueError(f"a {self.kind.value} step has no strength")
        return replace(self, strength=round(float(strength), 4))

    def to_json(self) -> dict[str, Any]:
        """The flat object a session (and an edit record) stores."""
        if self.kind is StepKind.GEOMETRY:
            return {"geometry": self.geometry}
        if self.render is None:
            return {}
        return {**asdict(self.render), "model": self.kind.value, "strength": self.strength}

    @classmethod
    def from_json(cls, raw: dict[str, Any], *, root: bool) -> StepParams:
        """A step's settings as ``to_json`` (or any earlier version of the app) wrote them. An edit
        lacking a setting gets ``EditParams``' default; a value of the wrong type raises InputError
        naming it (``'params.steps' is not an integer``). Keys the app never wrote are ignored."""
        if root:
            return cls()  # the opened photo: nothing under it, nothing to render again
        op = raw.get("geometry")
        if op is not None:
            if not is_operation(op):
                raise InputError("'params.geometry' is not a crop, rotation or flip")
            return cls.of_geometry(op)
        model = raw.get("model", StepKind.MGIE.value)
        if model not in MODEL_NAMES:
            shown = str(model)[:30] if isinstance(model, str) else type(model).__name__
            raise InputError(f"'params.model' is {shown!r}, not one of {', '.join(MODEL_NAMES)}")
        settings = {key: _typed(raw, key, kind) for key, kind in _SETTINGS.items() if key in raw}
        strength = _typed(raw, "strength", _NUMBER) if "strength" in raw else 1.0
        if not 0.0 <= strength <= 1.0:
            raise InputError(f"'params.strength' must be from 0 to 1, not {strength:g}")
        return cls(StepKind(model), replace(EditParams(), **settings), float(strength))


def _typed(raw: dict[str, Any], key: str, kind: str) -> Any:
    value = raw[key]
    if kind == _TEXT:
        ok = isinstance(value, str)
    elif isinstance(value, bool):
        ok = False
    elif kind == _INTEGER:
        ok = isinstance(value, int)
    else:
        ok = isinstance(value, (int, float)) and math.isfinite(value)
    if not ok:
        raise InputError(f"'params.{key}' is not {kind}")
    return float(value) if kind == _NUMBER else value


DEFAULT_EDIT = StepParams(StepKind.MGIE, EditParams())  # an MGIE edit at the default settings
