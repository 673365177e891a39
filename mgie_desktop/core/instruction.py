"""How long an instruction may be: counted in the LLM's own tokens, before anything runs.

MGIE's LLM reads the instruction inside a prompt that already holds the system text and the
photo's patch tokens, and must leave room for its answer (the expressive instruction and the
eight [IMG] tokens). What is left of its context is a hard limit: past it the model would read a
cut prompt. Well before that, instructions much longer than the one-sentence ones MGIE learnt
from edit less predictably; past ``ADVISED_TOKENS`` the window says so but still lets it run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10 (requires-python) has no StrEnum: the same thing, str's own methods first
    from enum import Enum

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


from .errors import InputError

ADVISED_TOKENS = 64  # about two sentences
NOT_TEXT = "is not valid text (invalid UTF-8 or a lone surrogate)"


class Level(StrEnum):  # a str, so callers may compare with the plain words too
    OK = "ok"
    LONG = "long"  # runs, with a warning
    TOO_LONG = "too long"  # refused
    NOT_TEXT = "not text"  # refused: the tokenizer cannot take it


@dataclass(frozen=True)
class Verdict:
    level: Level
    tokens: int
    message: str


def check_text(text: str, what: str = "the instruction") -> None:
    """Refuse what cannot be encoded as UTF-8 before a tokenizer sees it: lone surrogates (a
    JSON escape, an HTTP body) and bytes that were not UTF-8 (Python hands those over from argv
    as surrogate escapes). The tokenizer would fail with a C++ cast error instead."""
    if not is_text(text):
        raise InputError(f"{what} {NOT_TEXT}")


def is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class InstructionLimit:
    count: Callable[[str], int]  # tokens the instruction takes in the prompt
    max_tokens: int  # what the context leaves for it
    advised: int = ADVISED_TOKENS

    def verdict(self, text: str) -> Verdict:
        if not is_text(text):
            return Verdict(Level.NOT_TEXT, 0, f"The instruction {NOT_TEXT}.")
        n = self.count(text.strip())
        if n > self.max_tokens:
            return Verdict(
                Level.TOO_LONG,
                n,
                f"The instruction is {n} tokens; the model can read at most "
                f"{self.max_tokens}. Shorten it to say what the edit should do.",
            )
        if n > self.advised:
            return Verdict(
                Level.LONG,
                n,
                f"{n} tokens: MGIE follows short instructions best "
                f"(a sentence or two, up to about {self.advised} tokens).",
            )
        return Verdict(Level.OK, n, f"{n} tokens")

    def refusal(self, text: str) -> str:
        """The reason to refuse ``text`` before running anything, or ""."""
        verdict = self.verdict(text)
        return verdict.message if verdict.level in (Level.TOO_LONG, Level.NOT_TEXT) else ""

    def check(self, text: str) -> None:
        """Raise InputError for what ``refusal`` refuses, written as the command line prints it
        (``verdict``'s messages are the window's sentences)."""
        verdict = self.verdict(text)
        if verdict.level == Level.NOT_TEXT:
            raise InputError(f"the instruction {NOT_TEXT}")
        if verdict.level == Level.TOO_LONG:
            raise InputError(
                f"the instruction is {verdict.tokens} tokens; the model can read at most "
                f"{self.max_tokens}: shorten it to say what the edit should do"
            )
