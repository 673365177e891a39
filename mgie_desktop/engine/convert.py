"""Convert the reference's files (as apple/ml-mgie's README lays them out) into the app's bundle.

Source layout (``models import SRC``)::

    SRC/LLaVA-7B-v1/              merged LLaVA: config (model_type "llava"), tokenizer, .bin/safetensors shards
    SRC/mgie_7b/mllm.pt           embed_tokens, lm_head, edit_head.*, emb
    SRC/mgie_7b/unet.pt           InstructPix2Pix UNet state dict (8 input channels)
    SRC/clip-vit-large-patch14/   CLIP (config, preprocessor, weights)   } or the user's
    SRC/instruct-pix2pix/         vae/, scheduler/, unet/config.json     } Hugging Face cache

Bundle (``DEST/bundle``): ``llm/`` (LlamaForCausalLM), ``vision/`` (CLIPVisionModel +
preprocessor), ``tokenizer/``, ``mgie.safetensors`` (projector, edit head, emb), ``unet/``,
``vae/``, ``scheduler/`` and ``bundle.json``; safetensors throughout, loaded memory-mapped
without random initialisation.
"""

from __future__ import annotations

import errno
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch
from accelerate import init_empty_weights
from huggingface_hub import snapshot_download, split_torch_state_dict_into_shards
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import save_file

from mgie_desktop import __version__
from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError, ModelFilesError
from mgie_desktop.engine.inventory import bundle_path, read_inventory, write_inventory
from mgie_desktop.engine.prompt import IMG_TOKENS
from mgie_desktop.engine.runtime import quiet_libraries
from mgie_desktop.engine.streaming import FileHasher, read_ahead
from mgie_desktop.engine.weights import checkpoint_files, read_checkpoint_dir, read_state_dict

LLAVA_DIR, MGIE_DIR = "LLaVA-7B-v1", "mgie_7b"
CLIP_DIR, IP2P_DIR = "clip-vit-large-patch14", "instruct-pix2pix"
CLIP_REPO, IP2P_REPO = "openai/clip-vit-large-patch14", "timbrooks/instruct-pix2pix"
EDIT_HEAD_HEADS = 4  # nn.Transformer(nhead=4) in the reference; weights cannot tell it
TOKENIZER_FILES = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")
CLIP_TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")
PLAIN_DIR = "ip2p"  # in the bundle: InstructPix2Pix's own unet/, text_encoder/, tokenizer/
_PLAIN_UNET_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
SHARD_SIZE = "2GB"  # the language model in ~7 shards: each hashed while the next is written


@dataclass(frozen=True)
class ReferenceLayout:
    llava: Path
    mllm: Path
    unet: Path
    clip: Path
    ip2p: Path


def locate_reference(src: Path) -> ReferenceLayout:
    """Find every part under ``src``; CLIP and InstructPix2Pix may come from the HF cache."""
    src = Path(src)
    llava, mllm, unet = src / LLAVA_DIR, src / MGIE_DIR / "mllm.pt", src / MGIE_DIR / "unet.pt"
    clip = src / CLIP_DIR if (src / CLIP_DIR).is_dir() else _from_hf_cache(CLIP_REPO)
    ip2p = src / IP2P_DIR if (src / IP2P_DIR).is_dir() else _from_hf_cache(IP2P_REPO)
    missing = [str(p) for p in (llava / "config.json", mllm, unet) if not p.exists()]
    missing += [f"{src / CLIP_DIR} (or {CLIP_REPO} in the Hugging Face cache)"] if clip is None else []
    missing += [f"{src / IP2P_DIR} (or {IP2P_REPO} in the Hugging Face cache)"] if ip2p is None else []
    if missing or clip is None or ip2p is None:  # a missing CLIP or InstructPix2Pix is named in ``missing``
        raise ModelFilesError("the reference model files are incomplete; missing: " + ", ".join(missing))
    return ReferenceLayout(llava, mllm, unet, clip, ip2p)


