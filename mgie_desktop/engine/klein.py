"""FLUX.2 [klein] 4B, the second engine (issue 29): diffusers' ``Flux2KleinPipeline`` over the
bundle's ``klein/`` folder, which holds the model exactly as Black Forest Labs publish it (the
diffusers layout: model_index.json, transformer/, vae/, text_encoder/, tokenizer/, scheduler/).

It reads the person's words with its own Qwen3 text encoder: there is no expressive instruction.
It edits by conditioning on the photo (a reference image, not an InstructPix2Pix latent), at about
one megapixel, in the few steps it was distilled for.

Memory (docs/PERFORMANCE.md): the pipeline reads only three of the text encoder's hidden states
(9, 18 and 27 of its 36 layers), so only its first 28 layers are loaded, and its logits are never
computed. On the CPU the text encoder runs in 8 bits (``engine.int8``) and the transformer
in bf16 unless fp32 is both faster there and fits; on a GPU with less than 16 GB free the
pipeline offloads each model to the CPU between uses."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import EditCancelled, ModelFilesError, OutOfMemory, RenderFailed
from mgie_desktop.core.finishing import finish_renders, klein_source
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.sizing import KLEIN_MULTIPLE
from mgie_desktop.core.step_params import KLEIN_STEPS
from mgie_desktop.engine.devices import DTYPES, cpu_runs_bf16
from mgie_desktop.engine.int8 import quantise_linears
from mgie_desktop.engine.inventory import KLEIN_DIR, KLEIN_NOT_INSTALLED, bundle_weight_bytes
from mgie_desktop.engine.klein_files import check_distilled, folder, is_klein_folder

TEXT_LAYERS = (9, 18, 27)  # the text encoder's hidden states the pipeline reads (its default)
GPU_ROOM = 16 * 1024**3  # below this much free GPU memory, offload between models

ProgressFn = Callable[[int, int, Callable[[], Image.Image]], None]


@dataclass(frozen=True)
class KleinPlan:
    """How the model runs here: the transformer's dtype, the text encoder in 8 bits or not, and
    whether the pipeline offloads each model between uses (a GPU with little room)."""

    dtype: torch.dtype
    text_int8: bool
    offload: bool
    reason: str


def plan_for(
    device: torch.device, precision: str, bf16_native: bool, free_bytes: int | None, fp32_fits: bool
) -> KleinPlan:
    """``precision`` as the person chose it (auto, fp32, bf16, fp16). On the CPU ``auto`` is bf16
    unless fp32 is faster here (bf16 emulated) and fits: a 4B transformer is 16 GB in fp32."""
    if device.type == "cpu":
        if precision == "auto":
            fp32 = not bf16_native and fp32_fits
            why = "bf16, native here" if bf16_native else "fp32" if fp32 else "bf16, as fp32 would not fit"
            dtype = torch.float32 if fp32 else torch.bfloat16
        else:
            dtype, why = DTYPES[precision], precision
        return KleinPlan(dtype, True, False, f"the text encoder in 8 bits, the transformer in {why}")
    if precision in ("auto", "fp32"):
        dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = DTYPES[precision]
    offload = free_bytes is not None and free_bytes < GPU_ROOM
    return KleinPlan(dtype, False, offload, "offloaded between models" if offload else "all on the GPU")


def cpu_need_bytes(models_dir: Path, dtype: torch.dtype) -> int:
    """Memory klein needs on the CPU: the transformer at ``dtype``, the 8-bit text encoder (28 of
    its 36 layers at a byte a weight, its embeddings at two) and 1.5 GB for the VAE, the
    activations and the rest. The bundle holds the weights in 16 bits."""
    transformer = bundle_weight_bytes(models_dir, KLEIN_DIR + "/transformer/")
    text = bundle_weight_bytes(models_dir, KLEIN_DIR + "/text_encoder/")
    return int(transformer * torch.finfo(dtype).bits / 16 + text / 2 + 1.5 * 1024**3)


def fp32_fits(models_dir: Path, available_bytes: int) -> bool:
    """Would the transformer in fp32 and the 8-bit text encoder fit in memory?"""
    return cpu_need_bytes(models_dir, torch.float32) <= available_bytes


def check_room(models_dir: Path, dtype: torch.dtype, available_bytes: int, beside: str) -> None:
    """OutOfMemory, in one line, before loading what would not fit (a machine out of memory gets
    its processes killed); ``beside`` names what is already loaded, if anything."""
    need = cpu_need_bytes(models_dir, dtype)
    if need > available_bytes:
        gb = 1024**3
        raise OutOfMemory(
            f"FLUX.2 [klein] needs about {need / gb:.1f} GB of memory and {available_bytes / gb:.1f} GB "
            f"are available{beside}: close other programs, or edit with klein alone "
            "(`mgie-desktop edit --mode klein`)"
        )


def load_pipeline(models_dir: Path, device: torch.device, plan: KleinPlan) -> Any:  # Flux2KleinPipeline
    """The pipeline over the bundle's ``klein/`` folder, placed for ``plan``; ModelFilesError when
    it is not installed or cannot be read."""
    Flux2KleinPipeline = load("diffusers", "Flux2KleinPipeline")
    AutoConfig, Qwen3ForCausalLM = load("transformers", "AutoConfig", "Qwen3ForCausalLM")
    where = folder(models_dir)
    if not is_klein_folder(where):
        raise ModelFilesError(KLEIN_NOT_INSTALLED)
    check_distilled(where)  # a base model placed there by hand: its steps and guidance are not ours
    try:
        config = AutoConfig.from_pretrained(where / "text_encoder")
        # hidden_states[k] is what layer k hands on (0: the embeddings) except for the last entry,
        # which transformers replaces by the final norm's output: one layer more than the last read
        # keeps [27] as the full model has it (28 of 36 layers; 27 would change it).
        config.num_hidden_layers = min(config.num_hidden_layers, max(TEXT_LAYERS) + 1)
        text_encoder = Qwen3ForCausalLM.from_pretrained(
            where / "text_encoder", config=config, dtype=torch.bfloat16 if plan.text_int8 else plan.dtype
        ).eval()
        text_encoder.lm_head = torch.nn.Identity()  # its logits (512 x 151,936 floats) are never read
        text_encoder.requires_grad_(False)  # diffusers' encode_prompt keeps no graph then
        if plan.text_int8:
            quantise_linears(text_encoder.model.layers, dense_prefill=cpu_runs_bf16())
        pipe = Flux2KleinPipeline.from_pretrained(where, text_encoder=text_encoder, dtype=plan.dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelFilesError(
            f"FLUX.2 [klein] in {where} could not be loaded ({type(exc).__name__}: {exc}); "
            "run `mgie-desktop models verify`"
        ) from exc
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_slicing()  # variations decode one megapixel at a time
    if plan.offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    return pipe


def settings_used(params: EditParams) -> EditParams:
    """What klein renders with, recorded in the history: the distilled model's own few steps and
    no guidance (it was distilled without)."""
    return replace(params, steps=KLEIN_STEPS, text_guidance=1.0, image_guidance=1.0)


class Klein:
    """The loaded model: renders edits, and keeps the last words' text embeddings, so a re-render
    or a variation of the same instruction does not run the text encoder again."""

    def __init__(self, pipe: Any):
        self.pipe = pipe
        self._read: tuple[str, torch.Tensor] | None = None  # the last words and their reading

    @property
    def dtype(self) -> torch.dtype:
        dtype: torch.dtype = self.pipe.transformer.dtype
        return dtype

    def embeddings(self, words: str) -> torch.Tensor:
        """The text encoder's reading of ``words``, in the transformer's dtype (the 8-bit text
        encoder computes in bf16, which an fp32 transformer would refuse)."""
        if self._read is None or self._read[0] != words:
            with torch.inference_mode():
                embeds, _ids = self.pipe.encode_prompt(prompt=words, text_encoder_out_layers=TEXT_LAYERS)
            self._read = (words, embeds.to(self.dtype))
        return self._read[1]

    def render(
        self,
        image: Image.Image,
        words: str,
        params: EditParams,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        finish: str = "detail",
        mask: Image.Image | None = None,
    ) -> tuple[list[Image.Image], EditParams]:
        """One edit per seed (one batch), carried back to ``image``'s size and kept inside ``mask``
        as MGIE's are; and the settings they were rendered with."""
        used, source = settings_used(params), klein_source(image, params.pixel_budget)

        def on_step_end(
            _pipe: object, step: int, _t: object, tensors: dict[str, torch.Tensor]
        ) -> dict[str, torch.Tensor]:
            if cancel is not None and cancel.is_set():
                raise EditCancelled("the edit was cancelled")
            latents = tensors["latents"]
            if not bool(torch.isfinite(latents).all()):
                raise RenderFailed(
                    f"the render overflowed at step {step + 1} of {used.steps} (its values are no "
                    "longer numbers); nothing was written"
                )
            if progress is not None:
                progress(step + 1, used.steps, lambda: packed_preview(latents, source.size))
            return tensors

        if cancel is not None and cancel.is_set():
            raise EditCancelled("the edit was cancelled")
        with torch.inference_mode():
            results: list[Image.Image] = self.pipe(
                image=source,
                prompt_embeds=self.embeddings(words).repeat(len(seeds), 1, 1),
                height=source.height,
                width=source.width,
                num_inference_steps=used.steps,
                guidance_scale=used.text_guidance,
                generator=[torch.Generator(device="cpu").manual_seed(seed) for seed in seeds],
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
            ).images
        if finish == "none":
            return results, used
        return finish_renders(image, source, results, finish, mask), used


def packed_preview(latents: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """A rough look at the first render while it denoises: three of the packed latent's channels,
    stretched to 0-255 (no VAE decode: a preview must cost next to nothing)."""
    w, h = size[0] // KLEIN_MULTIPLE, size[1] // KLEIN_MULTIPLE
    grid = latents[0, : w * h, :3].float().reshape(h, w, 3)
    low, high = grid.amin(dim=(0, 1)), grid.amax(dim=(0, 1))
    pixels = ((grid - low) / (high - low).clamp(min=1e-6) * 255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.BILINEAR)
