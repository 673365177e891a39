"""Recipes: the chain of edits that made one photo's current step, kept as versioned JSON so the
same edits can run over other photos (``mgie-desktop batch``).

A recipe file::

    {"format": "mgie-recipe", "version": 1, "app": "mgie-desktop 0.1.0",
     "source": {"photo": "beach.jpg"}, "finish": "detail",
     "steps": [
       {"kind": "edit", "instruction": "make it winter",
        "steered_instruction": "Snow covers the ground.",     (optional: steers MGIE on every photo)
        "mask": "<base64 PNG>",                               (optional: core.masks.mask_to_text)
        "model": "mgie" | "ip2p" | "klein", "preset": "balanced" | "reference" | "draft" | "custom",
        "steps": 25, "text_guidance": 7.5, "image_guidance": 1.5, "scheduler": "dpmpp_2m",
        "pixel_budget": 262144, "strength": 1.0,
        "seed": {"policy": "fixed", "value": 13331} | {"policy": "file_name"}},
       {"kind": "geometry", "op": {"op": "rotate", "degrees": 90}},
       {"kind": "geometry", "op": {"op": "crop", "fraction": [0.1, 0.0, 0.9, 1.0]}}]}

Render settings missing from an edit step are the preset's. A step whose "model" is "klein"
(FLUX.2 [klein], the optional second engine) keeps them too; the distilled model renders its own
few steps without guidance, and its outputs' edit records say so. A crop is kept as fractions of the
image it applied to, so it means the same part of photos of other sizes. The ``file_name`` seed
policy derives each photo's seed from its file name (``derived_seed``): stable on every machine,
different from photo to photo. A recipe is outside input: reading it is bounded (a regular file
of at most MAX_BYTES, nested at most MAX_DEPTH deep, integers of at most MAX_INT_BITS, finite
numbers, valid Unicode) and its schema is checked whole; every problem is one InputError naming
the file, the step and the field. Pure Python + Pillow: no Qt, no torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import unicodedata
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from mgie_desktop import __version__
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import atomic_write
from mgie_desktop.core.history import History, Step
from mgie_desktop.core.instruction import is_text
from mgie_desktop.core.json_text import nesting_depth
from mgie_desktop.core.masks import check_mask, mask_from_text
from mgie_desktop.core.params import DEFAULT_PRESET, PRESETS, SCHEDULERS, EditParams, params_for
from mgie_desktop.core.session import open_session
from mgie_desktop.core.step_params import ENGINE_NAMES, MODEL_NAMES, StepKind

FORMAT, VERSION = "mgie-recipe", 1
SEED_FIXED, SEED_FILE_NAME = "fixed", "file_name"
SEED_POLICIES = (SEED_FIXED, SEED_FILE_NAME)
CUSTOM = "custom"  # the preset name of settings that match no preset
MODELS = MODEL_NAMES  # a recipe step's "model": the kinds of step that render
FINISHES = ("detail", "upscale")
# A recipe is read whole into memory, so its size is bounded: a few KB of settings plus masks,
# each a PNG of at most 1024 px (typically tens of KB; about 1.4 MB if it were pure noise).
MAX_BYTES = 4 * 2**20
MAX_DEPTH = 10  # the format nests 5 deep (recipe > steps > step > op > fraction); room to grow
MAX_INT_BITS = 64  # no number in a recipe needs more; bigger ones are refused before any arithmetic
_MAX_INT_DIGITS = len(str(2**MAX_INT_BITS))
GEOMETRY_OPS = ("rotate", "flip", "crop")
ROTATIONS = (90, 180, 270)
FLIP_AXES = ("horizontal", "vertical")
_SEED_KEYS = {"policy", "value"}
_GEOMETRY_STEP_KEYS = {"kind", "op"}


@dataclass(frozen=True)
class RecipeStep:
    """One step: an edit by MGIE, plain InstructPix2Pix or FLUX.2 [klein] (``model``, one of
    MODELS), or a geometry operation (``geometry``)."""

    instruction: str = ""
    steered_instruction: str = ""  # a person's expressive instruction that steers every photo's edit
    mask: str = ""  # core.masks.mask_to_text; "" edits everywhere
    model: str = "mgie"
    preset: str = DEFAULT_PRESET
    params: EditParams = field(default_factory=EditParams)  # params.seed: the fixed seed
    seed_policy: str = SEED_FIXED
    strength: float = 1.0
    geometry: dict[str, Any] | None = None

    def params_for(self, photo_name: str) -> EditParams:
        """The render settings for the photo called ``photo_name`` (its seed per the policy)."""
        if self.seed_policy == SEED_FILE_NAME:
            return replace(self.params, seed=derived_seed(photo_name))
        return self.params


@dataclass(frozen=True)
class Recipe:
    steps: tuple[RecipeStep, ...]
    finish: str = "detail"
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def edits(self) -> int:
        return sum(1 for s in self.steps if s.geometry is None)


def derived_seed(photo_name: str) -> int:
    """A photo's seed under the ``file_name`` policy: the first 8 bytes of SHA-256 of its file
    name (the name only, no folder; Unicode NFC, UTF-8), as a 63-bit integer. Not Python's
    ``hash()``, which changes from run to run; NFC so a name typed on macOS (NFD) gives the same."""
    name = unicodedata.normalize("NFC", Path(photo_name).name)
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def preset_name(params: EditParams) -> str:
    """The preset these render settings are (seed and pixel budget aside), or ``custom``."""
    for name, preset in PRESETS.items():
        if (preset.steps, preset.scheduler, preset.text_guidance, preset.image_guidance) == (
            params.steps,
            params.scheduler,
            params.text_guidance,
            params.image_guidance,
        ):
            return name
    return CUSTOM


# ---- the schema --------------------------------------------------------------------------------
class Kind(Enum):
    """The JSON type a field must have (the value: how a message names it)."""

    TEXT = "text"
    INTEGER = "an integer"
    NUMBER = "a number"
    OBJECT = "a JSON object"
    LIST = "a list"


_REQUIRED = object()  # a field's default when it must be there
_TOO_LONG = object()  # what a JSON integer of more digits than any recipe needs parses to
_RENDER_FIELDS = {
    "steps": Kind.INTEGER,
    "text_guidance": Kind.NUMBER,
    "image_guidance": Kind.NUMBER,
    "scheduler": Kind.TEXT,
    "pixel_budget": Kind.INTEGER,
}
_EDIT_KEYS = {
    "kind",
    "instruction",
    "steered_instruction",
    "mask",
    "model",
    "preset",
    "seed",
    "strength",
    *_RENDER_FIELDS,
}


def _has_kind(value: object, kind: Kind) -> bool:
    if kind is Kind.TEXT:
        return isinstance(value, str)
    if kind is Kind.INTEGER:
        return _is_int(value)
    if kind is Kind.NUMBER:
        return _is_int(value) or isinstance(value, float)
    return isinstance(value, dict if kind is Kind.OBJECT else list)


def _field(raw: dict[str, Any], key: str, kind: Kind, default: object = _REQUIRED) -> Any:
    """``raw[key]`` if it has ``kind``, ``default`` if it is absent; InputError naming the field.
    Sizes and finiteness are the document check's (``_check_values``); ranges are core.params'."""
    if key not in raw:
        if default is _REQUIRED:
            raise InputError(f'"{key}" is missing')
        return default
    value = raw[key]
    if not _has_kind(value, kind):
        raise InputError(f'"{key}" has the wrong type ({_json_type(value)}; it must be {kind.value})')
    return value


def _choice(raw: dict[str, Any], key: str, choices: tuple[Any, ...], default: object = _REQUIRED) -> Any:
    """``raw[key]`` if it is one of ``choices`` (compared by equality: any JSON value is safe here)."""
    if key not in raw:
        if default is _REQUIRED:
            raise InputError(f'"{key}" is missing')
        return default
    value = raw[key]
    if isinstance(value, bool) or not any(type(value) is type(c) and value == c for c in choices):
        raise InputError(f'"{key}" must be {_one_of(choices)}, not {_shown(value)}')
    return value


def _no_unknown_keys(raw: dict[str, Any], known: set[Any]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"unknown field(s) {_shown(', '.join(unknown), 80, quoted=False)}")


def _check_values(data: object, where: tuple[Any, ...] = ()) -> None:
    """Every value in ``data`` is plain JSON of bounded size: nested at most MAX_DEPTH deep,
    integers of at most MAX_INT_BITS, finite floats, text that is valid Unicode (no lone
    surrogates, which cannot be written back as UTF-8). Iterative: no nesting can exhaust the
    stack. InputError names the first bad field."""
    if not isinstance(data, (dict, list, tuple)):
        if problem := _value_problem(data):
            raise InputError(f"{_located(where)}{problem}")
        return
    pending: list[tuple[Any, tuple[Any, ...], int]] = [(data, where, 1)]
    while pending:
        container, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InputError(f"{_located(path)}is nested more than {MAX_DEPTH} levels deep")
        is_object = isinstance(container, dict)
        for key, item in container.items() if is_object else enumerate(container):
            if is_object and not (isinstance(key, str) and is_text(key)):
                raise InputError(f"{_located(path)}has a field name that is not valid text: {_shown(key)}")
            if isinstance(item, (dict, list, tuple)):
                pending.append((item, (*path, key), depth + 1))
            elif problem := _value_problem(item):  # the path is built only for a problem
                raise InputError(f"{_located((*path, key))}{problem}")


def _value_problem(value: object) -> str:
    """What is wrong with one JSON scalar, or ""."""
    if value is None or isinstance(value, bool):
        return ""
    if value is _TOO_LONG or (isinstance(value, int) and value.bit_length() > MAX_INT_BITS):
        return f"is too large a number (more than {MAX_INT_BITS} bits)"
    if isinstance(value, int):
        return ""
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"must be a finite number, not {value}"
    if isinstance(value, str):
        return "" if is_text(value) else "is not valid Unicode text (it has a lone surrogate)"
    return f"is not JSON data ({type(value).__name__})"


def _located(path: tuple[Any, ...]) -> str:
    """Where a value is, as messages say it: 'step 2: "seed.value" ' (steps count from 1)."""
    if len(path) >= 2 and path[0] == "steps" and _is_int(path[1]):
        rest = path[2:]
        return f"step {path[1] + 1}: " + (f'"{_dotted(rest)}" ' if rest else "")
    return f'"{_dotted(path)}" ' if path else ""


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if _is_int(key) else (f".{key}" if text else str(key))
    return _shown(text, 80, quoted=False)


def _shown(value: object, limit: int = 40, quoted: bool = True) -> str:
    """A value for a message: on one line, cut short (a hostile value may be megabytes)."""
    text = repr(value) if quoted else str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_of(choices: tuple[Any, ...]) -> str:
    shown = [str(c) for c in choices]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _json_type(value: object) -> str:
    for kind in (Kind.TEXT, Kind.INTEGER, Kind.NUMBER, Kind.OBJECT, Kind.LIST):
        if _has_kind(value, kind):
            return str(kind.value).removeprefix("an ").removeprefix("a ")
    return {bool: "true or false", type(None): "null"}.get(type(value), type(value).__name__)


# ---- from a history ----------------------------------------------------------------------------
def recipe_from_history(
    history: History, step_id: int | None = None, seed_policy: str = SEED_FIXED, photo_name: str = ""
) -> dict[str, Any]:
    """The recipe (JSON data) of the chain from the original to ``step_id`` (the current step).
    A step whose stored settings or geometry cannot be a recipe's is InputError naming it."""
    if seed_policy not in SEED_POLICIES:
        raise InputError(f"unknown seed policy {seed_policy!r}; choose {' or '.join(SEED_POLICIES)}")
    if step_id is None:
        current = history.current
        assert current is not None, "a started history"
        step_id = current.id
    chain = [s for s in history.lineage(step_id) if not s.is_root]
    if not chain:
        raise InputError("the current step is the original photo: make an edit first, then export its recipe")
    steps = []
    for number, step in enumerate(chain, 1):
        try:
            steps.append(_exported_step(history, step, seed_policy))
        except InputError as exc:
            raise InputError(
                f"cannot export the recipe: step {number} ({_shown(step.instruction)}): {exc}"
            ) from None
    return {
        "format": FORMAT,
        "version": VERSION,
        "app": f"mgie-desktop {__version__}",
        "source": {"photo": photo_name} if photo_name else {},
        "finish": "detail",
        "steps": steps,
    }


