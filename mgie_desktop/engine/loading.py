"""Load a converted bundle: every part memory-mapped from safetensors, no random init."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from safetensors import SafetensorError
from safetensors.torch import load_file

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import LoadCancelled, ModelFilesError, OutOfMemory
from mgie_desktop.engine.devices import conv_memory_format, cpu_runs_bf16
from mgie_desktop.engine.int8 import quantise_linears
from mgie_desktop.engine.inventory import bundle_path, check_installed
from mgie_desktop.engine.memory import MemoryPlan
from mgie_desktop.engine.model import EditHead, MgieModel
from mgie_desktop.engine.prompt import PromptTokenizer


class BundleParts(Enum):
    """Which of the bundle's models an engine loads."""

    MGIE = "mgie"  # all of MGIE: the LLM half and the UNet (the plain model joins when first asked for)
    PLAIN = "plain"  # InstructPix2Pix's own model alone: the shared VAE and scheduler, no 7B LLM to load
    KLEIN = "klein"  # FLUX.2 [klein] alone: none of MGIE's models (it has its own VAE and text encoder)


@dataclass
class LoadedBundle:
    model: MgieModel | None  # None: loaded for plain InstructPix2Pix only (BundleParts.PLAIN)
    tokenizer: PromptTokenizer | None
    image_processor: Any  # transformers' CLIPImageProcessorPil
    unet: torch.nn.Module | None
    vae: torch.nn.Module | None  # None: loaded for FLUX.2 [klein] only (BundleParts.KLEIN)
    scheduler_config: dict[str, Any]
    info: dict[str, Any]  # the inventory's "model" section: token ids, sizes, prompt geometry

    @property
    def mgie_model(self) -> MgieModel:
        """``model``, for what only a whole MGIE bundle can do (callers check ``MgieEngine.has_mgie``)."""
        assert self.model is not None, "loaded for plain InstructPix2Pix only"
        return self.model

    @property
    def shared_vae(self) -> torch.nn.Module:
        """``vae``, for MGIE and plain InstructPix2Pix (klein has its own)."""
        assert self.vae is not None, "loaded for FLUX.2 [klein] only"
        return self.vae

    @property
    def prompt_tokenizer(self) -> PromptTokenizer:
        """``tokenizer``, as ``mgie_model`` is ``model``."""
        assert self.tokenizer is not None, "loaded for plain InstructPix2Pix only"
        return self.tokenizer


# The parts of a load, in order, as the window names them while it waits.
LOAD_PARTS = (
    "the language model",
    "the vision tower and edit head",
    "placing the language model",
    "the UNet",
    "the VAE",
)
PLAIN_LOAD_PARTS = ("the VAE",)  # InstructPix2Pix's own UNet and text encoder load on its first render
KLEIN_LOAD_PARTS = ("FLUX.2 [klein]",)
LoadProgress = Callable[[str, int, int], None]  # part being loaded, parts done, parts in all


