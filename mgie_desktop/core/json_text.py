"""JSON from elsewhere (recipes, the server's jobs): how deep it nests, found before it is parsed,
because Python's json recurses once per level and a deep enough document exhausts the stack."""

from __future__ import annotations

import re
from itertools import accumulate

# A JSON string, its closing quote optional so an unterminated one ends the scan instead of being
# retried from every later quote; possessive, so no match ever backtracks (linear time).
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """How deep ``text``'s brackets nest outside strings, in linear C-speed passes."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)
