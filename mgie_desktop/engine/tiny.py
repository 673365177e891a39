"""Tiny random-weight MGIE model sets written in the reference's exact on-disk formats.

Same directory layout, file names, key names and file formats as a user's real download
(sharded pickled LLaVA with ``model_type: "llava"``, ``mllm.pt`` with ``emb``, ``unet.pt``,
a full CLIP directory, an InstructPix2Pix directory), only with small dimensions. They go
through the very converter and loader real files take. Deterministic: same files every time.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch

from mgie_desktop.core.deferred import load
from mgie_desktop.engine.convert import CLIP_DIR, IP2P_DIR, LLAVA_DIR, MGIE_DIR
from mgie_desktop.engine.model import EditHead
from mgie_desktop.engine.prompt import IM_END, IM_PATCH, IM_START, IMG_TOKENS
from mgie_desktop.engine.runtime import quiet_libraries

HIDDEN, LAYERS, HEADS, INTERMEDIATE = 64, 2, 4, 128
CLIP_HIDDEN = 32
COND_DIM = 32
# The answer the "emitting" variant is wired to give, token by token, before [IMG0..7].
EMITTED_ANSWER = ("▁The", "▁sky", "▁will", "▁be", "▁o", "ra", "nge", ".")


def write_tiny_reference(src: Path, emit_image_tokens: bool = False, seed: int = 0) -> Path:
    """Write a tiny reference layout under ``src`` (see ``convert.locate_reference``).

    Random weights never produce ``[IMG0]``, so the reference's fallback slice runs. With
    ``emit_image_tokens`` the LLM is wired to answer ``EMITTED_ANSWER`` then ``[IMG0..7]``
    and ``</s>``: attention and MLP outputs are zeroed so each position's last hidden state
    is its own token's embedding, and lm_head maps each token to its successor.
    """
    quiet_libraries()  # the libraries' advice on random tiny configs is noise to whoever runs this
    src = Path(src)
    torch.manual_seed(seed)
    llava, mgie = src / LLAVA_DIR, src / MGIE_DIR
    for d in (llava, mgie):
        d.mkdir(parents=True, exist_ok=True)
    base_vocab = _write_llava_tokenizer(llava)
    llava_vocab = base_vocab + 3
    mllm_vocab = llava_vocab + len(IMG_TOKENS)

    llm = _llama_weights(llava_vocab)
    projector = {
        "model.mm_projector.weight": torch.randn(HIDDEN, CLIP_HIDDEN) * 0.05,
        "model.mm_projector.bias": torch.zeros(HIDDEN),
    }
    embed = torch.randn(mllm_vocab, HIDDEN) * 0.5
    lm_head = torch.randn(mllm_vocab, HIDDEN) * 0.05
    if emit_image_tokens:
        _wire_answer(llava, llm, embed, lm_head, base_vocab, llava_vocab)
    _write_llava_checkpoint(
        llava,
        {
            **llm,
            **projector,
            "model.embed_tokens.weight": embed[:llava_vocab],
            "lm_head.weight": lm_head[:llava_vocab],
        },
    )
    _write_json(
        llava / "config.json", llava_config(llava_vocab, HIDDEN, INTERMEDIATE, HEADS, LAYERS, CLIP_HIDDEN)
    )

    head = EditHead(HIDDEN, 32, 77, COND_DIM, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64)
    torch.nn.init.normal_(head.query, std=0.5)
    mllm = {
        "model.embed_tokens.weight": embed,
        "lm_head.weight": lm_head,
        **{f"edit_head.{k}": v for k, v in head.state_dict().items()},
        "emb": embed[-len(IMG_TOKENS) :].unsqueeze(0).clone(),
    }
    torch.save({k: v.half() for k, v in mllm.items()}, mgie / "mllm.pt")

    unet_config = _write_ip2p(src / IP2P_DIR)
    _write_unet_pt(mgie / "unet.pt", unet_config)
    _write_clip(src / CLIP_DIR)
    write_plain_ip2p(src / IP2P_DIR, unet_config)
    return src


def write_plain_ip2p(ip2p: Path, unet_config: dict[str, Any], seed: int = 1) -> None:
    """InstructPix2Pix's own UNet, CLIP text encoder and tokenizer (the optional component that
    renders the person's words directly), laid out as timbrooks/instruct-pix2pix ships them."""
    UNet2DConditionModel = load("diffusers", "UNet2DConditionModel")
    CLIPTextConfig, CLIPTextModel = load("transformers", "CLIPTextConfig", "CLIPTextModel")

    with torch.random.fork_rng():  # its own random weights, leaving the caller's generator as it was
        torch.manual_seed(seed)
        UNet2DConditionModel.from_config(unet_config).save_pretrained(ip2p / "unet")
        text = CLIPTextConfig(
            hidden_size=unet_config["cross_attention_dim"],
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=128,
            max_position_embeddings=77,
            bos_token_id=len(_CLIP_CHARS) * 2,
            eos_token_id=len(_CLIP_CHARS) * 2 + 1,
        )
        CLIPTextModel(text).save_pretrained(ip2p / "text_encoder")
    write_clip_tokenizer(ip2p / "tokenizer")


