"""A stand-in for the real 18 GB: random weights in the reference's exact layout, at full size.

``mgie-desktop models random DIR --size full|tiny`` writes what a user who followed apple/ml-mgie's
README holds: ``LLaVA-7B-v1/`` (two pickled fp16 shards, their index, the LLaMA sentencepiece
tokenizer with LLaVA's added tokens, ``model_type: "llava"``), ``mgie_7b/mllm.pt`` and
``mgie_7b/unet.pt`` (pickled fp16 state dicts), ``clip-vit-large-patch14/`` (safetensors) and
``instruct-pix2pix/`` (the VAE, configs). ``models import`` and the engine then take it exactly
as they take the real files. Timings and memory do not depend on weight values, so this is
what the full-size benchmarks run on where the real weights cannot be fetched.

It streams: each file's tensors are made, written and dropped before the next file's, so the
most it holds is the first LLaVA shard (~10 GB at full size): it runs on a 16 GB machine.
``tiny`` has the same layout at ``random_models.SMALL``'s sizes (a few layers, small widths).

Beside them, ``FLUX.2-klein-4B/``: the optional second engine as Black Forest Labs publish it
(``random_klein``: 16 GB in bf16 at full size, tiny_klein's shapes at ``tiny``), which
``models import-klein`` installs into a bundle. ``engines`` leaves either half out.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import torch
from accelerate import init_empty_weights
from safetensors.torch import save_file
from sentencepiece import sentencepiece_model_pb2

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.convert import CLIP_DIR, IP2P_DIR, LLAVA_DIR, MGIE_DIR
from mgie_desktop.engine.model import EditHead
from mgie_desktop.engine.prompt import IM_END, IM_PATCH, IM_START, IMG_TOKENS
from mgie_desktop.engine.runtime import quiet_libraries
from mgie_desktop.engine.tiny import (
    llava_config,
    write_clip_tokenizer,
    write_ip2p_configs,
    write_preprocessor_config,
)
from mgie_desktop.testing import random_klein
from mgie_desktop.testing.random_klein import KLEIN_STANDIN_DIR
from mgie_desktop.testing.random_models import FULL, IP2P_SCHEDULER, SMALL, Sizes

SIZES = {"full": FULL, "tiny": SMALL}
SHARDS = ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")
FIRST_SHARD_SHARE = 0.74  # the real split: ~9.98 GB of ~13.5 GB in the first shard
SPARE_BYTES = 256 * 2**20
Shapes = dict[
    str, tuple[tuple[int, ...], torch.dtype, str]
]  # name -> (shape, dtype, fill: "normal" | "ones")


ENGINES = ("mgie", "klein")


def write_standin(
    src: Path,
    size: str = "full",
    seed: int = 0,
    log: Callable[[str], None] = lambda m: None,
    engines: tuple[str, ...] = ENGINES,
) -> dict:
    """Write the stand-in under ``src``: MGIE's reference files and FLUX.2 [klein] (``engines``
    names which); returns {"bytes": written, "seconds": taken, "klein": its folder or None}."""
    quiet_libraries()  # advice about random configs is noise here, as for models tiny
    if size not in SIZES:
        raise InputError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    unknown = set(engines) - set(ENGINES)
    if unknown or not engines:
        raise InputError(f"engines are {', '.join(ENGINES)}; not {', '.join(sorted(unknown)) or 'none'}")
    sizes, src = SIZES[size], Path(src)
    plan = _plan(sizes) if "mgie" in engines else []
    klein = "klein" in engines and klein_writable(log)
    klein_bytes = random_klein.weight_bytes(size) if klein else 0
    need = sum(_nbytes(shapes) for _, shapes in plan) + klein_bytes
    src.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(src).free
    if free < need + SPARE_BYTES:
        raise InputError(
            f"writing the {size} stand-in needs {need / 1e9:.1f} GB in {src}; {free / 1e9:.1f} GB are free"
        )
    started = time.perf_counter()
    if plan:
        _write_mgie(src, sizes, plan, seed, log)
    if klein:
        random_klein.write_random_klein(src / KLEIN_STANDIN_DIR, size, seed, log)
    return {
        "bytes": need,
        "seconds": time.perf_counter() - started,
        "klein": str(src / KLEIN_STANDIN_DIR) if klein else None,
    }


def klein_writable(log: Callable[[str], None] = lambda m: None) -> bool:
    """Does this diffusers know FLUX.2 [klein]? Without it the stand-in is MGIE's alone (said in
    the log), as an installation without klein is."""
    try:
        load("diffusers", "Flux2KleinPipeline", "Flux2Transformer2DModel", "AutoencoderKLFlux2")
    except (ImportError, AttributeError) as exc:
        log(f"leaving FLUX.2 [klein] out: this diffusers cannot make it ({exc})")
        return False
    return True


def _write_mgie(
    src: Path, sizes: Sizes, plan: list[tuple[str, Shapes]], seed: int, log: Callable[[str], None]
) -> None:
    generator = torch.Generator().manual_seed(seed)
    llava = src / LLAVA_DIR
    llava.mkdir(exist_ok=True)
    (src / MGIE_DIR).mkdir(exist_ok=True)
    llava_vocab = sizes.llm_vocab - len(IMG_TOKENS)
    _write_tokenizer(llava, llava_vocab - 3)
    (llava / "config.json").write_text(
        json.dumps(
            llava_config(
                llava_vocab,
                sizes.llm_hidden,
                sizes.llm_intermediate,
                sizes.llm_heads,
                sizes.llm_layers,
                sizes.clip_hidden,
            ),
            indent=1,
        ),
        encoding="utf-8",
    )
    weight_map = {}
    for rel, shapes in plan:
        log(f"writing {rel} ({_nbytes(shapes) / 1e9:.2f} GB)")
        tensors = dict(_random(shapes, generator))
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".safetensors"):
            save_file(tensors, str(path))
        else:
            torch.save(tensors, path)
        if rel.startswith(LLAVA_DIR):
            weight_map.update(dict.fromkeys(tensors, Path(rel).name))
        del tensors
    llava_bytes = sum(_nbytes(shapes) for rel, shapes in plan if rel.startswith(LLAVA_DIR))
    (llava / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": llava_bytes}, "weight_map": weight_map}, indent=1),
        encoding="utf-8",
    )
    _write_clip_config(src / CLIP_DIR, sizes)
    write_ip2p_configs(src / IP2P_DIR, sizes.unet, sizes.vae, IP2P_SCHEDULER)
    _clip_config(sizes).text_config.save_pretrained(src / IP2P_DIR / "text_encoder")
    write_clip_tokenizer(src / IP2P_DIR / "tokenizer")


# ---- what to write ----------------------------------------------------------------------------
def _plan(sizes: Sizes) -> list[tuple[str, Shapes]]:
    """Every weight file with its tensors' shapes, in writing order."""
    first, second = _llava_shards(sizes)
    return [
        (f"{LLAVA_DIR}/{SHARDS[0]}", first),
        (f"{LLAVA_DIR}/{SHARDS[1]}", second),
        (f"{MGIE_DIR}/mllm.pt", _mllm(sizes)),
        (f"{MGIE_DIR}/unet.pt", _module_shapes(_unet, sizes, torch.float16)),
        (f"{CLIP_DIR}/model.safetensors", _module_shapes(_clip, sizes, torch.float32)),
        (f"{IP2P_DIR}/vae/diffusion_pytorch_model.safetensors", _module_shapes(_vae, sizes, torch.float32)),
        # InstructPix2Pix's own model: the optional comparison (fp32, as timbrooks/instruct-pix2pix ships it)
        (f"{IP2P_DIR}/unet/diffusion_pytorch_model.safetensors", _module_shapes(_unet, sizes, torch.float32)),
        (f"{IP2P_DIR}/text_encoder/model.safetensors", _module_shapes(_text_encoder, sizes, torch.float32)),
    ]


