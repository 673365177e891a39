"""A tiny random-weight FLUX.2 [klein] in the exact diffusers layout Black Forest Labs publish
(model_index.json naming Flux2KleinPipeline; transformer/, vae/, text_encoder/, tokenizer/,
scheduler/), so tests load it by the code a real download takes (``engine.klein``).

Its shapes follow the real model's rules at a toy size: the text encoder has more layers than
the pipeline reads (the real one has 36, it reads 9, 18 and 27), the transformer reads three of
its hidden states side by side, the VAE scales by 8 and packs 2x2 patches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mgie_desktop.core.deferred import load

TEXT_HIDDEN = 16
TEXT_LAYERS = 30  # more than the pipeline reads (27 + 1): the loader leaves the rest out
LATENT_CHANNELS = 8
# The real scheduler's settings (FLUX.2 [klein] 4B, scheduler/scheduler_config.json).
SCHEDULER = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
    "time_shift_type": "exponential",
}
CHAT_TEMPLATE = (
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{%- endif %}"
)


def write_tiny_klein(out: Path, seed: int = 2, distilled: bool = True) -> Path:
    """Write the model into ``out`` (made if needed) and return it."""
    Flux2KleinPipeline, Flux2Transformer2DModel, AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler = load(
        "diffusers",
        "Flux2KleinPipeline",
        "Flux2Transformer2DModel",
        "AutoencoderKLFlux2",
        "FlowMatchEulerDiscreteScheduler",
    )
    Qwen3Config, Qwen3ForCausalLM = load("transformers", "Qwen3Config", "Qwen3ForCausalLM")

    tokenizer = byte_tokenizer()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        text_encoder = Qwen3ForCausalLM(
            Qwen3Config(
                vocab_size=len(tokenizer),
                hidden_size=TEXT_HIDDEN,
                intermediate_size=32,
                num_hidden_layers=TEXT_LAYERS,
                num_attention_heads=2,
                num_key_value_heads=1,
                head_dim=8,
                max_position_embeddings=1024,
                tie_word_embeddings=True,
            )
        )
        transformer = Flux2Transformer2DModel(
            patch_size=1,
            in_channels=LATENT_CHANNELS * 4,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=3 * TEXT_HIDDEN,
            timestep_guidance_channels=32,
            axes_dims_rope=(4, 4, 4, 4),
            guidance_embeds=False,
        )
        vae = AutoencoderKLFlux2(
            block_out_channels=(8, 8, 16, 16),
            layers_per_block=1,
            latent_channels=LATENT_CHANNELS,
            norm_num_groups=4,
            sample_size=64,
        )
    for model in (text_encoder, transformer, vae):
        _wake(model, generator)
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=distilled,
    )
    out = Path(out)
    pipe.save_pretrained(out, safe_serialization=True)
    # transformers 5 calls the class Qwen2Tokenizer; the published model_index.json names the
    # fast one, as transformers 4 saved it. Both load; the file says what the real one says.
    index = json.loads((out / "model_index.json").read_text(encoding="utf-8"))
    index["tokenizer"] = ["transformers", "Qwen2TokenizerFast"]
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return out


def _wake(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Random weights everywhere: diffusers starts some output layers at zero, which would make
    every edit return its photo and hide a broken path."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1 or not bool(parameter.any()):
                noise = torch.randn(parameter.shape, generator=generator) * 0.05
                parameter.copy_(noise if parameter.dim() == 1 else parameter + noise)


def byte_tokenizer() -> Any:  # transformers' Qwen2TokenizerFast
    """A byte-level BPE tokenizer without merges (each byte one token) and Qwen's chat markers,
    saved by transformers in the files the real one has (tokenizer.json, its config, the template)."""
    Qwen2TokenizerFast = load("transformers", "Qwen2TokenizerFast")
    ByteLevel = load("tokenizers.pre_tokenizers", "ByteLevel")

    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = Qwen2TokenizerFast(
        vocab=vocab, merges=[], unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.add_tokens(["<think>", "</think>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
