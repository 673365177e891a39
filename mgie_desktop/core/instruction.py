"""How long an instruction may be: counted in the LLM's own tokens, before anything runs.

MGIE's LLM reads the instruction inside a prompt that already holds the system text and the
photo's patch tokens, and must leave room for its answer (the expressive instruction and the
eight [IMG] tokens). What is left of its context is a hard limit: past it the model would read a
cut prompt. Well before that, instructions much longer than the one-sentence ones MGIE learnt
from edit less predictably; past ``ADVISED_TOKENS`` the window says so but still lets it run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import InputError

ADVISED_TOKENS = 64  # about two sentences


@dataclass(frozen=True)
class Verdict:
    level: str    # "ok", "long" (runs, with a warning) or "too long" (refused)
    tokens: int
    message: str


@dataclass(frozen=True)
class InstructionLimit:
    count: Callable[[str], int]  # tokens the instruction takes in the prompt
    max_tokens: int              # what the context leaves for it
    advised: int = ADVISED_TOKENS

    def verdict(self, text: str) -> Verdict:
        n = self.count(text.strip())
        if n > self.max_tokens:
            return Verdict("too long", n, f"The instruction is {n} tokens; the model can read at most "
                                          f"{self.max_tokens}. Shorten it to say what the edit should do.")
        if n > self.advised:
            return Verdict("long", n, f"{n} tokens: MGIE follows short instructions best "
                                      f"(a sentence or two, up to about {self.advised} tokens).")
        return Verdict("ok", n, f"{n} tokens")

    def refusal(self, text: str) -> str:
        """The reason to refuse ``text`` before running anything, or ""."""
        verdict = self.verdict(text)
        return verdict.message if verdict.level == "too long" else ""

    def check(self, text: str) -> None:
        if problem := self.refusal(text):
            raise InputError(problem)
