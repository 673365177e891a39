"""Steering: the eight visual tokens of a person's own expressive instruction, without generating.

Generation feeds each new token back and the reference takes the final hidden states that
predicted ``[IMG0..7]`` (the state at position j predicts token j+1). A causal LLM computes the
same states in one pass over the whole sequence (teacher forcing), so re-deriving the tokens of an
edited text costs one prefill, not a generation.
"""

from __future__ import annotations

from typing import Any

import torch

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.instruction import check_text
from mgie_desktop.engine.prompt import PromptTokenizer


def steered_answer_ids(tokenizer: PromptTokenizer, text: str, image_token_ids: list[int]) -> list[int]:
    """The answer's token ids as the model would have generated them (the prompt's own 4.28
    tokenisation, less the BOS), followed by ``[IMG0..7]`` (any ``[IMGk]`` typed in the text is
    dropped: the eight always follow the words, as generation emits them)."""
    if not text or not text.strip():
        raise InputError(
            "the expressive instruction is empty: write what the edit should do, or let MGIE write it"
        )
    check_text(text, "the expressive instruction")  # sentencepiece fails on lone surrogates with a C++ error
    ids = [i for i in tokenizer.encode(text.strip())[1:] if i not in image_token_ids]
    if not ids:
        raise InputError("the expressive instruction has no words: write what the edit should do")
    return ids + list(image_token_ids)


def teacher_forced_states(llm: Any, prompt_embeds: torch.Tensor, answer_ids: torch.Tensor) -> torch.Tensor:
    """Final-norm hidden states, (sequence, hidden), of the prompt followed by the answer: the
    states generation would have produced position by position."""
    answer_embeds = llm.get_input_embeddings()(answer_ids).to(prompt_embeds.dtype)
    embeds = torch.cat([prompt_embeds, answer_embeds], dim=1)
    captured: list[torch.Tensor] = []
    hook = llm.model.norm.register_forward_hook(lambda _m, _i, output: captured.append(output[0]))
    try:
        llm.model(
            inputs_embeds=embeds,
            attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device),
            use_cache=False,
        )
    finally:
        hook.remove()
    return captured[0]