def _exported_step(history: History, step: Step, seed_policy: str) -> dict[str, Any]:
    stored = step.params  # typed where the session entered (History.restore)
    if stored.kind is StepKind.GEOMETRY:
        return {"kind": "geometry", "op": _exported_geometry(history, step, stored.geometry)}
    assert stored.render is not None, "an edit step carries its settings"
    params = stored.render.validated()  # ranges: a session from an older version may hold others
    seed = (
        {"policy": SEED_FIXED, "value": params.seed} if seed_policy == SEED_FIXED else {"policy": seed_policy}
    )
    return {
        "kind": "edit",
        "instruction": step.instruction,
        **({"steered_instruction": step.steered_instruction} if step.steered_instruction else {}),
        **({"mask": step.mask} if step.mask else {}),
        "model": stored.kind.value,
        "preset": preset_name(params),
        "steps": params.steps,
        "text_guidance": params.text_guidance,
        "image_guidance": params.image_guidance,
        "scheduler": params.scheduler,
        "pixel_budget": params.pixel_budget,
        "strength": stored.strength,
        "seed": seed,
    }


def _exported_geometry(history: History, step: Step, op: object) -> dict[str, Any]:
    """A step's geometry as a recipe keeps it: a crop's pixels of the image it applied to become
    fractions of it; whatever else is stored must already be a recipe's operation."""
    if isinstance(op, dict) and op.get("op") == "crop":
        box = _field(op, "box", Kind.LIST)
        if len(box) != 4 or not all(_has_kind(v, Kind.NUMBER) for v in box):
            raise InputError('a crop\'s "box" must be four numbers: left, top, right, bottom')
        width, height = history.rendered(step.parent).size
        left, top, right, bottom = box
        op = {
            "op": "crop",
            "fraction": [
                round(left / width, 6),
                round(top / height, 6),
                round(right / width, 6),
                round(bottom / height, 6),
            ],
        }
    return _parse_geometry(op)


