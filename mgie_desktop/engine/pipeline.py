"""The two halves of an MGIE edit.

``instruct(image, instruction)``: LLaVA reads the photo and the instruction, writes the
expressive instruction and yields the hidden states of ``[IMG0..7]``; the edit head turns
them into UNet conditioning. ``render(image, conditioning, params)``: InstructPix2Pix with
3-way guidance against the cached null conditioning. Re-render and variations reuse the
first half; everything here follows apple/ml-mgie's demo step for step, with the
deviations named where they are made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import EditCancelled, InputError, ModelFilesError, RenderFailed
from mgie_desktop.core.finishing import finish_renders, working_source
from mgie_desktop.core.instruction import InstructionLimit, check_text
from mgie_desktop.core.logs import log
from mgie_desktop.core.masks import check_mask, fit_mask, is_full
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.sizing import check_aspect, working_size
from mgie_desktop.engine import klein, plain
from mgie_desktop.engine.convert import PLAIN_DIR
from mgie_desktop.engine.devices import (
    DTYPES,
    available_memory,
    cpu_fallback_note,
    cpu_runs_bf16,
    dtype_for,
    free_device_memory,
    pick_device,
    quantization_available,
    slice_attention,
)
from mgie_desktop.engine.inventory import KLEIN_DIR, bundle_path, bundle_weight_bytes
from mgie_desktop.engine.loading import BundleParts, LoadedBundle, LoadProgress, load_bundle
from mgie_desktop.engine.masking import LatentBlend
from mgie_desktop.engine.memory import MemoryPlan, plan_cpu, plan_memory
from mgie_desktop.engine.prompt import IM_PATCH, IMG_TOKENS, build_prompt, clean_expressive
from mgie_desktop.engine.runtime import quiet_libraries
from mgie_desktop.engine.schedulers import make_scheduler
from mgie_desktop.engine.steering import steered_answer_ids, teacher_forced_states

MAX_NEW_TOKENS = 96
VAE_TILING_AREA = 1024 * 1024
NO_REPEAT_NGRAM = 3
N_VISUAL = len(IMG_TOKENS)

# Progress: (step done, total steps, a function that returns a cheap preview image).
ProgressFn = Callable[[int, int, Callable[[], Image.Image]], None]

# Linear map from SD-1.5 latents to approximate RGB (community-measured factors, as used by
# several UIs for live previews): a preview costs a 4x3 matmul instead of a VAE decode.
_LATENT_RGB = torch.tensor(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]
)


@dataclass
class Instruction:
    """The LLM half's result; ``conditioning`` drives any number of renders."""

    text: str  # the expressive instruction, cleaned as the demo did
    visual_tokens: torch.Tensor  # (1, 8, llm_dim) hidden states predicting [IMG0..7]
    conditioning: torch.Tensor  # (1, 77, cross_attention_dim)
    emitted_image_tokens: bool  # False: the reference's fallback slice was used
    new_tokens: int
    seconds: float = 0.0
    answer: str = ""  # the whole answer before [IMG0]: what steering with it reproduces
    steered: bool = False  # the text was a person's (steer), not generated


@dataclass
class EditOutcome:
    image: Image.Image
    instruction: Instruction
    params: EditParams
    working_size: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)


