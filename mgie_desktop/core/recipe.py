"""Recipes: the chain of edits that made one photo's current step, kept as versioned JSON so the
same edits can run over other photos (``mgie-desktop batch``).

A recipe file::

    {"format": "mgie-recipe", "version": 1, "app": "mgie-desktop 0.1.0",
     "source": {"photo": "beach.jpg"}, "finish": "detail",
     "steps": [
       {"kind": "edit", "instruction": "make it winter",
        "steered_instruction": "Snow covers the ground.",     (optional: steers MGIE on every photo)
        "mask": "<base64 PNG>",                               (optional: core.masks.mask_to_text)
        "model": "mgie" | "ip2p", "preset": "balanced" | "reference" | "draft" | "custom",
        "steps": 25, "text_guidance": 7.5, "image_guidance": 1.5, "scheduler": "dpmpp_2m",
        "pixel_budget": 262144, "strength": 1.0,
        "seed": {"policy": "fixed", "value": 13331} | {"policy": "file_name"}},
       {"kind": "geometry", "op": {"op": "rotate", "degrees": 90}},
       {"kind": "geometry", "op": {"op": "crop", "fraction": [0.1, 0.0, 0.9, 1.0]}}]}

Render settings missing from an edit step are the preset's. A crop is kept as fractions of the
image it applied to, so it means the same part of photos of other sizes. The ``file_name`` seed
policy derives each photo's seed from its file name (``derived_seed``): stable on every machine,
different from photo to photo. Loading checks everything and raises InputError naming the step
and the field. Pure Python + Pillow: no Qt, no torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from mgie_desktop import __version__
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import atomic_write
from mgie_desktop.core.history import GEOMETRY, STRENGTH, History
from mgie_desktop.core.masks import check_mask, mask_from_text
from mgie_desktop.core.params import DEFAULT_PRESET, PRESETS, EditParams, params_for
from mgie_desktop.core.session import open_session

FORMAT, VERSION = "mgie-recipe", 1
SEED_FIXED, SEED_FILE_NAME = "fixed", "file_name"
SEED_POLICIES = (SEED_FIXED, SEED_FILE_NAME)
CUSTOM = "custom"  # the preset name of settings that match no preset
MODELS = ("mgie", "ip2p")
FINISHES = ("detail", "upscale")
MAX_BYTES = 64 * 2**20  # a recipe is small; masks are at most 1024 px PNGs
_RENDER_KEYS = ("steps", "text_guidance", "image_guidance", "scheduler", "pixel_budget")
_EDIT_KEYS = {"kind", "instruction", "steered_instruction", "mask", "model", "preset", "seed", "strength",
              *_RENDER_KEYS}


@dataclass(frozen=True)
class RecipeStep:
    """One step: an MGIE (or plain InstructPix2Pix) edit, or a geometry operation (``geometry``)."""

    instruction: str = ""
    steered_instruction: str = ""      # a person's expressive instruction that steers every photo's edit
    mask: str = ""                     # core.masks.mask_to_text; "" edits everywhere
    model: str = "mgie"
    preset: str = DEFAULT_PRESET
    params: EditParams = field(default_factory=EditParams)  # params.seed: the fixed seed
    seed_policy: str = SEED_FIXED
    strength: float = 1.0
    geometry: dict | None = None

    def params_for(self, photo_name: str) -> EditParams:
        """The render settings for the photo called ``photo_name`` (its seed per the policy)."""
        if self.seed_policy == SEED_FILE_NAME:
            return replace(self.params, seed=derived_seed(photo_name))
        return self.params


@dataclass(frozen=True)
class Recipe:
    steps: tuple[RecipeStep, ...]
    finish: str = "detail"
    source: dict = field(default_factory=dict)

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
                params.steps, params.scheduler, params.text_guidance, params.image_guidance):
            return name
    return CUSTOM


# ---- from a history ----------------------------------------------------------------------------
def recipe_from_history(history: History, step_id: int | None = None, seed_policy: str = SEED_FIXED,
                        photo_name: str = "") -> dict:
    """The recipe (JSON data) of the chain from the original to ``step_id`` (the current step)."""
    if seed_policy not in SEED_POLICIES:
        raise InputError(f"unknown seed policy {seed_policy!r}; choose {' or '.join(SEED_POLICIES)}")
    step_id = history.current.id if step_id is None else step_id
    chain = [s for s in history.lineage(step_id) if not s.is_root]
    if not chain:
        raise InputError("the current step is the original photo: make an edit first, then export its recipe")
    steps = []
    for step in chain:
        op = step.params.get(GEOMETRY)
        if op:
            if op.get("op") == "crop":  # pixels of the image it applied to -> fractions of it
                width, height = history.rendered(step.parent).size
                left, top, right, bottom = op["box"]
                op = {"op": "crop", "fraction": [round(left / width, 6), round(top / height, 6),
                                                 round(right / width, 6), round(bottom / height, 6)]}
            steps.append({"kind": "geometry", "op": dict(op)})
            continue
        params = _params_of(step.params)
        seed = {"policy": SEED_FIXED, "value": params.seed} if seed_policy == SEED_FIXED else {"policy": seed_policy}
        steps.append({
            "kind": "edit", "instruction": step.instruction,
            **({"steered_instruction": step.steered_instruction} if step.steered_instruction else {}),
            **({"mask": step.mask} if step.mask else {}),
            "model": step.params.get("model", "mgie"), "preset": preset_name(params),
            "steps": params.steps, "text_guidance": params.text_guidance, "image_guidance": params.image_guidance,
            "scheduler": params.scheduler, "pixel_budget": params.pixel_budget,
            "strength": float(step.params.get(STRENGTH, 1.0)), "seed": seed,
        })
    return {"format": FORMAT, "version": VERSION, "app": f"mgie-desktop {__version__}",
            "source": {"photo": photo_name} if photo_name else {}, "finish": "detail", "steps": steps}


def _params_of(stored: dict) -> EditParams:
    """A history step's settings (as the window or ``edit`` stored them) as EditParams."""
    known = {k: stored[k] for k in ("seed", *_RENDER_KEYS) if k in stored}
    try:
        return replace(EditParams(), **known).validated()
    except (TypeError, InputError) as exc:
        raise InputError(f"a step's settings cannot be used in a recipe ({exc})") from None


