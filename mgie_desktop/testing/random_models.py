"""MGIE's modules at a chosen size with random weights, built in memory from configs.

``FULL`` is the real geometry (LLaMA-7B, CLIP ViT-L/14, the reference edit head, the SD-1.5
UNet with 8 input channels and its VAE): for benchmarks on a GPU, where timings do not depend
on weight values and nothing has to be downloaded. ``SMALL`` exercises the same code quickly.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from mgie_desktop import __version__
from mgie_desktop.core.deferred import load
from mgie_desktop.engine.inventory import bundle_path, write_inventory
from mgie_desktop.engine.loading import LoadedBundle
from mgie_desktop.engine.model import EditHead, MgieModel
from mgie_desktop.engine.prompt import IMG_TOKENS, PromptTokenizer
from mgie_desktop.engine.tiny import _write_llava_tokenizer

SD15_UNET = {
    "sample_size": 64,
    "in_channels": 8,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": [320, 640, 1280, 1280],
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD15_VAE = {
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "scaling_factor": 0.18215,
}
IP2P_SCHEDULER = {
    "_class_name": "EulerAncestralDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
}


@dataclass(frozen=True)
class Sizes:
    llm_hidden: int
    llm_layers: int
    llm_heads: int
    llm_intermediate: int
    llm_vocab: int
    clip_hidden: int
    clip_layers: int
    clip_heads: int
    clip_intermediate: int
    head_dim: int
    head_layers: int
    head_ff: int
    cond_dim: int
    unet: dict = field(default_factory=dict)
    vae: dict = field(default_factory=dict)


FULL = Sizes(4096, 32, 32, 11008, 32011, 1024, 24, 16, 4096, 512, 4, 2048, 768, SD15_UNET, SD15_VAE)
SMALL = Sizes(
    64,
    2,
    4,
    128,
    512,
    32,
    3,
    2,
    64,
    32,
    2,
    64,
    32,
    {
        **SD15_UNET,
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "cross_attention_dim": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "norm_num_groups": 32,
    },
    {**SD15_VAE, "block_out_channels": [16, 16, 16, 16], "layers_per_block": 1, "norm_num_groups": 8},
)


def random_bundle(sizes: Sizes, device: torch.device, dtype: torch.dtype, seed: int = 0) -> LoadedBundle:
    """Every part of a bundle with random weights, on ``device`` in ``dtype``."""
    AutoencoderKL, UNet2DConditionModel = load("diffusers", "AutoencoderKL", "UNet2DConditionModel")
    CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM = load(
        "transformers",
        "CLIPImageProcessorPil",
        "CLIPVisionConfig",
        "CLIPVisionModel",
        "LlamaConfig",
        "LlamaForCausalLM",
    )

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    vocab = max(sizes.llm_vocab, len(tokenizer))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise straight into fp16 on the GPU: 7B in fp32 would not fit
    try:
        with torch.device(device):
            llm = LlamaForCausalLM(
                LlamaConfig(
                    vocab_size=vocab,
                    hidden_size=sizes.llm_hidden,
                    num_hidden_layers=sizes.llm_layers,
                    num_attention_heads=sizes.llm_heads,
                    intermediate_size=sizes.llm_intermediate,
                    bos_token_id=1,
                    eos_token_id=2,
                    pad_token_id=0,
                    tie_word_embeddings=False,
                )
            )
            vision = CLIPVisionModel(
                CLIPVisionConfig(
                    hidden_size=sizes.clip_hidden,
                    num_hidden_layers=sizes.clip_layers,
                    num_attention_heads=sizes.clip_heads,
                    intermediate_size=sizes.clip_intermediate,
                    image_size=224,
                    patch_size=14,
                )
            )
            projector = torch.nn.Linear(sizes.clip_hidden, sizes.llm_hidden)
            head = EditHead(
                sizes.llm_hidden,
                sizes.head_dim,
                77,
                sizes.cond_dim,
                sizes.head_layers,
                sizes.head_layers,
                sizes.head_ff,
            )
            emb = torch.randn(1, len(IMG_TOKENS), sizes.llm_hidden)
            unet = UNet2DConditionModel(**sizes.unet)
            vae = AutoencoderKL(**sizes.vae)
    finally:
        torch.set_default_dtype(previous)
    model = MgieModel(vision, projector, llm, head, emb).eval()
    info = {
        "image_token_len": (224 // 14) ** 2,
        "use_im_start_end": True,
        "vision_select_layer": -2,
        "edit_head_heads": 4,
        "tokens": tokenizer.added,
    }
    return LoadedBundle(
        model, tokenizer, CLIPImageProcessorPil(), unet.eval(), vae.eval(), dict(IP2P_SCHEDULER), info
    )


def save_random_bundle(bundle: LoadedBundle, models_dir: Path) -> Path:
    """Write a ``random_bundle`` in the app's format under ``models_dir/bundle``, as a conversion
    would, so random models of any size load through the real loading path (quantisation
    included). Its tokenizer is the tiny one ``random_bundle`` uses, written afresh."""
    out = bundle_path(models_dir)
    out.mkdir(parents=True)
    _write_tokenizer(out / "tokenizer")
    m = bundle.model
    m.llm.save_pretrained(out / "llm")
    m.vision.save_pretrained(out / "vision")
    bundle.image_processor.save_pretrained(out / "vision")
    heads = {
        "mm_projector.weight": m.projector.weight,
        "mm_projector.bias": m.projector.bias,
        "emb": m.emb,
        **{f"edit_head.{k}": v for k, v in m.edit_head.state_dict().items()},
    }
    save_file({k: v.detach().cpu().contiguous() for k, v in heads.items()}, str(out / "mgie.safetensors"))
    bundle.unet.save_pretrained(out / "unet")
    bundle.vae.save_pretrained(out / "vae")
    (out / "scheduler").mkdir()
    (out / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(bundle.scheduler_config), encoding="utf-8"
    )
    config = m.llm.config
    model = {
        **bundle.info,
        "llm_hidden": config.hidden_size,
        "llm_layers": config.num_hidden_layers,
        "vocab_size": config.vocab_size,
        "vision_hidden": m.vision.config.hidden_size,
    }
    source = {
        "llava": "random weights",
        "mgie": "random weights",
        "converted_by": f"mgie-desktop {__version__}",
    }
    write_inventory(out, model, source, str(m.emb.dtype).removeprefix("torch."))
    return out


def _tokenizer() -> PromptTokenizer:
    with tempfile.TemporaryDirectory(prefix="mgie-tokenizer-") as tmp:
        return _write_tokenizer(Path(tmp))


def _write_tokenizer(folder: Path) -> PromptTokenizer:
    """The tiny sentencepiece tokenizer with LLaVA's and MGIE's added tokens (ids stay small,
    which any vocabulary size accepts)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = _write_llava_tokenizer(folder)
    added = json.loads((folder / "added_tokens.json").read_text())
    added.update({token: base + 3 + i for i, token in enumerate(IMG_TOKENS)})
    (folder / "added_tokens.json").write_text(json.dumps(added))
    return PromptTokenizer(folder)