def _render_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """The render settings ``raw`` has, each of the right type (their ranges are core.params')."""
    found = {key: _field(raw, key, kind) for key, kind in _RENDER_FIELDS.items() if key in raw}
    if "scheduler" in found:
        _choice(raw, "scheduler", SCHEDULERS)  # here, so a hostile name is not echoed whole
    return found


def recipe_from_session(path: Path, seed_policy: str = SEED_FIXED) -> dict[str, Any]:
    """The recipe of a .mgie session's current step."""
    session = open_session(path)
    try:
        return recipe_from_history(session.history, seed_policy=seed_policy, photo_name=session.name)
    finally:
        session.close()


def save_recipe(data: dict[str, Any], path: Path) -> None:
    """Write a recipe atomically (checked first: what is written can be read back)."""
    name = Path(path).name
    parse_recipe(data, name)
    encoded = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if len(encoded) > MAX_BYTES:
        raise InputError(
            f"cannot write the recipe '{name}': it would be over {MAX_BYTES // 2**20} MB, more "
            "than a recipe may be (are its masks very detailed?)"
        )
    atomic_write(Path(path), lambda fh: fh.write(encoded), f"the recipe '{name}'")


# ---- reading -----------------------------------------------------------------------------------
def load_recipe(path: Path) -> Recipe:
    """Read and check a recipe file; every problem is one InputError saying where and what."""
    return parse_recipe(read_recipe_data(path), Path(path).name or str(path))