class _StopAfterVisualTokens:
    """Stop once the 8 tokens from ``[IMG0]`` on are out: the hidden states the edit head
    needs are then all computed, and the answer text ends at ``[IMG0]`` anyway."""

    def __init__(self, prompt_len: int, img0_id: int, cancel: threading.Event | None = None):
        self.prompt_len, self.img0_id, self.cancel = prompt_len, img0_id, cancel

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.Tensor:
        new = input_ids[0, self.prompt_len :]
        hits = (new == self.img0_id).nonzero()
        done = bool(len(hits)) and new.numel() >= int(hits[0]) + N_VISUAL
        done = done or (self.cancel is not None and self.cancel.is_set())
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class MgieEngine:
    def __init__(
        self,
        models_dir: Path | None,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        memory: str = "auto",
        llm_quant: str = "auto",
        bundle: LoadedBundle | None = None,
        compile_unet: bool = False,
        cancel: threading.Event | None = None,
        progress: LoadProgress | None = None,
        precision: str = "auto",
        parts: BundleParts = BundleParts.MGIE,
    ):
        """Load the bundle in ``models_dir``, or use ``bundle`` (modules already on the device).
        Setting ``cancel`` stops the load between parts (LoadCancelled); ``progress`` hears of
        each part as it starts. ``precision`` (auto, fp32, bf16, fp16) unless ``dtype`` is given;
        on the CPU it is checked against the memory available before anything loads.
        ``parts`` PLAIN: only what plain InstructPix2Pix needs (``render_plain``), not the 7B LLM."""
        quiet_libraries()
        self.device = pick_device(device)
        self.device_note = cpu_fallback_note(device, self.device)  # why not the GPU, when auto chose the CPU
        if self.device_note:
            log.info(self.device_note)
        self.precision_reason = ""
        cpu_plan = None
        self.precision = precision
        if dtype is None and bundle is None and self.device.type == "cpu" and parts is not BundleParts.KLEIN:
            assert models_dir is not None, "a models folder, or a bundle already loaded"
            plan_memory(self.device.type, None, memory, llm_quant)  # refuses GPU-only modes in one line
            cpu_plan = plan_cpu(
                precision,
                *_weights_to_load(Path(models_dir), parts, llm_quant),
                available_memory(),
                cpu_runs_bf16(),
            )
            dtype, self.precision_reason = DTYPES[cpu_plan.precision], cpu_plan.reason
        self.dtype = dtype or dtype_for(self.device, precision)
        started = time.perf_counter()
        if bundle is None:
            assert models_dir is not None, "a models folder, or a bundle already loaded"
            self.memory = (
                MemoryPlan("all", cpu_plan.llm_quant, cpu_plan.reason)
                if cpu_plan
                else plan_memory(
                    self.device.type,
                    free_device_memory(self.device),
                    memory,
                    llm_quant,
                    quantization_available(),
                )
            )
            bundle = load_bundle(
                Path(models_dir), self.device, self.dtype, self.memory, cancel, progress, parts
            )
        else:
            self.memory = MemoryPlan("all", "none", "modules given")
        # Faster steps after a one-off compilation (tens of seconds) on the first render.
        self.compile_unet = compile_unet
        if compile_unet and bundle.unet is not None:
            bundle.unet = cast(torch.nn.Module, torch.compile(bundle.unet))
        self.bundle = bundle
        self.load_seconds = time.perf_counter() - started
        self.forced_new_tokens: int | None = None  # benchmarks: both paths generate the same count
        self.tokens = self.bundle.info["tokens"]
        self.has_mgie = bundle.model is not None  # False: loaded for plain InstructPix2Pix only
        self.instruction_limit = self._instruction_limit() if self.has_mgie else None
        self._null: torch.Tensor | None = None
        self._pipe: Any = None  # diffusers pipelines, made when first asked for
        self._plain_pipe: Any = None  # InstructPix2Pix's own model, loaded when first asked for
        self._klein: klein.Klein | None = None  # FLUX.2 [klein], loaded when first asked for
        self.klein_plan: klein.KleinPlan | None = None
        self.models_dir = Path(models_dir) if models_dir is not None else None
        if parts is BundleParts.KLEIN:  # loaded now: it is all this engine is for
            self.dtype = self.klein_model.dtype
            self.precision_reason = self.klein_plan.reason if self.klein_plan else ""
            self.load_seconds = time.perf_counter() - started

    def _instruction_limit_now(self) -> InstructionLimit:
        assert self.instruction_limit is not None, "set when the bundle has MGIE (_require_mgie)"
        return self.instruction_limit

    def _instruction_limit(self) -> InstructionLimit:
        """The LLM's context, less the prompt around the instruction and room for the answer."""
        b = self.bundle
        image_len, im_start_end = int(b.info["image_token_len"]), bool(b.info["use_im_start_end"])
        frame = len(b.prompt_tokenizer.encode(build_prompt("", image_len, im_start_end)))

        def count(text: str) -> int:
            return len(b.prompt_tokenizer.encode(build_prompt(text, image_len, im_start_end))) - frame

        context = int(getattr(b.mgie_model.llm.config, "max_position_embeddings", 2048))
        return InstructionLimit(count, max(0, context - frame - MAX_NEW_TOKENS))

    # ---- first half -------------------------------------------------------------------
    def instruct(
        self, image: Image.Image, instruction: str, cancel: threading.Event | None = None
    ) -> Instruction:
        self._require_mgie()
        check_aspect(*image.size)  # before CLIP's resize stretches the short side to 224 px
        _require_words(instruction)
        self._instruction_limit_now().check(instruction)
        with self.llm_half_on_device():
            guide = self._instruct(image, instruction, cancel)
            self.null_conditioning  # noqa: B018 (computed and cached while the edit head is on the GPU)
        return guide

    @contextmanager
    def llm_half_on_device(self) -> Iterator[None]:
        """Under ``offload`` the LLM half lives on the CPU and visits the GPU for instruct()."""
        if self.memory.placement != "offload" or self.memory.llm_quant != "none":
            yield
            return
        model = self.bundle.mgie_model
        model.to(self.device)
        try:
            yield
        finally:
            model.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _prompt_embeds(self, image: Image.Image, instruction: str) -> tuple[list[int], torch.Tensor]:
        """The prompt's token ids and its input embeddings, the image's features spliced in."""
        b, model = self.bundle, self.bundle.mgie_model
        prompt = build_prompt(instruction, int(b.info["image_token_len"]), bool(b.info["use_im_start_end"]))
        ids = b.prompt_tokenizer.encode(prompt)
        input_ids = torch.tensor([ids], device=self.device)

        pixels = b.image_processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"]
        features = model.image_features(pixels.to(self.device, self.dtype))
        embeds = model.llm.get_input_embeddings()(input_ids).clone()
        patch = (input_ids[0] == self.tokens[IM_PATCH]).nonzero().flatten()
        if patch.numel() != features.shape[1] or int(patch[-1] - patch[0]) + 1 != patch.numel():
            raise RuntimeError("the prompt's image patch tokens do not match the vision tower's patch count")
        embeds[0, patch] = features[0].to(embeds.dtype)
        return ids, embeds

    @torch.inference_mode()
    def _instruct(self, image: Image.Image, instruction: str, cancel: threading.Event | None) -> Instruction:
        started = time.perf_counter()
        b, model = self.bundle, self.bundle.mgie_model
        ids, embeds = self._prompt_embeds(image, instruction)
        input_ids = torch.tensor([ids], device=self.device)

        img0 = self.tokens[IMG_TOKENS[0]]
        prompt_len = len(ids)
        # Keep only what the [IMG] slice can reach: the prompt's last 9 final-norm states
        # (the fallback slice for very short answers) and one per generated token.
        keep_from = prompt_len - (N_VISUAL + 1)
        if img0 in ids:  # an instruction that literally contains "[IMG0]"
            keep_from = min(keep_from, ids.index(img0) - 1)
        captured: list[torch.Tensor] = []

        def capture(_module: object, _inputs: object, output: torch.Tensor) -> None:
            captured.append(output[0, keep_from:] if not captured else output[0])

        GenerationConfig, StoppingCriteriaList = load(
            "transformers", "GenerationConfig", "StoppingCriteriaList"
        )

        eos = b.prompt_tokenizer.eos_id
        forced = {"min_new_tokens": self.forced_new_tokens} if self.forced_new_tokens else {}
        config = GenerationConfig(
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.forced_new_tokens or MAX_NEW_TOKENS,
            **forced,
            no_repeat_ngram_size=NO_REPEAT_NGRAM,
            eos_token_id=eos,
            pad_token_id=model.llm.config.pad_token_id,
            bos_token_id=b.prompt_tokenizer.bos_id,
            return_dict_in_generate=True,
        )
        hook = model.llm.model.norm.register_forward_hook(capture)
        try:
            # input_ids alongside inputs_embeds: no_repeat_ngram then sees the prompt, as the
            # reference's did (it banned repeats of the prompt's own trigrams too).
            out = model.llm.generate(
                input_ids=input_ids,
                inputs_embeds=embeds,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([_StopAfterVisualTokens(prompt_len, img0, cancel)]),
            )
        finally:
            hook.remove()
        if cancel is not None and cancel.is_set():
            raise EditCancelled("the edit was cancelled")
        sequence = out.sequences[0].tolist()
        new = sequence[prompt_len:]
        states = torch.cat([c.reshape(-1, c.shape[-1]) for c in captured])
        p = _reference_slice_start(sequence, prompt_len, len(new), img0, eos, config.max_new_tokens)
        visual = states[p - keep_from : p - keep_from + N_VISUAL].unsqueeze(0)

        conditioning = model.conditioning(visual)
        answer = b.prompt_tokenizer.decode_answer(new)
        return Instruction(
            clean_expressive(answer),
            visual,
            conditioning,
            img0 in new,
            len(new),
            time.perf_counter() - started,
            answer=answer,
        )

    def steer(self, image: Image.Image, instruction: str, expressive: str) -> Instruction:
        """The edit driven by ``expressive`` (a person's own expressive instruction) instead of the
        one MGIE would write: its eight visual tokens come from one teacher-forced pass of the LLM,
        without generating (engine.steering)."""
        self._require_mgie()
        _require_words(instruction)
        self._instruction_limit_now().check(instruction)
        with self.llm_half_on_device():
            guide = self._steer(image, instruction, expressive)
            self.null_conditioning  # noqa: B018 (cached while the edit head is on the GPU)
        return guide

    @torch.inference_mode()
    def _steer(self, image: Image.Image, instruction: str, expressive: str) -> Instruction:
        started = time.perf_counter()
        b, model = self.bundle, self.bundle.mgie_model
        answer = steered_answer_ids(b.prompt_tokenizer, expressive, [self.tokens[t] for t in IMG_TOKENS])
        ids, embeds = self._prompt_embeds(image, instruction)
        context = int(getattr(model.llm.config, "max_position_embeddings", 2048))
        if len(ids) + len(answer) > context:
            raise InputError(
                f"the expressive instruction is too long: {len(answer)} tokens with the prompt's "
                f"{len(ids)} exceed the model's {context}"
            )
        states = teacher_forced_states(model.llm, embeds, torch.tensor([answer], device=self.device))
        sequence = ids + answer
        # The reference's rule, with no generation cap to have stopped at: a person's text may be long.
        p = _reference_slice_start(
            sequence,
            len(ids),
            len(answer),
            self.tokens[IMG_TOKENS[0]],
            b.prompt_tokenizer.eos_id,
            max_new=max(MAX_NEW_TOKENS, len(answer) + 1),
        )
        visual = states[p : p + N_VISUAL].unsqueeze(0)
        return Instruction(
            expressive.strip(),
            visual,
            model.conditioning(visual),
            True,
            len(answer),
            time.perf_counter() - started,
            answer=expressive.strip(),
            steered=True,
        )

    @property
    def klein_loaded(self) -> bool:
        return self._klein is not None

    @property
    def klein_model(self) -> klein.Klein:
        """FLUX.2 [klein], loaded the first time it is asked for (ModelFilesError when it is not
        installed)."""
        if self._klein is None:
            if self.models_dir is None:
                raise ModelFilesError("FLUX.2 [klein] needs an installed bundle")
            if self.klein_plan is None:
                self.klein_plan = self._klein_plan()
            if self.device.type == "cpu":
                beside = ", beside MGIE's models already loaded" if self.bundle.vae is not None else ""
                klein.check_room(self.models_dir, self.klein_plan.dtype, available_memory(), beside)
            self._klein = klein.Klein(klein.load_pipeline(self.models_dir, self.device, self.klein_plan))
        return self._klein

    def _klein_plan(self) -> klein.KleinPlan:
        assert self.models_dir is not None
        on_cpu = self.device.type == "cpu"
        return klein.plan_for(
            self.device,
            self.precision,
            on_cpu and cpu_runs_bf16(),
            None if on_cpu else free_device_memory(self.device),
            on_cpu and klein.fp32_fits(self.models_dir, available_memory()),
        )

    def _require_mgie(self) -> None:
        if not self.has_mgie:  # a caller's mistake, not the person's: the engine was made for render_plain
            raise RuntimeError("this engine loaded plain InstructPix2Pix only (BundleParts.PLAIN), not MGIE")

    def warm_up(self, cancel: threading.Event | None = None) -> float:
        """One tiny render, so the first real edit does not pay for kernel selection and
        lazy initialisation (1-3 s on first use; far more with --compile). Returns the seconds
        it took; ``cancel`` stops it (EditCancelled)."""
        started = time.perf_counter()
        image = Image.new("RGB", (64, 64), (128, 128, 128))
        params = EditParams(steps=1, pixel_budget=64 * 64)
        if self.has_mgie:
            self.render(image, self.null_conditioning, params, cancel=cancel)
        elif self.bundle.vae is None:  # loaded for FLUX.2 [klein] alone
            self.render_klein(image, "warm up", params, [0], cancel=cancel)
        else:
            self.render_plain(image, "warm up", params, cancel=cancel)
        return time.perf_counter() - started

    @property
    def null_conditioning(self) -> torch.Tensor:
        """The edit head applied to zeros: the "no instruction" branch of the guidance."""
        if self._null is None:
            with torch.inference_mode():
                self._null = self.bundle.mgie_model.null_conditioning().to(self.device)
        return self._null

    # ---- second half ------------------------------------------------------------------
    def render(
        self,
        image: Image.Image,
        conditioning: torch.Tensor,
        params: EditParams,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        finish: str = "detail",
        mask: Image.Image | None = None,
    ) -> Image.Image:
        """The edited image at ``image``'s own size. ``finish="detail"`` carries the change the
        model made back onto the full-resolution photo; ``"upscale"`` just resizes the result.
        ``mask`` (grey, any size: white edits, black keeps) limits the edit to part of it."""
        return self.render_variations(
            image, conditioning, params, [params.seed], progress, cancel, finish, mask
        )[0]

    def render_plain(
        self,
        image: Image.Image,
        instruction: str,
        params: EditParams,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        finish: str = "detail",
        mask: Image.Image | None = None,
    ) -> Image.Image:
        """InstructPix2Pix reading ``instruction`` itself (no MGIE), with the same settings, seed,
        VAE and finishing: the comparison MGIE's paper makes, on the person's own photo."""
        _require_words(instruction)
        return self.render_variations(
            image, None, params, [params.seed], progress, cancel, finish, mask, plain_text=instruction.strip()
        )[0]

    def render_klein(
        self,
        image: Image.Image,
        instruction: str,
        params: EditParams,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        finish: str = "detail",
        mask: Image.Image | None = None,
    ) -> tuple[list[Image.Image], EditParams]:
        """FLUX.2 [klein] reading ``instruction`` itself: one edit per seed, finished as MGIE's are,
        and the settings it rendered with (a distilled model takes its own few steps)."""
        _require_words(instruction)
        params = params.validated()
        if mask is not None and not is_full(mask):
            check_mask(mask)
        return self.klein_model.render(
            image, instruction.strip(), params, seeds, progress, cancel, finish, mask
        )

    @property
    def plain_pipeline(self) -> Any:  # diffusers' StableDiffusionInstructPix2PixPipeline
        if self._plain_pipe is None:
            if self.models_dir is None:
                raise ModelFilesError("InstructPix2Pix's own model needs an installed bundle")

            b = self.bundle
            # Where the engine keeps its own UNet: on the device, or on the CPU under offload.
            home = self.device if self.memory.placement == "all" else torch.device("cpu")
            self._plain_pipe = self._placed(
                plain.plain_pipeline(
                    bundle_path(self.models_dir), b.shared_vae, b.scheduler_config, home, self.dtype
                )
            )
            if self.compile_unet:
                self._plain_pipe.unet = torch.compile(self._plain_pipe.unet)
        return self._plain_pipe

    def render_variations(
        self,
        image: Image.Image,
        conditioning: torch.Tensor | None,
        params: EditParams,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        finish: str = "detail",
        mask: Image.Image | None = None,
        plain_text: str | None = None,
    ) -> list[Image.Image]:
        """One image per seed from a single batched denoising run (same conditioning); each
        equals what ``render`` gives for that seed, up to batched-arithmetic rounding.
        ``finish="none"``: the renders at working size, unfinished (core.finishing does the rest).
        ``plain_text``: InstructPix2Pix's own model renders these words instead (``conditioning``
        is then unused)."""
        params = params.validated()
        source = working_source(image, params.pixel_budget)
        size = source.size
        pipe = self.plain_pipeline if plain_text is not None else self.pipeline
        pipe.scheduler = make_scheduler(params.scheduler, self.bundle.scheduler_config)
        # Large working sizes decode in tiles: the VAE's activations grow with the area.
        if size[0] * size[1] > VAE_TILING_AREA:
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()

        masked = mask is not None and not is_full(mask)
        if masked and mask is not None:  # held inside the mask while it denoises (engine.masking)
            check_mask(mask)
            if params.scheduler == "unipc":  # its corrector would redo each step from the unblended sample
                pipe.scheduler = type(pipe.scheduler).from_config(
                    pipe.scheduler.config, disable_corrector=list(range(params.steps))
                )
            blend = LatentBlend(pipe, source, fit_mask(mask, size), seeds, self.device, self.dtype)

        def on_step_end(
            _pipe: object, step: int, _timestep: object, tensors: dict[str, torch.Tensor]
        ) -> dict[str, torch.Tensor]:
            if cancel is not None and cancel.is_set():
                raise EditCancelled("the edit was cancelled")
            if masked:
                tensors["latents"] = blend.blend(step, tensors["latents"])
            if not bool(torch.isfinite(tensors["latents"]).all()):  # else a black picture passes for a result
                raise RenderFailed(
                    f"the render overflowed at step {step + 1} of {params.steps} (its values are "
                    "no longer numbers): lower the text or image guidance; nothing was written"
                )
            if progress is not None:
                latents = tensors["latents"]
                progress(step + 1, params.steps, lambda: latents_preview(latents))
            return tensors

        if cancel is not None and cancel.is_set():
            raise EditCancelled("the edit was cancelled")
        generators = [torch.Generator(device=self.device).manual_seed(seed) for seed in seeds]
        with torch.inference_mode():
            n = len(seeds)  # one batch row per seed: image, conditioning and null repeated
            words: dict[str, Any]
            if plain_text is not None:
                words = {"prompt": plain_text if n == 1 else [plain_text] * n}
            else:
                assert conditioning is not None, "MGIE renders from the LLM half's conditioning"
                words = {
                    "prompt_embeds": conditioning.to(self.dtype).repeat(n, 1, 1),
                    "negative_prompt_embeds": self.null_conditioning.to(self.dtype).repeat(n, 1, 1),
                }
            results: list[Image.Image] = pipe(
                image=source if n == 1 else [source] * n,
                **words,
                num_inference_steps=params.steps,
                guidance_scale=params.text_guidance,
                image_guidance_scale=params.image_guidance,
                generator=generators[0] if n == 1 else generators,
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
            ).images
        if finish == "none":  # the caller finishes them (a remote client, on its own computer)
            return results
        return finish_renders(image, source, results, finish, mask)

    @property
    def pipeline(self) -> Any:  # diffusers' StableDiffusionInstructPix2PixPipeline
        self._require_mgie()
        if self._pipe is None:
            StableDiffusionInstructPix2PixPipeline = load(
                "diffusers", "StableDiffusionInstructPix2PixPipeline"
            )

            b = self.bundle
            self._pipe = self._placed(
                StableDiffusionInstructPix2PixPipeline(
                    vae=b.shared_vae,
                    text_encoder=None,
                    tokenizer=None,
                    unet=b.unet,
                    scheduler=make_scheduler("euler_a", b.scheduler_config),
                    safety_checker=None,
                    feature_extractor=None,
                    requires_safety_checker=False,
                )
            )
        return self._pipe

    def _placed(self, pipe: Any) -> Any:
        """A pipeline set up for this device and memory plan: no progress bars, attention in
        slices where the GPU shares the system's memory, the plan's offload."""
        pipe.set_progress_bar_config(disable=True)
        if slice_attention(self.device):
            pipe.enable_attention_slicing()
        if self.memory.placement == "offload":
            pipe.enable_model_cpu_offload(device=self.device)
        elif self.memory.placement == "sequential":
            pipe.enable_sequential_cpu_offload(device=self.device)
        return pipe

    def memory_report(self) -> dict[str, Any]:
        """What the status bar shows: the plan, and GPU memory in use where there is a GPU."""
        report: dict[str, Any] = {"placement": self.memory.placement, "llm_quant": self.memory.llm_quant}
        if self.device.type == "cuda":
            report["gpu_allocated_mb"] = torch.cuda.memory_allocated(self.device) / 2**20
            report["gpu_total_mb"] = torch.cuda.get_device_properties(self.device).total_memory / 2**20
        return report

    # ---- both ---------------------------------------------------------------------------
    def edit(
        self,
        image: Image.Image,
        instruction: str,
        params: EditParams,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        finish: str = "detail",
        expressive: str | None = None,
        mask: Image.Image | None = None,
    ) -> EditOutcome:
        """``expressive``: steer the edit with this text instead of generating one; ``mask``:
        edit only where it is white."""
        params = params.validated()
        if mask is not None:
            check_mask(mask)  # before minutes of work
        guide = (
            self.steer(image, instruction, expressive) if expressive else self.instruct(image, instruction)
        )
        started = time.perf_counter()
        result = self.render(image, guide.conditioning, params, progress, cancel, finish, mask)
        timings = {"instruct_s": guide.seconds, "render_s": time.perf_counter() - started}
        size = working_size(image.width, image.height, params.pixel_budget)
        return EditOutcome(result, guide, params, size, timings)


