"""A full-size random-weight FLUX.2 [klein] 4B in the exact layout Black Forest Labs publish
(black-forest-labs/FLUX.2-klein-4B, diffusers' layout), for measuring the second engine where
the real 16 GB cannot be fetched. Timings and memory do not depend on weight values.

What it writes, as published::

    model_index.json                       Flux2KleinPipeline, is_distilled: true
    transformer/config.json                Flux2Transformer2DModel (klein 4B: 5 double and 20
    transformer/diffusion_pytorch_model.safetensors   single blocks, 24 heads of 128), 7.75 GB bf16
    text_encoder/config.json               Qwen3-4B (36 layers, hidden 2560, tied embeddings),
    text_encoder/generation_config.json
    text_encoder/model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json   8.05 GB bf16
    vae/config.json, vae/diffusion_pytorch_model.safetensors   AutoencoderKLFlux2 (its defaults)
    scheduler/scheduler_config.json        FlowMatchEulerDiscreteScheduler (tiny_klein.SCHEDULER)
    tokenizer/                             tokenizer.json, tokenizer_config.json, chat_template.jinja

Files are split into shards as the libraries' ``save_pretrained`` split them (transformers at
5 GB, diffusers at 10 GB: the transformer stays one file, the text encoder takes two).

The tokenizer is **not** Qwen's (its 151,643 merges cannot be downloaded here): it is
tiny_klein's byte-level BPE in the real files' format, with Qwen's chat markers. Its ids all lie
inside the 151,936-row embedding; the pipeline pads every prompt to 512 tokens, so the text
encoder's work is the real one whatever the tokenizer.

It streams: each safetensors file's header is computed from the shapes, then each tensor is
made (seeded), written and dropped, so the most it holds is one tensor (the 778 MB embedding).
Every file is written aside and renamed into place (a file hard-linked into a bundle by
``add_klein`` is replaced, never rewritten), and model_index.json comes last: a folder without it
is not a klein model (``engine.klein_files.is_klein_folder``).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.tiny_klein import SCHEDULER

KLEIN_STANDIN_DIR = "FLUX.2-klein-4B"  # its folder in a stand-in, as the Hub names the repository
SPARE_BYTES = 256 * 2**20
# name -> (shape, dtype, fill): fill is "normal", "ones" or "zeros"
Shapes = dict[str, tuple[tuple[int, ...], torch.dtype, str]]
SAFETENSORS_DTYPES = {torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}
STD = 0.02  # as the MGIE stand-in: values do not change timings or memory
SHARDED_STEMS = ("text_encoder/model", "transformer/diffusion_pytorch_model")  # may be split in shards


@dataclass(frozen=True)
class KleinSizes:
    """Keyword arguments of each model's class, and where the libraries would cut shards."""

    text: dict[str, Any]  # transformers' Qwen3Config
    transformer: dict[str, Any]  # diffusers' Flux2Transformer2DModel
    vae: dict[str, Any]  # diffusers' AutoencoderKLFlux2
    text_shard_bytes: int = 5 * 10**9  # transformers' save_pretrained default (max_shard_size "5GB")
    transformer_shard_bytes: int = 10 * 10**9  # diffusers' ("10GB")


# FLUX.2 [klein] 4B: the transformer as diffusers' conversion script configures "klein-4b", the
# text encoder Qwen3-4B's config, the VAE AutoencoderKLFlux2's defaults (block_out_channels
# 128-256-512-512, 32 latent channels, 2x2 patches).
FULL = KleinSizes(
    text={
        "vocab_size": 151936,
        "hidden_size": 2560,
        "intermediate_size": 9728,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 40960,
        "max_window_layers": 36,
        "rope_theta": 1000000,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    },
    transformer={
        "patch_size": 1,
        "in_channels": 128,
        "num_layers": 5,
        "num_single_layers": 20,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 7680,  # three of the text encoder's hidden states side by side
        "timestep_guidance_channels": 256,
        "mlp_ratio": 3.0,
        "axes_dims_rope": (32, 32, 32, 32),
        "rope_theta": 2000,
        "eps": 1e-6,
        "guidance_embeds": False,
    },
    vae={},
)
# The same rules at a toy size (tiny_klein's shapes), with shards small enough that both sharded
# layouts (transformers' and diffusers' index files) are exercised.
TINY = KleinSizes(
    text={
        "vocab_size": 512,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 30,  # more than the pipeline reads (27 + 1)
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": True,
    },
    transformer={
        "patch_size": 1,
        "in_channels": 32,
        "num_layers": 1,
        "num_single_layers": 1,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 48,
        "timestep_guidance_channels": 32,
        "axes_dims_rope": (4, 4, 4, 4),
        "guidance_embeds": False,
    },
    vae={
        "block_out_channels": (8, 8, 16, 16),
        "layers_per_block": 1,
        "latent_channels": 8,
        "norm_num_groups": 4,
        "sample_size": 64,
    },
    text_shard_bytes=64 * 1024,
    transformer_shard_bytes=64 * 1024,
)
SIZES = {"full": FULL, "tiny": TINY}


