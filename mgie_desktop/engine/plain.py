"""InstructPix2Pix on its own, for the side-by-side comparison (issue 13): the person's words read
by its CLIP text encoder and rendered by its own UNet, sharing MGIE's VAE and scheduler settings.
It is diffusers' ``StableDiffusionInstructPix2PixPipeline`` called with the text prompt: the
optional component in the bundle's ``ip2p/`` folder, loaded the first time it is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import ModelFilesError
from mgie_desktop.engine.convert import PLAIN_DIR
from mgie_desktop.engine.devices import conv_memory_format
from mgie_desktop.engine.inventory import PLAIN_NOT_INSTALLED as NOT_INSTALLED
from mgie_desktop.engine.schedulers import make_scheduler


def plain_pipeline(
    bundle_dir: Path,
    vae: torch.nn.Module,
    scheduler_config: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
) -> Any:  # diffusers' StableDiffusionInstructPix2PixPipeline
    """The pipeline over the bundle's ``ip2p/`` parts (placed on ``device``) and the shared VAE;
    ModelFilesError when the optional component is not installed. The engine sets it up for its
    memory plan, as it does its own pipeline."""
    StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel = load(
        "diffusers", "StableDiffusionInstructPix2PixPipeline", "UNet2DConditionModel"
    )
    CLIPTextModel, CLIPTokenizer = load("transformers", "CLIPTextModel", "CLIPTokenizer")

    folder = Path(bundle_dir) / PLAIN_DIR
    if not (folder / "unet").is_dir():
        raise ModelFilesError(NOT_INSTALLED)
    try:
        unet = (
            UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=dtype)
            .eval()
            .to(device, memory_format=conv_memory_format(device, dtype))
        )
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=dtype).eval().to(device)
        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelFilesError(
            f"InstructPix2Pix's own model in {folder} could not be loaded ({exc}); "
            "run `mgie-desktop models verify`"
        ) from exc
    return StableDiffusionInstructPix2PixPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=make_scheduler("euler_a", scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