def _weights_to_load(models_dir: Path, parts: BundleParts, llm_quant: str) -> tuple[str, int, int]:
    """The LLM quantisation, the 16-bit bytes of what ``parts`` loads and of its LLM, for plan_cpu."""
    if parts is BundleParts.PLAIN:  # its own UNet and text encoder, the shared VAE; no LLM to quantise
        return (
            "none",
            bundle_weight_bytes(models_dir, PLAIN_DIR + "/") + bundle_weight_bytes(models_dir, "vae/"),
            0,
        )
    # FLUX.2 [klein] is no part of an MGIE load: it plans its own memory when it joins (engine.klein).
    mgie = bundle_weight_bytes(models_dir) - bundle_weight_bytes(models_dir, KLEIN_DIR + "/")
    return llm_quant, mgie, bundle_weight_bytes(models_dir, "llm/")


def _require_words(instruction: str) -> None:
    if not instruction or not instruction.strip():
        raise InputError("the instruction is empty: say what the edit should do")
    check_text(instruction)  # before any tokenizer: CLIP's (plain InstructPix2Pix) fails with a TypeError


def _reference_slice_start(
    sequence: list[int], prompt_len: int, n_new: int, img0: int, eos: int, max_new: int = MAX_NEW_TOKENS
) -> int:
    """Start of the 8 hidden states the reference feeds the edit head.

    The reference: ``p = min(seq.index([IMG0]) - 1 if present else L - 9, L - 9)`` where L
    (= prompt + new - 1) is the number of hidden states it kept. It generated until EOS or 96
    tokens; when we stopped early after [IMG7] it would have produced at least one more
    token, so its L is one larger than ours.
    """
    stopped_naturally = n_new >= max_new or (n_new > 0 and sequence[-1] == eos)
    length = prompt_len + n_new - 1 + (0 if stopped_naturally else 1)
    p = sequence.index(img0) - 1 if img0 in sequence else length - 9
    return min(p, length - 9)


def latents_preview(latents: torch.Tensor) -> Image.Image:
    """A cheap RGB approximation of the first latent in the batch (1/8 resolution)."""
    rgb = torch.einsum("chw,cr->hwr", latents[0].float().cpu(), _LATENT_RGB)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")