def _refusal(label: str, problem: str) -> InputError:
    """The one line that refuses a recipe (even a file name with a newline stays on it)."""
    return InputError(f"cannot use the recipe '{_shown(label, 200, quoted=False)}': {problem}")


def read_recipe_data(path: Path) -> object:
    """A recipe file's JSON, read within bounds (``parse_recipe`` checks the rest)."""
    path = Path(path)
    label = path.name or str(path)
    try:
        text = _read_bounded(path).decode("utf-8")
        if nesting_depth(text) > MAX_DEPTH:
            raise InputError(f"it is nested more than {MAX_DEPTH} levels deep")
        return json.loads(text, parse_int=_bounded_int)
    except InputError as exc:
        raise _refusal(label, str(exc)) from None
    except UnicodeDecodeError as exc:
        raise _refusal(label, f"it is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _refusal(label, f"not JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:  # the depth scan should make this unreachable; never a traceback though
        raise _refusal(label, "it is nested too deeply") from None


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES. Devices, pipes and folders are refused
    before they are opened (a link to /dev/zero never ends; opening a FIFO waits for a writer),
    and again on the opened file, in case the path changed in between."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise InputError("it is not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as fh:
            opened = os.fstat(fh.fileno())
            if not stat.S_ISREG(opened.st_mode):
                raise InputError("it is not a regular file")
            if opened.st_size > MAX_BYTES:
                raise InputError(f"it is over {MAX_BYTES // 2**20} MB")
            data = fh.read(MAX_BYTES + 1)  # the size may lie (/proc) or grow while read
    except FileNotFoundError:
        raise InputError("no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InputError(f"it cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"it is over {MAX_BYTES // 2**20} MB")
    return data


def _bounded_int(digits: str) -> int | object:
    """A JSON integer; one of more digits than MAX_INT_BITS allows is not converted at all
    (Python refuses over 4300 digits, and a conversion's cost grows with the length)."""
    return int(digits) if len(digits.lstrip("-")) <= _MAX_INT_DIGITS else _TOO_LONG


# ---- checking ----------------------------------------------------------------------------------
def parse_recipe(data: object, label: str = "recipe") -> Recipe:
    """Check a recipe's JSON data whole and make it a Recipe; InputError names the file, the step
    and the field of the first problem."""
    try:
        return _parse_document(data)
    except InputError as exc:
        raise _refusal(label, str(exc)) from None


def _parse_document(data: object) -> Recipe:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'not an MGIE recipe (no "format": "{FORMAT}")')
    _check_values(data)
    version = _field(data, "version", Kind.INTEGER)
    if version < 1:
        raise InputError('its "version" must be a positive integer')
    if version > VERSION:
        raise InputError(
            f"it is version {version}, newer than this app reads ({VERSION}): update MGIE Desktop"
        )
    _field(data, "app", Kind.TEXT, "")
    finish = _choice(data, "finish", FINISHES, "detail")
    source = _field(data, "source", Kind.OBJECT, {})
    _field(source, "photo", Kind.TEXT, "")
    raw_steps = _field(data, "steps", Kind.LIST)
    if not raw_steps:
        raise InputError("it has no steps")
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        try:
            steps.append(_parse_step(raw))
        except InputError as exc:
            raise InputError(f"step {number}: {exc}") from None
    if not any(s.geometry is None for s in steps):
        raise InputError("it has no edit step (only crops, rotations or flips)")
    return Recipe(tuple(steps), finish, dict(source))


