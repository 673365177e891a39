"""MGIE's prompt, tokenised exactly as the reference stack did, and its text clean-up.

The reference ran transformers 4.28's slow sentencepiece ``LlamaTokenizer``. Current
transformers splits the same text into different ids (it keeps a newline before
``<im_start>`` and a space piece before added tokens), so the model would see a prompt it
was never trained on. This module reproduces the 4.28 behaviour with sentencepiece itself:
split on added/special tokens, strip whitespace on both sides of each split token, encode
every remaining chunk separately (each gets sentencepiece's dummy prefix), prepend BOS.
No torch here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
IM_PATCH, IM_START, IM_END = "<im_patch>", "<im_start>", "<im_end>"
IMG_TOKENS = tuple(f"[IMG{i}]" for i in range(8))


def build_prompt(instruction: str, image_token_len: int, use_im_start_end: bool = True) -> str:
    """LLaVA's vicuna_v1_1 conversation (separator style TWO) around MGIE's question."""
    image = IM_PATCH * image_token_len
    if use_im_start_end:
        image = IM_START + image + IM_END
    question = f"what will this image be like if '{instruction}'\n{image}"
    return f"{SYSTEM} USER: {question} ASSISTANT:"


# transformers 4.28 `clean_up_tokenization`, applied by decode() unless the config disables it.
_CLEANUPS = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


def clean_expressive(text: str) -> str:
    """The reference demo's clean-up of the decoded answer: cut at ``</s>``, at
    "alternative" and at ``[IMG0]``, then keep the first two sentences.

    The reference's own version cut at "ASSISTANT:" first because it decoded the whole
    prompt too; we decode only the answer. It also crashed on an empty answer; we return "".
    """
    s = text
    if "</s>" in s:
        s = s[: s.index("</s>")].strip()
    if "alternative" in s.lower():
        s = s[: s.lower().index("alternative")]
    if IMG_TOKENS[0] in s:
        s = s[: s.index(IMG_TOKENS[0])]
    s = ".".join(part.strip() for part in s.split(".")[:2])
    if not s.strip():
        return ""
    if s[-1] != ".":
        s += "."
    return s.strip()


@dataclass(frozen=True)
class _SplitToken:
    text: str
    token_id: int
    lstrip: bool  # strip whitespace from the chunk before this token
    rstrip: bool  # strip whitespace from the chunk after this token


class PromptTokenizer:
    """LLaVA's sentencepiece tokenizer plus its added tokens, behaving like transformers 4.28."""

    def __init__(self, directory: str | Path):
        directory = Path(directory)
        self.sp = spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))
        config = _read_json(directory / "tokenizer_config.json")
        self.added: dict[str, int] = _read_json(directory / "added_tokens.json")
        self.clean_up_spaces = bool(config.get("clean_up_tokenization_spaces", True))
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        specials = _read_json(directory / "special_tokens_map.json")
        split = {text: _SplitToken(text, tid, True, True) for text, tid in self.added.items()}
        for key in ("bos_token", "eos_token", "unk_token"):
            token = specials.get(key, config.get(key))
            if token is None:
                continue
            # An AddedToken written as a dict carries its own strip flags; a plain string
            # was stripped on both sides by 4.28.
            content = token["content"] if isinstance(token, dict) else token
            lstrip = bool(token.get("lstrip", False)) if isinstance(token, dict) else True
            rstrip = bool(token.get("rstrip", False)) if isinstance(token, dict) else True
            split[content] = _SplitToken(content, self.sp.piece_to_id(content), lstrip, rstrip)
        self._split = split
        pattern = "|".join(re.escape(t) for t in sorted(split, key=len, reverse=True))
        self._splitter = re.compile(f"({pattern})")

    def __len__(self) -> int:
        return self.sp.get_piece_size() + len(self.added)

    def token_id(self, token: str) -> int:
        if token in self.added:
            return self.added[token]
        tid = self.sp.piece_to_id(token)
        if tid == self.sp.unk_id() and token != self.sp.id_to_piece(tid):
            raise KeyError(f"token {token!r} is not in the tokenizer")
        return tid

    def encode(self, text: str) -> list[int]:
        """Ids for ``text`` with BOS, as 4.28's slow ``LlamaTokenizer.__call__`` gave them."""
        parts = [p for p in self._splitter.split(text) if p != ""]
        for i, part in enumerate(parts):
            token = self._split.get(part)
            if token is None:
                continue
            if token.rstrip and i + 1 < len(parts) and parts[i + 1] not in self._split:
                parts[i + 1] = parts[i + 1].lstrip()
            if token.lstrip and i > 0 and parts[i - 1] not in self._split:
                parts[i - 1] = parts[i - 1].rstrip()
        ids = [self.bos_id]
        for part in parts:
            if part in self._split:
                ids.append(self._split[part].token_id)
            elif part:
                ids.extend(self.sp.encode(part))
        return ids

    def decode_answer(self, ids: list[int]) -> str:
        """The text of generated ids up to the first added token (``[IMG0]``...) or EOS,
        decoded as 4.28's slow tokenizer did (special pieces kept as text)."""
        added_ids = set(self.added.values())
        pieces: list[str] = []
        for tid in ids:
            if tid in added_ids or tid == self.eos_id or tid >= self.sp.get_piece_size():
                break
            pieces.append(self.sp.id_to_piece(tid))
        text = self._pieces_to_string(pieces)
        if self.clean_up_spaces:
            for old, new in _CLEANUPS:
                text = text.replace(old, new)
        return text

    def _pieces_to_string(self, pieces: list[str]) -> str:
        # 4.28 LlamaTokenizer.convert_tokens_to_string: control pieces stay literal text.
        specials = {self.sp.id_to_piece(i) for i in (self.sp.unk_id(), self.bos_id, self.eos_id) if i >= 0}
        out, prev_special = "", False
        run: list[str] = []
        for i, piece in enumerate(pieces):
            if piece in specials:
                if not prev_special and i != 0:
                    out += " "
                out += self.sp.decode_pieces(run) + piece
                run, prev_special = [], True
            else:
                run.append(piece)
                prev_special = False
        return out + str(self.sp.decode_pieces(run))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
        return data