_CLIP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"


def write_clip_tokenizer(out: Path) -> None:
    """A character-level CLIP BPE tokenizer in the real files' format (vocab.json, merges.txt)."""
    out.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(_CLIP_CHARS)}
    vocab.update({c + "</w>": len(_CLIP_CHARS) + i for i, c in enumerate(_CLIP_CHARS)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    _write_json(out / "vocab.json", vocab)
    (out / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    _write_json(
        out / "special_tokens_map.json",
        {
            "bos_token": "<|startoftext|>",
            "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
        },
    )
    _write_json(
        out / "tokenizer_config.json",
        {"model_max_length": 77, "do_lower_case": True, "tokenizer_class": "CLIPTokenizer"},
    )


def _write_llava_tokenizer(llava: Path) -> int:
    model = resources.files("mgie_desktop.engine") / "data" / "tiny_tokenizer.model"
    with resources.as_file(model) as path:
        shutil.copy2(path, llava / "tokenizer.model")
    vocab = spm.SentencePieceProcessor(model_file=str(llava / "tokenizer.model")).get_piece_size()
    write_llava_tokenizer_files(llava, vocab)
    return vocab


def write_llava_tokenizer_files(llava: Path, vocab: int) -> None:
    """Beside a ``tokenizer.model`` of ``vocab`` pieces: LLaVA's added tokens and configs."""
    _write_json(llava / "added_tokens.json", {IM_PATCH: vocab, IM_START: vocab + 1, IM_END: vocab + 2})
    _write_json(
        llava / "special_tokens_map.json", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    )
    _write_json(
        llava / "tokenizer_config.json",
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


def _llama_weights(vocab: int) -> dict[str, torch.Tensor]:
    sd = {"model.norm.weight": torch.ones(HIDDEN)}
    head_dim = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            sd[p + f"self_attn.{name}.weight"] = torch.randn(HIDDEN, HIDDEN) * 0.08
        sd[p + "mlp.gate_proj.weight"] = torch.randn(INTERMEDIATE, HIDDEN) * 0.08
        sd[p + "mlp.up_proj.weight"] = torch.randn(INTERMEDIATE, HIDDEN) * 0.08
        sd[p + "mlp.down_proj.weight"] = torch.randn(HIDDEN, INTERMEDIATE) * 0.08
        sd[p + "input_layernorm.weight"] = torch.ones(HIDDEN)
        sd[p + "post_attention_layernorm.weight"] = torch.ones(HIDDEN)
        # Checkpoints saved by transformers 4.28 carry this buffer; the converter drops it.
        sd[p + "self_attn.rotary_emb.inv_freq"] = 1.0 / (
            10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)
        )
    return sd


def _wire_answer(
    llava: Path,
    llm: dict[str, Any],
    embed: torch.Tensor,
    lm_head: torch.Tensor,
    base_vocab: int,
    llava_vocab: int,
) -> None:
    for i in range(LAYERS):  # residual stream = the current token's embedding
        llm[f"model.layers.{i}.self_attn.o_proj.weight"].zero_()
        llm[f"model.layers.{i}.mlp.down_proj.weight"].zero_()
    sp = spm.SentencePieceProcessor(model_file=str(llava / "tokenizer.model"))
    last_prompt_token = sp.encode("ASSISTANT:")[-1]
    chain = [
        last_prompt_token,
        *(sp.piece_to_id(p) for p in EMITTED_ANSWER),
        *range(llava_vocab, llava_vocab + len(IMG_TOKENS)),
        sp.eos_id(),
    ]
    assert len(set(chain)) == len(chain) and sp.unk_id() not in chain[1:-1]
    lm_head.mul_(0.1)
    for current, following in zip(chain, chain[1:], strict=False):
        lm_head[following] = embed[current] / embed[current].norm() * 4.0


def _write_llava_checkpoint(llava: Path, sd: dict[str, torch.Tensor]) -> None:
    """Two pickled fp16 shards and an index, as LLaVA's merged checkpoint ships."""
    keys = sorted(sd)
    shards = {
        "pytorch_model-00001-of-00002.bin": keys[: len(keys) // 2],
        "pytorch_model-00002-of-00002.bin": keys[len(keys) // 2 :],
    }
    weight_map, total = {}, 0
    for name, shard_keys in shards.items():
        tensors = {k: sd[k].half() for k in shard_keys}
        torch.save(tensors, llava / name)
        weight_map.update(dict.fromkeys(shard_keys, name))
        total += sum(t.numel() * 2 for t in tensors.values())
    _write_json(
        llava / "pytorch_model.bin.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map}
    )


def llava_config(
    vocab: int, hidden: int, intermediate: int, heads: int, layers: int, clip_hidden: int
) -> dict[str, Any]:
    """LLaVA-7B-v1's config.json (as transformers 4.28 wrote it) at the given sizes."""
    return {
        "_name_or_path": "LLaVA-7B-v1",
        "architectures": ["LlavaLlamaForCausalLM"],
        "model_type": "llava",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "initializer_range": 0.02,
        "max_sequence_length": 2048,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "transformers_version": "4.28.0.dev0",
        "use_cache": True,
        "vocab_size": vocab,
        "mm_hidden_size": clip_hidden,
        "mm_use_im_start_end": True,
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "openai/clip-vit-large-patch14",
        "use_mm_proj": True,
        "tune_mm_mlp_adapter": False,
    }


def _write_clip(clip: Path) -> None:
    CLIPConfig, CLIPModel = load("transformers", "CLIPConfig", "CLIPModel")

    config = CLIPConfig(
        text_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 128,
            "max_position_embeddings": 77,
        },
        vision_config={
            "hidden_size": CLIP_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": 3,
            "num_attention_heads": 2,
            "image_size": 224,
            "patch_size": 14,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(clip)
    write_preprocessor_config(clip)


def write_preprocessor_config(clip: Path) -> None:
    """CLIP ViT-L/14's image preprocessing, as openai/clip-vit-large-patch14 ships it."""
    _write_json(
        clip / "preprocessor_config.json",
        {
            "crop_size": 224,
            "do_center_crop": True,
            "do_normalize": True,
            "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "image_processor_type": "CLIPImageProcessor",
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711],
            "resample": 3,
            "size": 224,
        },
    )


def _write_ip2p(ip2p: Path) -> dict[str, Any]:
    AutoencoderKL = load("diffusers", "AutoencoderKL")

    unet_config = {
        "_class_name": "UNet2DConditionModel",
        "sample_size": 32,
        "in_channels": 8,
        "out_channels": 4,
        "layers_per_block": 1,
        "block_out_channels": [32, 64],
        "norm_num_groups": 32,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "cross_attention_dim": COND_DIM,
        "attention_head_dim": 8,
    }
    vae = AutoencoderKL(  # four blocks: the real 8x downscale
        block_out_channels=[16, 16, 16, 16],
        norm_num_groups=8,
        latent_channels=4,
        layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        sample_size=64,
        scaling_factor=0.18215,
    )
    vae.save_pretrained(ip2p / "vae", safe_serialization=False)
    write_ip2p_configs(
        ip2p,
        unet_config,
        None,
        {
            "_class_name": "EulerAncestralDiscreteScheduler",
            "_diffusers_version": "0.15.0.dev0",
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "num_train_timesteps": 1000,
            "prediction_type": "epsilon",
            "steps_offset": 1,
            "trained_betas": None,
        },
    )
    return unet_config


def write_ip2p_configs(
    ip2p: Path, unet_config: dict[str, Any], vae_config: dict[str, Any] | None, scheduler: dict[str, Any]
) -> None:
    """timbrooks/instruct-pix2pix's configs: the UNet's, the VAE's (unless its weights were
    saved with it), the scheduler's and the pipeline index."""
    for sub, config in (
        ("unet", {"_class_name": "UNet2DConditionModel", **unet_config}),
        ("vae", vae_config and {"_class_name": "AutoencoderKL", **vae_config}),
        ("scheduler", scheduler),
    ):
        if config:
            (ip2p / sub).mkdir(parents=True, exist_ok=True)
            _write_json(
                ip2p / sub / ("scheduler_config.json" if sub == "scheduler" else "config.json"), config
            )
    _write_json(
        ip2p / "model_index.json",
        {
            "_class_name": "StableDiffusionInstructPix2PixPipeline",
            "_diffusers_version": "0.15.0.dev0",
            "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "safety_checker": [None, None],
            "feature_extractor": ["transformers", "CLIPImageProcessor"],
            "requires_safety_checker": False,
        },
    )


def _write_unet_pt(path: Path, config: dict[str, Any]) -> None:
    UNet2DConditionModel = load("diffusers", "UNet2DConditionModel")

    unet = UNet2DConditionModel.from_config(config)
    torch.save({k: v.half() for k, v in unet.state_dict().items()}, path)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