def _from_hf_cache(repo_id: str) -> Path | None:
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def convert(
    layout: ReferenceLayout,
    models_dir: Path,
    dtype: torch.dtype = torch.float16,
    log: Callable[[str], None] = lambda msg: None,
) -> dict[str, Any]:
    """Write the bundle to ``models_dir/bundle`` (built aside, swapped in when complete)."""
    quiet_libraries()
    final = bundle_path(models_dir)
    work = final.with_name(final.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        inventory = _convert_into(layout, work, dtype, log)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)  # a failed conversion leaves no half bundle behind
        if _disk_full(exc):
            raise InputError(
                f"the disk holding {models_dir} filled up while the models were written; "
                "nothing was installed: free some space and import again"
            ) from exc
        raise
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    work.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return inventory


def _convert_into(
    layout: ReferenceLayout, work: Path, dtype: torch.dtype, log: Callable[[str], None]
) -> dict[str, Any]:
    stop_reading = threading.Event()  # the read-ahead ends with the conversion, however it ends
    try:
        return _convert_parts(layout, work, dtype, log, stop_reading)
    finally:
        stop_reading.set()


def _convert_parts(
    layout: ReferenceLayout,
    work: Path,
    dtype: torch.dtype,
    log: Callable[[str], None],
    stop_reading: threading.Event,
) -> dict[str, Any]:
    llava_cfg = _read_json(layout.llava / "config.json")
    if llava_cfg.get("model_type") not in ("llava", "llama"):
        raise ModelFilesError(
            f"{layout.llava} is not a LLaVA checkpoint (model_type {llava_cfg.get('model_type')!r})"
        )
    log("reading LLaVA weights")
    llava_files = checkpoint_files(layout.llava)
    read_ahead([*llava_files, layout.mllm], stop_reading)  # the language model is written first
    llava = read_checkpoint_dir(layout.llava)  # memory-mapped: nothing is read yet
    log("reading mllm.pt")
    mllm = read_state_dict(layout.mllm)
    for key in ("model.embed_tokens.weight", "lm_head.weight", "edit_head.llm2hid.weight"):
        if key not in mllm:
            raise ModelFilesError(f"{layout.mllm} lacks {key}: is it MGIE's mllm.pt?")
    _check_space(layout, llava, mllm, work, dtype)

    hasher = FileHasher(work)
    try:
        added = _write_tokenizer(layout.llava, work / "tokenizer", mllm["model.embed_tokens.weight"].shape[0])
        log("writing the language model")
        llm_info = _write_llm(llava_cfg, llava, mllm, work / "llm", dtype, hasher.add)
        read_ahead([layout.unet], stop_reading)
        log("writing the vision tower")
        vision_info = _write_vision(layout.clip, llava, work / "vision", dtype)
        _write_mgie_heads(llava, mllm, work / "mgie.safetensors", dtype)
        hasher.add_tree(work)
        log("writing the UNet")
        _write_unet(layout.ip2p, layout.unet, work / "unet", dtype)
        hasher.add_tree(work / "unet")
        plain = has_plain_ip2p(layout.ip2p)
        if plain:
            log("writing InstructPix2Pix's own UNet and text encoder (the optional comparison)")
            _write_plain_ip2p(layout.ip2p, work / PLAIN_DIR, dtype)
        log("writing the VAE and scheduler")
        _write_vae(layout.ip2p, work / "vae", dtype)
        (work / "scheduler").mkdir()
        shutil.copy2(_required(layout.ip2p / "scheduler" / "scheduler_config.json"), work / "scheduler")
        log("hashing the bundle")
        hashes = hasher.results()
    finally:
        hasher.close()

    model = {
        **llm_info,
        **vision_info,
        "vision_select_layer": int(llava_cfg.get("mm_vision_select_layer", -2)),
        "use_im_start_end": bool(llava_cfg.get("mm_use_im_start_end", True)),
        "edit_head_heads": EDIT_HEAD_HEADS,
        "tokens": added,
        "plain_ip2p": plain,
    }
    source = {"llava": layout.llava.name, "mgie": "mgie_7b", "converted_by": f"mgie-desktop {__version__}"}
    return write_inventory(work, model, source, str(dtype).removeprefix("torch."), hashes)