def _parse_step(raw: object) -> RecipeStep:
    if not isinstance(raw, dict):
        raise InputError("not a JSON object")
    if _choice(raw, "kind", ("edit", "geometry"), "edit") == "geometry":
        _no_unknown_keys(raw, _GEOMETRY_STEP_KEYS)
        return RecipeStep(geometry=_parse_geometry(_field(raw, "op", Kind.OBJECT)))
    _no_unknown_keys(raw, _EDIT_KEYS)
    instruction = _field(raw, "instruction", Kind.TEXT).strip()
    if not instruction:
        raise InputError('"instruction" is empty')
    steered = _field(raw, "steered_instruction", Kind.TEXT, "").strip()
    mask = _field(raw, "mask", Kind.TEXT, "")
    if mask:
        check_mask(mask_from_text(mask))  # damaged or empty masks fail here, not on photo 1,500
    model = _choice(raw, "model", MODELS, "mgie")
    preset = _choice(raw, "preset", (*PRESETS, CUSTOM), DEFAULT_PRESET)
    overrides = _render_settings(raw)
    policy, seed = _parse_seed(
        _field(raw, "seed", Kind.OBJECT, {"policy": SEED_FIXED, "value": EditParams().seed})
    )
    params = params_for(DEFAULT_PRESET if preset == CUSTOM else preset, seed=seed, **overrides)
    strength = _field(raw, "strength", Kind.NUMBER, 1.0)
    if not 0 < strength <= 1:
        raise InputError('"strength" must be a number above 0 and at most 1')
    if steered and model != "mgie":  # the other engines read the person's words themselves
        raise InputError(
            f'a steered instruction needs MGIE ("model": "mgie"); {ENGINE_NAMES[model]} reads the '
            '"instruction" itself'
        )
    return RecipeStep(instruction, steered, mask, model, preset, params, policy, float(strength))


