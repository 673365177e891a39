"""Sampler names -> diffusers schedulers built on the model's own scheduler config."""

from __future__ import annotations

from mgie_desktop.core.errors import InputError


def make_scheduler(name: str, base_config: dict):
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        UniPCMultistepScheduler,
    )

    if name == "euler_a":  # InstructPix2Pix's own scheduler: the reference's sampler
        return EulerAncestralDiscreteScheduler.from_config(base_config)
    if name == "euler":
        return EulerDiscreteScheduler.from_config(base_config)
    if name == "dpmpp_2m":
        return DPMSolverMultistepScheduler.from_config(
            base_config, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True)
    if name == "ddim":
        return DDIMScheduler.from_config(base_config)
    if name == "unipc":
        return UniPCMultistepScheduler.from_config(base_config)
    raise InputError(f"unknown scheduler {name!r}")