def _check_space(
    layout: ReferenceLayout, llava: dict[str, Any], mllm: dict[str, Any], work: Path, dtype: torch.dtype
) -> None:
    """Refuse before writing when the bundle cannot fit: the language model counted exactly from
    the (memory-mapped) tensors, the other parts bounded by their source files' sizes."""
    item = torch.empty(0, dtype=dtype).element_size()
    llm = sum(
        t.numel() for k, t in llava.items() if not k.startswith("model.mm_projector.")
    )  # vision tower too
    others = [layout.unet, *checkpoint_files(layout.ip2p / "vae")]
    if not any(k.startswith("model.vision_tower.") for k in llava):
        others += checkpoint_files(layout.clip)
    need = (
        llm * item
        + sum(p.stat().st_size for p in others) * item // 2
        + mllm["edit_head.llm2hid.weight"].numel() * item
    )
    free = shutil.disk_usage(work).free
    if free < need:
        raise InputError(
            f"importing the models needs about {need / 1e9:.1f} GB free in {work.parent}; "
            f"{free / 1e9:.1f} GB are free"
        )


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC from Python, or from safetensors' writer (which reports the OS's words)."""
    return getattr(exc, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)) or (
        "No space left on device" in str(exc)
    )


def _write_tokenizer(llava: Path, out: Path, vocab_rows: int) -> dict[str, int]:
    """LLaVA's tokenizer with MGIE's [IMG0..7] appended, as ``tokenizer.add_tokens`` did."""
    out.mkdir()
    for name in TOKENIZER_FILES:
        shutil.copy2(_required(llava / name), out / name)
    base = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model")).get_piece_size()
    added: dict[str, int] = (
        _read_json(llava / "added_tokens.json") if (llava / "added_tokens.json").exists() else {}
    )
    for token in IMG_TOKENS:
        added.setdefault(token, base + len(added))
    if base + len(added) != vocab_rows:
        raise ModelFilesError(
            f"tokenizer has {base + len(added)} tokens with [IMG0..7] but mllm.pt has {vocab_rows} embedding rows: "
            "the LLaVA checkpoint and mllm.pt do not belong together"
        )
    (out / "added_tokens.json").write_text(json.dumps(added, indent=1), encoding="utf-8")
    return added


def _write_llm(
    cfg: dict[str, Any],
    llava: dict[str, Any],
    mllm: dict[str, Any],
    out: Path,
    dtype: torch.dtype,
    written: Callable[[Path], None],
) -> dict[str, Any]:
    LlamaConfig, LlamaForCausalLM = load("transformers", "LlamaConfig", "LlamaForCausalLM")

    sd = {
        k: v
        for k, v in llava.items()
        if (k.startswith("model.") or k.startswith("lm_head."))
        and not k.startswith(("model.mm_projector.", "model.vision_tower."))
        and not k.endswith("rotary_emb.inv_freq")
    }
    sd["model.embed_tokens.weight"] = mllm["model.embed_tokens.weight"]
    sd["lm_head.weight"] = mllm["lm_head.weight"]
    vocab, hidden = sd["model.embed_tokens.weight"].shape
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("model.layers."))
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=sd["model.layers.0.mlp.gate_proj.weight"].shape[0],
        num_attention_heads=cfg["num_attention_heads"],
        num_key_value_heads=cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
        rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
        max_position_embeddings=cfg.get("max_position_embeddings", cfg.get("max_sequence_length", 2048)),
        bos_token_id=cfg.get("bos_token_id", 1),
        eos_token_id=cfg.get("eos_token_id", 2),
        pad_token_id=cfg.get("pad_token_id", 0),
        tie_word_embeddings=False,
        hidden_act=cfg.get("hidden_act", "silu"),
    )
    with init_empty_weights():
        llm = LlamaForCausalLM(config)
    _load_exact(llm, {k: v.to(dtype) for k, v in sd.items()}, "the LLaVA language model")
    llm.config.dtype = dtype
    _save_sharded(llm, out, written)
    return {"llm_hidden": hidden, "llm_layers": layers, "vocab_size": vocab}


def _save_sharded(model: Any, out: Path, written: Callable[[Path], None]) -> None:
    """What ``save_pretrained`` writes (config, safetensors shards, their index), shard by shard,
    so each shard is hashed while the next one is written (``save_pretrained`` writes 13.5 GB
    as one file and only then returns)."""
    out.mkdir(parents=True)
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    state = model.state_dict()
    split = split_torch_state_dict_into_shards(state, max_shard_size=SHARD_SIZE)
    for filename, names in split.filename_to_tensors.items():
        save_file(
            {name: state[name].contiguous() for name in names}, str(out / filename), metadata={"format": "pt"}
        )
        written(out / filename)
    if split.is_sharded:
        index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


def _write_vision(clip_dir: Path, llava: dict[str, Any], out: Path, dtype: torch.dtype) -> dict[str, Any]:
    CLIPVisionConfig, CLIPVisionModel = load("transformers", "CLIPVisionConfig", "CLIPVisionModel")

    config = CLIPVisionConfig.from_pretrained(_required(clip_dir / "config.json").parent)
    inside = {
        k.rsplit("vision_tower.", 1)[1]: v for k, v in llava.items() if k.startswith("model.vision_tower.")
    }
    source = inside or read_checkpoint_dir(clip_dir)
    with init_empty_weights():
        vision = CLIPVisionModel(config)
    wanted = vision.state_dict().keys()
    # CLIP checkpoints name keys "vision_model.*"; transformers 5's CLIPVisionModel drops that prefix.
    if not any(k.startswith("vision_model.") for k in wanted):
        source = {k.removeprefix("vision_model."): v for k, v in source.items()}
    _load_exact(vision, {k: v.to(dtype) for k, v in source.items() if k in wanted}, "the CLIP vision tower")
    vision.save_pretrained(out)
    shutil.copy2(_required(clip_dir / "preprocessor_config.json"), out)
    return {
        "image_token_len": (config.image_size // config.patch_size) ** 2,
        "vision_hidden": config.hidden_size,
    }


def _write_mgie_heads(llava: dict[str, Any], mllm: dict[str, Any], out: Path, dtype: torch.dtype) -> None:
    heads = {k.removeprefix("model."): v for k, v in llava.items() if k.startswith("model.mm_projector.")}
    if set(heads) != {"mm_projector.weight", "mm_projector.bias"}:
        raise ModelFilesError("the LLaVA checkpoint has no mm_projector weights")
    heads.update({k: v for k, v in mllm.items() if k.startswith("edit_head.")})
    # `emb` is the 8 [IMG] embedding rows the edit head adds to its input (the training code
    # used embed_tokens[-8:], the demo ckpt['emb']); stored as (8, H) or (1, 8, H).
    emb = mllm.get("emb", mllm["model.embed_tokens.weight"][-len(IMG_TOKENS) :])
    heads["emb"] = emb.reshape(1, len(IMG_TOKENS), emb.shape[-1])
    save_file({k: v.to(dtype).contiguous() for k, v in heads.items()}, str(out))


def _write_unet(ip2p: Path, unet_pt: Path, out: Path, dtype: torch.dtype) -> None:
    _save_unet(ip2p, read_state_dict(unet_pt), out, dtype, str(unet_pt))


def _save_unet(ip2p: Path, sd: dict[str, Any], out: Path, dtype: torch.dtype, what: str) -> None:
    """A UNet of InstructPix2Pix's configuration (input channels as its weights have them) from ``sd``."""
    UNet2DConditionModel = load("diffusers", "UNet2DConditionModel")

    config = _read_json(_required(ip2p / "unet" / "config.json"))
    if "conv_in.weight" not in sd:
        raise ModelFilesError(f"{what} is not a UNet state dict (no conv_in.weight)")
    config["in_channels"] = sd["conv_in.weight"].shape[1]
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(config)
    _load_exact(unet, {k: v.to(dtype) for k, v in sd.items()}, what)
    unet.save_pretrained(out)