def load_bundle(
    models_dir: Path,
    device: torch.device,
    dtype: torch.dtype,
    plan: MemoryPlan | None = None,
    cancel: threading.Event | None = None,
    progress: LoadProgress | None = None,
    parts: BundleParts = BundleParts.MGIE,
) -> LoadedBundle:
    """``cancel`` is checked between the parts (a part itself cannot be interrupted), so
    quitting while the models load waits for one part at most, not for all of them.
    ``progress`` hears of each part as it starts."""
    inventory = check_installed(models_dir)
    bundle = bundle_path(models_dir)
    info = inventory["model"]
    names = {
        BundleParts.MGIE: LOAD_PARTS,
        BundleParts.PLAIN: PLAIN_LOAD_PARTS,
        BundleParts.KLEIN: KLEIN_LOAD_PARTS,
    }[parts]
    steps = iter(range(len(names)))

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise LoadCancelled("loading the models was stopped")
        index = next(steps, None)
        if progress is not None and index is not None:
            progress(names[index], index, len(names))

    try:
        if parts is BundleParts.KLEIN:  # the engine loads it (engine.klein), after this check
            check()
            return LoadedBundle(None, None, None, None, None, {}, info)
        if parts is BundleParts.PLAIN:
            return _load_plain_share(
                bundle, info, device, dtype, plan or MemoryPlan("all", "none", "default"), check
            )
        return _load(bundle, info, device, dtype, plan or MemoryPlan("all", "none", "default"), check)
    except (ModelFilesError, LoadCancelled):
        raise
    except torch.OutOfMemoryError as exc:  # a RuntimeError, but not a damaged file
        raise OutOfMemory(
            f"not enough {device.type.upper()} memory to load the models ({str(exc).splitlines()[0]}); close other "
            "programs using the GPU, or choose a smaller memory mode (--memory offload, --llm-quant 4bit)"
        ) from exc
    except (OSError, SafetensorError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelFilesError(
            f"the models in {models_dir} could not be loaded ({type(exc).__name__}: {exc}); "
            "run `mgie-desktop models verify` to find the damaged file"
        ) from exc


def _load(
    bundle: Path,
    info: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    plan: MemoryPlan,
    check: Callable[[], None],
) -> LoadedBundle:
    UNet2DConditionModel = load("diffusers", "UNet2DConditionModel")
    CLIPImageProcessorPil, CLIPVisionModel, LlamaForCausalLM = load(
        "transformers", "CLIPImageProcessorPil", "CLIPVisionModel", "LlamaForCausalLM"
    )

    check()  # the language model
    tokenizer = PromptTokenizer(bundle / "tokenizer")
    if plan.llm_quant == "none":
        llm = LlamaForCausalLM.from_pretrained(bundle / "llm", dtype=dtype)
    elif device.type == "cpu":  # int8 rows from the memory-mapped fp16 weights, one layer at a time
        llm = LlamaForCausalLM.from_pretrained(bundle / "llm", dtype=torch.float16)
        quantise_linears(llm, dense_prefill=cpu_runs_bf16())
        llm.to(dtype)
    else:  # bitsandbytes places the quantised LLM on the GPU itself
        BitsAndBytesConfig = load("transformers", "BitsAndBytesConfig")

        quant = (
            BitsAndBytesConfig(load_in_8bit=True)
            if plan.llm_quant == "8bit"
            else BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
            )
        )
        llm = LlamaForCausalLM.from_pretrained(
            bundle / "llm", dtype=dtype, quantization_config=quant, device_map={"": device.index or 0}
        )
    check()  # the vision tower and edit head
    vision = CLIPVisionModel.from_pretrained(bundle / "vision", dtype=dtype)
    image_processor = CLIPImageProcessorPil.from_pretrained(bundle / "vision")

    heads = load_file(str(bundle / "mgie.safetensors"))
    shape = EditHead.shape_from_state_dict(heads)
    with init_empty_weights():
        edit_head = EditHead(**shape, nhead=int(info.get("edit_head_heads", 4)))
        out_features, in_features = heads["mm_projector.weight"].shape
        projector = torch.nn.Linear(in_features, out_features)
    edit_head.load_state_dict(
        {k.removeprefix("edit_head."): v.to(dtype) for k, v in heads.items() if k.startswith("edit_head.")},
        strict=True,
        assign=True,
    )
    projector.load_state_dict(
        {"weight": heads["mm_projector.weight"].to(dtype), "bias": heads["mm_projector.bias"].to(dtype)},
        strict=True,
        assign=True,
    )
    model = MgieModel(
        vision,
        projector,
        llm,
        edit_head,
        heads["emb"].to(dtype),
        vision_select_layer=int(info.get("vision_select_layer", -2)),
    )
    model.eval()
    check()  # placing the language model
    _place_llm_half(model, device, plan)
    check()  # the UNet
    # Under offload the pipeline moves the UNet and VAE to the GPU itself, one at a time.
    home = device if plan.placement == "all" else torch.device("cpu")
    form = conv_memory_format(device, dtype)
    unet = (
        UNet2DConditionModel.from_pretrained(bundle / "unet", torch_dtype=dtype)
        .eval()
        .to(home, memory_format=form)
    )
    check()  # the VAE
    vae = _load_vae(bundle, home, dtype, form)
    return LoadedBundle(model, tokenizer, image_processor, unet, vae, _scheduler_config(bundle), info)


def _load_plain_share(
    bundle: Path,
    info: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    plan: MemoryPlan,
    check: Callable[[], None],
) -> LoadedBundle:
    """What plain InstructPix2Pix shares with MGIE: the VAE and the scheduler's settings."""
    check()  # the VAE
    home = device if plan.placement == "all" else torch.device("cpu")
    vae = _load_vae(bundle, home, dtype, conv_memory_format(device, dtype))
    return LoadedBundle(None, None, None, None, vae, _scheduler_config(bundle), info)


def _load_vae(
    bundle: Path, home: torch.device, dtype: torch.dtype, form: torch.memory_format
) -> torch.nn.Module:
    AutoencoderKL = load("diffusers", "AutoencoderKL")
    vae: torch.nn.Module = (
        AutoencoderKL.from_pretrained(bundle / "vae", torch_dtype=dtype).eval().to(home, memory_format=form)
    )
    return vae


def _scheduler_config(bundle: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(
        (bundle / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8")
    )
    return config


def _place_llm_half(model: MgieModel, device: torch.device, plan: MemoryPlan) -> None:
    """all: on the device. offload: on the CPU, moved over for each instruct() (see
    MgieEngine.llm_half_on_device). Quantised: the LLM is on the GPU already; its small
    companions join it. sequential: layer-by-layer offload of the LLM (accelerate hooks)."""
    if plan.placement == "all" or plan.llm_quant != "none":
        for part in (model.vision, model.projector, model.edit_head):
            part.to(device)
        model.emb = model.emb.to(device)
        if plan.llm_quant == "none":
            model.llm.to(device)
    elif plan.placement == "sequential":
        cpu_offload = load("accelerate", "cpu_offload")

        cpu_offload(model.llm, execution_device=device)
        for part in (model.vision, model.projector, model.edit_head):
            part.to(device)
        model.emb = model.emb.to(device)