def recipe_from_session(path: Path, seed_policy: str = SEED_FIXED) -> dict:
    """The recipe of a .mgie session's current step."""
    session = open_session(path)
    try:
        return recipe_from_history(session.history, seed_policy=seed_policy, photo_name=session.name)
    finally:
        session.close()


def save_recipe(data: dict, path: Path) -> None:
    """Write a recipe atomically (checked first: what is written can be read back)."""
    parse_recipe(data, Path(path).name)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")), f"the recipe '{Path(path).name}'")


# ---- reading -----------------------------------------------------------------------------------
def load_recipe(path: Path) -> Recipe:
    """Read and check a recipe file; every problem is one InputError saying where and what."""
    return parse_recipe(read_recipe_data(path), Path(path).name or str(path))


def read_recipe_data(path: Path) -> dict:
    """A recipe file's JSON, unchecked (``parse_recipe`` checks it)."""
    path = Path(path)
    label = path.name or str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"Cannot use the recipe '{label}': it is over {MAX_BYTES // 2**20} MB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Cannot use the recipe '{label}': no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot use the recipe '{label}': it cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"Cannot use the recipe '{label}': not JSON ({exc.msg}, line {exc.lineno})") from None
    return data


def parse_recipe(data: object, label: str = "recipe") -> Recipe:
    def fail(problem: str) -> InputError:
        return InputError(f"Cannot use the recipe '{label}': {problem}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise fail(f"not an MGIE recipe (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise fail("its \"version\" is missing or not a positive integer")
    if version > VERSION:
        raise fail(f"it is version {version}, newer than this app reads ({VERSION}): update MGIE Desktop")
    finish = data.get("finish", "detail")
    if finish not in FINISHES:
        raise fail(f"\"finish\" must be {' or '.join(FINISHES)}, not {finish!r}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail("it has no steps")
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        try:
            steps.append(_parse_step(raw))
        except InputError as exc:
            raise fail(f"step {number}: {exc}") from None
    if not any(s.geometry is None for s in steps):
        raise fail("it has no edit step (only crops, rotations or flips)")
    source = data.get("source") if isinstance(data.get("source"), dict) else {}
    return Recipe(tuple(steps), finish, source)


def _parse_step(raw: object) -> RecipeStep:
    if not isinstance(raw, dict):
        raise InputError("not a JSON object")
    kind = raw.get("kind", "edit")
    if kind == "geometry":
        return RecipeStep(geometry=_parse_geometry(raw.get("op")))
    if kind != "edit":
        raise InputError(f"unknown \"kind\" {kind!r} (edit or geometry)")
    unknown = sorted(set(raw) - _EDIT_KEYS)
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(unknown)}")
    instruction = raw.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise InputError("\"instruction\" is missing or empty")
    steered = _text(raw, "steered_instruction")
    mask = _text(raw, "mask")
    if mask:
        check_mask(mask_from_text(mask))  # damaged or empty masks fail here, not on photo 1,500
    model = raw.get("model", "mgie")
    if model not in MODELS:
        raise InputError(f"\"model\" must be {' or '.join(MODELS)}, not {model!r}")
    preset = raw.get("preset", DEFAULT_PRESET)
    if preset != CUSTOM and preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join([*PRESETS, CUSTOM])}")
    for key, kinds in (("steps", int), ("pixel_budget", int), ("text_guidance", (int, float)),
                       ("image_guidance", (int, float)), ("scheduler", str)):
        if key in raw and (not isinstance(raw[key], kinds) or isinstance(raw[key], bool)):
            raise InputError(f"\"{key}\" has the wrong type ({type(raw[key]).__name__})")
    policy, seed = _parse_seed(raw.get("seed", {"policy": SEED_FIXED, "value": EditParams().seed}))
    overrides = {k: raw.get(k) for k in _RENDER_KEYS}
    params = params_for(DEFAULT_PRESET if preset == CUSTOM else preset, seed=seed, **overrides)
    strength = raw.get("strength", 1.0)
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise InputError("\"strength\" must be a number above 0 and at most 1")
    if steered and model == "ip2p":
        raise InputError("a steered instruction needs MGIE (\"model\": \"mgie\")")
    return RecipeStep(instruction.strip(), steered, mask, model, preset, params, policy, float(strength))


def _text(raw: dict, key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise InputError(f"\"{key}\" must be text")
    return value.strip() if key != "mask" else value


def _parse_seed(seed: object) -> tuple[str, int | None]:
    if not isinstance(seed, dict) or seed.get("policy") not in SEED_POLICIES:
        raise InputError(f"\"seed\" must be {{\"policy\": \"{SEED_FIXED}\", \"value\": N}} or "
                         f"{{\"policy\": \"{SEED_FILE_NAME}\"}}")
    if seed["policy"] == SEED_FILE_NAME:
        return SEED_FILE_NAME, None
    value = seed.get("value")
    if not _is_int(value) or not 0 <= value < 2**63:
        raise InputError("a fixed seed's \"value\" must be a non-negative 63-bit integer")
    return SEED_FIXED, value


def _parse_geometry(op: object) -> dict:
    kind = op.get("op") if isinstance(op, dict) else None
    if kind == "rotate" and op.get("degrees") in (90, 180, 270) and len(op) == 2:
        return {"op": "rotate", "degrees": op["degrees"]}
    if kind == "flip" and op.get("axis") in ("horizontal", "vertical") and len(op) == 2:
        return {"op": "flip", "axis": op["axis"]}
    if kind == "crop":
        box = op.get("fraction")
        if (isinstance(box, list) and len(box) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
                and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
            return {"op": "crop", "fraction": [float(v) for v in box]}
        raise InputError("a crop needs \"fraction\": [left, top, right, bottom], each 0..1, left < right, top < bottom")
    raise InputError(f"unknown geometry operation {op!r}")


def geometry_for(op: dict, size: tuple[int, int]) -> dict:
    """A recipe's geometry operation as core.geometry applies it to an image of ``size``
    (a crop's fractions become pixels, at least one pixel wide and high)."""
    if op["op"] != "crop":
        return op
    width, height = size
    left, top, right, bottom = op["fraction"]
    x0, y0 = min(round(left * width), width - 1), min(round(top * height), height - 1)
    return {"op": "crop", "box": [x0, y0, max(x0 + 1, round(right * width)), max(y0 + 1, round(bottom * height))]}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