def write_random_klein(
    out: Path,
    size: str | KleinSizes = "full",
    seed: int = 0,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Write the model into ``out`` (made if needed); returns {"bytes": of weights, "seconds"}."""
    sizes = _sizes(size)
    out = Path(out)
    files = plan(sizes)
    need = sum(nbytes(shapes) for _, shapes in files)
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if free < need + SPARE_BYTES:
        raise InputError(
            f"writing the random FLUX.2 [klein] needs {need / 1e9:.1f} GB in {out}; {free / 1e9:.1f} GB are free"
        )
    started = time.perf_counter()
    (out / "model_index.json").unlink(missing_ok=True)  # a folder being written is not a model
    generator = torch.Generator().manual_seed(seed)
    for rel, shapes in files:
        log(f"writing {KLEIN_STANDIN_DIR}/{rel} ({nbytes(shapes) / 1e9:.2f} GB)")
        write_safetensors(out / rel, shapes, generator)
    _write_indexes(out, files)
    _write_configs(out, sizes)
    return {"bytes": need, "seconds": time.perf_counter() - started}


# ---- what to write ----------------------------------------------------------------------------
def plan(sizes: KleinSizes) -> list[tuple[str, Shapes]]:
    """Every weight file (relative to the model's folder) with its tensors, in writing order."""
    text, transformer, vae = _model_shapes(sizes)
    return [
        *_shards(SHARDED_STEMS[0], text, sizes.text_shard_bytes),
        *_shards(SHARDED_STEMS[1], transformer, sizes.transformer_shard_bytes),
        ("vae/diffusion_pytorch_model.safetensors", vae),
    ]


def weight_bytes(size: str | KleinSizes = "full") -> int:
    return sum(nbytes(shapes) for _, shapes in plan(_sizes(size)))


def _sizes(size: str | KleinSizes) -> KleinSizes:
    if isinstance(size, KleinSizes):
        return size
    if size not in SIZES:
        raise InputError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size]


def _model_shapes(sizes: KleinSizes) -> tuple[Shapes, Shapes, Shapes]:
    """The three models' state dicts as their classes make them (shapes only: nothing allocated),
    in the checkpoint's dtypes: bf16, integer buffers as they are."""
    Flux2Transformer2DModel, AutoencoderKLFlux2 = load(
        "diffusers", "Flux2Transformer2DModel", "AutoencoderKLFlux2"
    )
    Qwen3Config, Qwen3ForCausalLM = load("transformers", "Qwen3Config", "Qwen3ForCausalLM")
    with init_empty_weights():
        text = Qwen3ForCausalLM(Qwen3Config(**sizes.text))
        transformer = Flux2Transformer2DModel(**sizes.transformer)
        vae = AutoencoderKLFlux2(**sizes.vae)
    text_shapes = _shapes(text.state_dict())
    if sizes.text.get("tie_word_embeddings"):
        del text_shapes["lm_head.weight"]  # tied to the embedding: save_pretrained leaves it out
    return text_shapes, _shapes(transformer.state_dict()), _shapes(vae.state_dict())


def _shapes(state: dict[str, torch.Tensor]) -> Shapes:
    shapes: Shapes = {}
    for name, tensor in state.items():
        dtype = tensor.dtype if not tensor.dtype.is_floating_point else torch.bfloat16
        shapes[name] = (tuple(tensor.shape), dtype, _fill(name, tensor))
    return shapes


def _fill(name: str, tensor: torch.Tensor) -> str:
    """Ones where a random value would be wrong in kind (norm scales, a batch norm's variance),
    zeros for biases, counters and running means, small normal values elsewhere."""
    if not tensor.dtype.is_floating_point or name.endswith("running_mean"):
        return "zeros"
    if name.endswith("running_var") or (tensor.dim() == 1 and "norm" in name and name.endswith("weight")):
        return "ones"
    if tensor.dim() == 1 and name.endswith("bias"):
        return "zeros"
    return "normal"


def _shards(stem: str, shapes: Shapes, limit: int) -> list[tuple[str, Shapes]]:
    """Cut as huggingface_hub cuts a state dict for save_pretrained: in order, a new shard when
    the next tensor would pass ``limit``; named ``stem.safetensors`` when one shard holds all."""
    groups: list[Shapes] = [{}]
    size = 0
    for name, spec in shapes.items():
        n = nbytes({name: spec})
        if groups[-1] and size + n > limit:
            groups.append({})
            size = 0
        groups[-1][name] = spec
        size += n
    if len(groups) == 1:
        return [(f"{stem}.safetensors", groups[0])]
    total = len(groups)
    return [(f"{stem}-{i:05d}-of-{total:05d}.safetensors", g) for i, g in enumerate(groups, 1)]


def nbytes(shapes: Shapes) -> int:
    return sum(torch.Size(shape).numel() * dtype.itemsize for shape, dtype, _ in shapes.values())


# ---- writing -------------------------------------------------------------------------------------
def write_safetensors(path: Path, shapes: Shapes, generator: torch.Generator) -> None:
    """One safetensors file, tensor by tensor: the header (8-byte length, JSON with each tensor's
    dtype, shape and byte range, padded to 8 bytes) from the shapes, then each tensor's bytes."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (shape, dtype, _fill_kind) in shapes.items():
        n = nbytes({name: (shape, dtype, _fill_kind)})
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[dtype],
            "shape": list(shape),
            "data_offsets": [offset, offset + n],
        }
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(path.name + ".partial")
    with open(aside, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _name, tensor in _random(shapes, generator):
            f.write(tensor.reshape(-1).view(torch.uint8).numpy().data)
            del tensor
    os.replace(aside, path)


def _random(shapes: Shapes, generator: torch.Generator) -> Iterator[tuple[str, torch.Tensor]]:
    for name, (shape, dtype, fill) in shapes.items():
        if fill == "ones":
            yield name, torch.ones(shape, dtype=dtype)
        elif fill == "zeros":
            yield name, torch.zeros(shape, dtype=dtype)
        else:
            yield name, torch.empty(shape, dtype=dtype).normal_(0.0, STD, generator=generator)


def _write_indexes(out: Path, files: list[tuple[str, Shapes]]) -> None:
    """``<stem>.safetensors.index.json`` beside each sharded model, as save_pretrained writes it."""
    for stem in SHARDED_STEMS:
        shards = [(rel, shapes) for rel, shapes in files if rel.startswith(stem + "-")]
        if not shards:  # one file holds the model: no index, as save_pretrained does
            continue
        weight_map = {name: Path(rel).name for rel, shapes in shards for name in shapes}
        index = {
            "metadata": {"total_size": sum(nbytes(shapes) for _, shapes in shards)},
            "weight_map": dict(sorted(weight_map.items())),
        }
        _write_text(out / f"{stem}.safetensors.index.json", json.dumps(index, indent=2) + "\n")


def _write_configs(out: Path, sizes: KleinSizes) -> None:
    """Each part's configuration by its own library and the tokenizer, written aside and moved
    into place file by file; model_index.json last."""
    diffusers = load("diffusers")
    Flux2Transformer2DModel, AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler = load(
        "diffusers", "Flux2Transformer2DModel", "AutoencoderKLFlux2", "FlowMatchEulerDiscreteScheduler"
    )
    GenerationConfig, Qwen3Config = load("transformers", "GenerationConfig", "Qwen3Config")
    from mgie_desktop.engine.tiny_klein import byte_tokenizer  # the byte-level one, in Qwen's file format

    tokenizer = byte_tokenizer()
    if len(tokenizer) > sizes.text["vocab_size"]:
        raise InputError(f"the tokenizer's {len(tokenizer)} ids do not fit {sizes.text['vocab_size']}")
    aside = out / ".configs.partial"
    shutil.rmtree(aside, ignore_errors=True)
    config = Qwen3Config(**sizes.text)
    config.architectures = ["Qwen3ForCausalLM"]
    config.dtype = torch.bfloat16
    config.save_pretrained(aside / "text_encoder")
    GenerationConfig.from_model_config(config).save_pretrained(aside / "text_encoder")
    with init_empty_weights():
        Flux2Transformer2DModel(**sizes.transformer).save_config(aside / "transformer")
        AutoencoderKLFlux2(**sizes.vae).save_config(aside / "vae")
    FlowMatchEulerDiscreteScheduler(**SCHEDULER).save_pretrained(aside / "scheduler")
    tokenizer.save_pretrained(aside / "tokenizer")
    for path in sorted(p for p in aside.rglob("*") if p.is_file()):
        target = out / path.relative_to(aside)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(aside)
    index = {
        "_class_name": "Flux2KleinPipeline",
        "_diffusers_version": diffusers.__version__,
        "is_distilled": True,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen3ForCausalLM"],
        "tokenizer": ["transformers", "Qwen2TokenizerFast"],
        "transformer": ["diffusers", "Flux2Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLFlux2"],
    }
    _write_text(out / "model_index.json", json.dumps(index, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    aside = path.with_name(path.name + ".partial")
    aside.write_text(text, encoding="utf-8")
    os.replace(aside, path)