def _llava_shards(sizes: Sizes) -> tuple[Shapes, Shapes]:
    h, inter, vocab = sizes.llm_hidden, sizes.llm_intermediate, sizes.llm_vocab - len(IMG_TOKENS)
    half, head_dim = torch.float16, h // sizes.llm_heads
    shapes: Shapes = {"model.embed_tokens.weight": ((vocab, h), half, "normal")}
    for i in range(sizes.llm_layers):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shapes[f"{p}self_attn.{name}.weight"] = ((h, h), half, "normal")
        shapes[f"{p}mlp.gate_proj.weight"] = ((inter, h), half, "normal")
        shapes[f"{p}mlp.up_proj.weight"] = ((inter, h), half, "normal")
        shapes[f"{p}mlp.down_proj.weight"] = ((h, inter), half, "normal")
        shapes[f"{p}input_layernorm.weight"] = ((h,), half, "ones")
        shapes[f"{p}post_attention_layernorm.weight"] = ((h,), half, "ones")
        shapes[f"{p}self_attn.rotary_emb.inv_freq"] = ((head_dim // 2,), torch.float32, "inv_freq")
    shapes.update(
        {
            "model.norm.weight": ((h,), half, "ones"),
            "lm_head.weight": ((vocab, h), half, "normal"),
            "model.mm_projector.weight": ((h, sizes.clip_hidden), half, "normal"),
            "model.mm_projector.bias": ((h,), half, "normal"),
        }
    )
    total, first, running = _nbytes(shapes), {}, 0
    for name, spec in shapes.items():  # the model's own order, cut where the real first shard ends
        if running >= FIRST_SHARD_SHARE * total:
            break
        first[name] = spec
        running += _nbytes({name: spec})
    return first, {k: v for k, v in shapes.items() if k not in first}


def _mllm(sizes: Sizes) -> Shapes:
    half = torch.float16
    with init_empty_weights():
        head = EditHead(
            sizes.llm_hidden,
            sizes.head_dim,
            77,
            sizes.cond_dim,
            num_encoder_layers=sizes.head_layers,
            num_decoder_layers=sizes.head_layers,
            dim_feedforward=sizes.head_ff,
        )
    shapes: Shapes = {
        "model.embed_tokens.weight": ((sizes.llm_vocab, sizes.llm_hidden), half, "normal"),
        "lm_head.weight": ((sizes.llm_vocab, sizes.llm_hidden), half, "normal"),
    }
    shapes.update({f"edit_head.{k}": (tuple(v.shape), half, "normal") for k, v in head.state_dict().items()})
    shapes["emb"] = ((1, len(IMG_TOKENS), sizes.llm_hidden), half, "normal")
    return shapes


def _unet(sizes: Sizes):
    return load("diffusers", "UNet2DConditionModel").from_config(sizes.unet)


def _vae(sizes: Sizes):
    return load("diffusers", "AutoencoderKL").from_config(sizes.vae)


def _text_encoder(sizes: Sizes):
    return load("transformers", "CLIPTextModel")(_clip_config(sizes).text_config)


def _clip(sizes: Sizes):
    return load("transformers", "CLIPModel")(_clip_config(sizes))


def _module_shapes(build, sizes: Sizes, dtype: torch.dtype) -> Shapes:
    with init_empty_weights():  # shapes only: nothing is allocated
        module = build(sizes)
    return {k: (tuple(v.shape), dtype, "normal") for k, v in module.state_dict().items()}


def _clip_config(sizes: Sizes):
    full = sizes.clip_hidden == FULL.clip_hidden
    text = (
        {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}
        if full
        else {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    )
    return load("transformers", "CLIPConfig")(
        text_config={**text, "vocab_size": 49408 if full else 128, "max_position_embeddings": 77},
        vision_config={
            "hidden_size": sizes.clip_hidden,
            "intermediate_size": sizes.clip_intermediate,
            "num_hidden_layers": sizes.clip_layers,
            "num_attention_heads": sizes.clip_heads,
            "image_size": 224,
            "patch_size": 14,
        },
        projection_dim=768 if full else 16,
    )


# ---- writing -------------------------------------------------------------------------------------
def _random(shapes: Shapes, generator: torch.Generator) -> Iterator[tuple[str, torch.Tensor]]:
    for name, (shape, dtype, fill) in shapes.items():
        if fill == "ones":
            yield name, torch.ones(shape, dtype=dtype)
        elif fill == "inv_freq":  # the rotary buffer transformers 4.28 saved: its real values
            yield (
                name,
                1.0 / (10000 ** (torch.arange(0, 2 * shape[0], 2, dtype=torch.float32) / (2 * shape[0]))),
            )
        else:
            yield name, torch.empty(shape, dtype=dtype).normal_(0.0, 0.02, generator=generator)


def _nbytes(shapes: Shapes) -> int:
    return sum(torch.Size(shape).numel() * dtype.itemsize for shape, dtype, _ in shapes.values())


def _write_tokenizer(llava: Path, base_vocab: int) -> None:
    """LLaMA's sentencepiece tokenizer at its real vocabulary size (the tiny model's pieces, then
    placeholder pieces up to ``base_vocab``), LLaVA's three added tokens after it."""
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(
        (resources.files("mgie_desktop.engine") / "data" / "tiny_tokenizer.model").read_bytes()
    )
    if len(model.pieces) > base_vocab:
        raise InputError(
            f"a vocabulary of {base_vocab} is smaller than the tokenizer's own {len(model.pieces)} pieces"
        )
    for i in range(base_vocab - len(model.pieces)):
        model.pieces.add(
            piece=f"<standin{i}>",
            score=0.0,
            type=sentencepiece_model_pb2.ModelProto.SentencePiece.Type.USER_DEFINED,
        )
    (llava / "tokenizer.model").write_bytes(model.SerializeToString())
    write = lambda name, data: (llava / name).write_text(json.dumps(data, indent=1), encoding="utf-8")  # noqa: E731
    write("added_tokens.json", {IM_PATCH: base_vocab, IM_START: base_vocab + 1, IM_END: base_vocab + 2})
    write("special_tokens_map.json", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
    write(
        "tokenizer_config.json",
        {
            "add_bos_token": True,
            "add_eos_token": False,
            "bos_token": "<s>",
            "clean_up_tokenization_spaces": False,
            "eos_token": "</s>",
            "model_max_length": 2048,
            "pad_token": None,
            "padding_side": "right",
            "sp_model_kwargs": {},
            "tokenizer_class": "LlamaTokenizer",
            "unk_token": "<unk>",
        },
    )


def _write_clip_config(clip: Path, sizes: Sizes) -> None:
    _clip_config(sizes).save_pretrained(clip)
    write_preprocessor_config(clip)