def _parse_seed(seed: dict[str, Any]) -> tuple[str, int | None]:
    """The seed policy and, for a fixed seed, its value (its range is core.params')."""
    if set(seed) - _SEED_KEYS or seed.get("policy") not in SEED_POLICIES:
        raise InputError(
            f'"seed" must be {{"policy": "{SEED_FIXED}", "value": N}} or {{"policy": "{SEED_FILE_NAME}"}}'
        )
    if seed["policy"] == SEED_FILE_NAME:
        return SEED_FILE_NAME, None
    try:
        return SEED_FIXED, _field(seed, "value", Kind.INTEGER)
    except InputError as exc:
        raise InputError(f'a fixed "seed": {exc}') from None


def _parse_geometry(op: object) -> dict[str, Any]:
    """A recipe's geometry operation, checked whole (the same check for export and for loading)."""
    kind = op.get("op") if isinstance(op, dict) else None
    if not isinstance(op, dict) or not isinstance(kind, str) or kind not in GEOMETRY_OPS:
        raise InputError(f'unknown geometry operation {_shown(op)}: "op" must be {_one_of(GEOMETRY_OPS)}')
    if kind == "rotate":
        _no_unknown_keys(op, {"op", "degrees"})
        return {"op": "rotate", "degrees": _choice(op, "degrees", ROTATIONS)}
    if kind == "flip":
        _no_unknown_keys(op, {"op", "axis"})
        return {"op": "flip", "axis": _choice(op, "axis", FLIP_AXES)}
    box = op.get("fraction")
    if (
        set(op) == {"op", "fraction"}
        and isinstance(box, list)
        and len(box) == 4
        and all(_has_kind(v, Kind.NUMBER) and _value_problem(v) == "" for v in box)
        and 0 <= box[0] < box[2] <= 1
        and 0 <= box[1] < box[3] <= 1
    ):
        return {"op": "crop", "fraction": [float(v) for v in box]}
    raise InputError(
        'a crop needs "fraction": [left, top, right, bottom], each 0..1, left < right, top < bottom'
    )


def geometry_for(op: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """A recipe's geometry operation as core.geometry applies it to an image of ``size``
    (a crop's fractions become pixels, at least one pixel wide and high)."""
    if op["op"] != "crop":
        return op
    width, height = size
    left, top, right, bottom = op["fraction"]
    x0, y0 = min(round(left * width), width - 1), min(round(top * height), height - 1)
    return {
        "op": "crop",
        "box": [x0, y0, max(x0 + 1, round(right * width)), max(y0 + 1, round(bottom * height))],
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
