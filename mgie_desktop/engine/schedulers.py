"""Sampler names -> diffusers schedulers built on the model's own scheduler config."""

from __future__ import annotations

from typing import Any

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError


def make_scheduler(name: str, base_config: dict[str, Any]) -> Any:  # a diffusers scheduler
    # name: (diffusers class, extra settings)
    choices = {
        "euler_a": ("EulerAncestralDiscreteScheduler", {}),  # InstructPix2Pix's own: the reference's sampler
        "euler": ("EulerDiscreteScheduler", {}),
        "dpmpp_2m": (
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
        ),
        "ddim": ("DDIMScheduler", {}),
        "unipc": ("UniPCMultistepScheduler", {}),
    }
    if name in choices:
        cls, extra = choices[name]
        return load("diffusers", cls).from_config(base_config, **extra)
    raise InputError(f"unknown scheduler {name!r}")