def add_plain_ip2p(ip2p: Path, models_dir: Path, dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Add InstructPix2Pix's own parts (downloaded later, on their own) to an installed bundle
    whose other sources may be gone: written aside, moved in, the inventory extended."""
    quiet_libraries()
    if not has_plain_ip2p(ip2p):
        raise ModelFilesError(
            f"InstructPix2Pix's own UNet weights, text_encoder/ and tokenizer/ are not all in {ip2p}"
        )
    inventory, bundle = read_inventory(models_dir), bundle_path(models_dir)
    work, final = bundle / (PLAIN_DIR + ".partial"), bundle / PLAIN_DIR
    shutil.rmtree(work, ignore_errors=True)
    try:
        _write_plain_ip2p(ip2p, work, dtype)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    known = {
        rel: meta["sha256"] for rel, meta in inventory["files"].items() if not rel.startswith(PLAIN_DIR + "/")
    }
    return write_inventory(
        bundle,
        {**inventory["model"], "plain_ip2p": True},
        inventory.get("source", {}),
        inventory.get("dtype", "float16"),
        known,
    )


def has_plain_ip2p(ip2p: Path) -> bool:
    """Are InstructPix2Pix's own UNet weights, text encoder and tokenizer there (the optional
    component, downloaded only when asked for)?"""
    unet = any((ip2p / "unet" / name).is_file() for name in _PLAIN_UNET_NAMES)
    return (
        unet
        and (ip2p / "text_encoder" / "config.json").is_file()
        and (ip2p / "tokenizer" / "vocab.json").is_file()
    )


def _write_plain_ip2p(ip2p: Path, out: Path, dtype: torch.dtype) -> None:
    CLIPTextModel = load("transformers", "CLIPTextModel")

    _save_unet(ip2p, read_checkpoint_dir(ip2p / "unet"), out / "unet", dtype, "InstructPix2Pix's UNet")
    try:
        CLIPTextModel.from_pretrained(ip2p / "text_encoder", dtype=dtype).save_pretrained(
            out / "text_encoder"
        )
    except (OSError, ValueError) as exc:
        raise ModelFilesError(
            f"InstructPix2Pix's text encoder in {ip2p / 'text_encoder'} is unreadable: {exc}"
        ) from exc
    (out / "tokenizer").mkdir(parents=True)
    for name in CLIP_TOKENIZER_FILES:
        if (ip2p / "tokenizer" / name).is_file():
            shutil.copy2(ip2p / "tokenizer" / name, out / "tokenizer" / name)


def _write_vae(ip2p: Path, out: Path, dtype: torch.dtype) -> None:
    AutoencoderKL = load("diffusers", "AutoencoderKL")

    config = _read_json(_required(ip2p / "vae" / "config.json"))
    sd = read_checkpoint_dir(ip2p / "vae")
    with init_empty_weights():
        vae = AutoencoderKL.from_config(config)
    _load_exact(vae, {k: v.to(dtype) for k, v in sd.items()}, "the InstructPix2Pix VAE")
    vae.save_pretrained(out)


def _load_exact(module: torch.nn.Module, sd: dict[str, Any], what: str) -> None:
    expected = set(module.state_dict().keys())
    missing, unexpected = sorted(expected - sd.keys()), sorted(sd.keys() - expected)
    if missing or unexpected:
        raise ModelFilesError(
            f"{what} does not match its architecture: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    try:
        module.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as exc:  # shape mismatches
        raise ModelFilesError(
            f"{what} has weights of the wrong shape: {str(exc).splitlines()[-1].strip()}"
        ) from exc


def _required(path: Path) -> Path:
    if not path.is_file():
        raise ModelFilesError(f"missing model file: {path}")
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError) as exc:
        raise ModelFilesError(f"unreadable {path}: {exc}") from exc
