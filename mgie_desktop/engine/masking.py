"""Blended latent diffusion: an edit held inside a mask while it denoises.

After every denoising step the latents outside the mask are replaced by the source's own
latents noised to the level the latents have after that step, so the model keeps seeing a
coherent picture across the boundary and what lies outside stays the source. The full-
resolution result is then composited through the feathered mask (core.masks)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image


class LatentBlend:
    """``blend(step, latents)`` for the pipeline's step-end callback."""

    def __init__(
        self,
        pipe: Any,
        source: Image.Image,
        mask: Image.Image,
        seeds: list[int],
        device: torch.device,
        dtype: torch.dtype,
    ):
        self.pipe, self.mask = pipe, mask.convert("L")
        with torch.inference_mode():
            pixels = pipe.image_processor.preprocess(source).to(device=device, dtype=dtype)
            self.clean = pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor
        # Its own noise per seed: the pipeline's generators stay as they would be without a mask.
        generators = [torch.Generator(device=device).manual_seed(seed + 0x5EED) for seed in seeds]
        self.noise = torch.cat(
            [torch.randn(self.clean.shape, generator=g, device=device, dtype=dtype) for g in generators]
        )
        self._weights: torch.Tensor | None = None

    def weights(self, latents: torch.Tensor) -> torch.Tensor:
        """The mask at the latents' size (an area average of its pixels), 1 where the edit applies."""
        if self._weights is None or self._weights.shape[-2:] != latents.shape[-2:]:
            small = self.mask.resize((latents.shape[-1], latents.shape[-2]), Image.Resampling.BOX)
            grid = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)
            self._weights = grid.to(latents.device, latents.dtype)[None, None]
        return self._weights

    def blend(self, step: int, latents: torch.Tensor) -> torch.Tensor:
        timesteps = self.pipe.scheduler.timesteps
        clean = self.clean[..., : latents.shape[-2], : latents.shape[-1]]
        if step + 1 < len(timesteps):
            noise = self.noise[: latents.shape[0], :, : latents.shape[-2], : latents.shape[-1]]
            source = self.pipe.scheduler.add_noise(clean, noise, timesteps[step + 1 : step + 2])
        else:  # after the last step the latents are clean
            source = clean.expand_as(latents)
        weights = self.weights(latents)
        blended: torch.Tensor = latents * weights + source.to(latents.dtype) * (1 - weights)
        return blended
