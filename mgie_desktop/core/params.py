"""Edit parameters and presets, shared by the CLI, the window and the engine."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from mgie_desktop.core.errors import InputError

# Sampler names the engine maps to diffusers schedulers.
SCHEDULERS = ("euler_a", "euler", "dpmpp_2m", "ddim", "unipc")

REFERENCE_SEED = 13331
DEFAULT_PIXEL_BUDGET = 512 * 512


@dataclass(frozen=True)
class Bounds:
    """A number's one range, shared by the window, the CLI, recipes, sessions and the server."""

    low: float
    high: float

    def nearest(self, value: float) -> float:
        """``value`` brought into the range (what a box shows of a number from a damaged file)."""
        return min(max(value, self.low), self.high)

    def check(self, name: str, value: float) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, not {value}")
        if not self.low <= value <= self.high:
            # a 5000-digit int cannot even be turned into text (Python's int-string limit)
            shown = (
                f"a {value.bit_length()}-bit number"
                if isinstance(value, int) and value.bit_length() > 64
                else (f"{value:g}")
            )
            raise InputError(f"{name} must be from {self.low:g} to {self.high:g}, not {shown}")


STEPS = Bounds(1, 500)
SEED = Bounds(0, 2**63 - 1)  # a file name's derived seed is 63 bits (core.recipe.derived_seed)
TEXT_GUIDANCE = Bounds(0.0, 30.0)
# InstructPix2Pix turns all guidance off below 1.0: not a weaker edit, no edit at all.
IMAGE_GUIDANCE = Bounds(1.0, 10.0)
# The working size's area: below 64x64 nothing is left to edit; above 2048x2048 one edit holds
# gigabytes and runs for many minutes, long past what SD-1.5 was trained for (512x512).
PIXEL_BUDGET = Bounds(64 * 64, 2048 * 2048)
VARIATIONS = Bounds(1, 8)  # renders of one edit in one batch
# A guidance sweep renders one cell after another (scalar guidance each), so it may hold more than
# a batch of seeds: a 4x4 grid at most, and no axis longer than a picker row can show.
SWEEP_VALUES = Bounds(1, 5)  # values of one guidance axis
SWEEP_CELLS = Bounds(1, 16)  # renders of one sweep: text values x image values


@dataclass(frozen=True)
class EditParams:
    """How one edit is rendered. The LLM half (instruct) does not depend on any of these."""

    seed: int = REFERENCE_SEED
    steps: int = 25
    text_guidance: float = 7.5
    image_guidance: float = 1.5
    scheduler: str = "dpmpp_2m"
    pixel_budget: int = DEFAULT_PIXEL_BUDGET

    def validated(self) -> EditParams:
        if self.scheduler not in SCHEDULERS:
            raise InputError(
                f"unknown scheduler {str(self.scheduler)[:40]!r}; choose one of {', '.join(SCHEDULERS)}"
            )
        for name, bounds in (
            ("steps", STEPS),
            ("seed", SEED),
            ("text guidance", TEXT_GUIDANCE),
            ("image guidance", IMAGE_GUIDANCE),
            ("pixel budget", PIXEL_BUDGET),
        ):
            bounds.check(name, getattr(self, name.replace(" ", "_")))
        return self


# "reference" is Apple's demo exactly: Euler ancestral, the pipeline's default 100 steps.
# "balanced" (the default) runs DPM-Solver++ 2M with Karras sigmas for 25 steps: a quarter
# of the UNet evaluations; a deterministic multistep solver converges for SD-1.5 models in
# 20-25 steps where Euler ancestral keeps injecting noise and needs many more.
PRESETS: dict[str, EditParams] = {
    "reference": EditParams(steps=100, scheduler="euler_a"),
    "balanced": EditParams(steps=25, scheduler="dpmpp_2m"),
    "draft": EditParams(steps=12, scheduler="dpmpp_2m"),
}
DEFAULT_PRESET = "balanced"


def params_for(preset: str = DEFAULT_PRESET, **overrides: Any) -> EditParams:
    """The preset's parameters with the given fields replaced (None means keep the preset's)."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(PRESETS[preset], **changes).validated()
