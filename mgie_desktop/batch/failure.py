"""A photo's failure as one line: its results line, the progress line and the summary show it.

On Ray an error reaches us wrapped: a task error holds the original as ``.cause``, and when Ray
Data wraps a UDF's error in its own ("UDF failed to process a data block"), the original is
only in the text, as the first exception of the worker's traceback. Both are peeled off here
without importing Ray (an optional extra).
"""

from __future__ import annotations

import re

from mgie_desktop.core.display_text import display_text

MAX_CHARS = 300
_CHAINED = "The above exception was the direct cause of the following exception:"
# An exception's line as a traceback prints it ("RuntimeError: boom", "ray.exceptions.X: ..."),
# and its type, which goes: the message is the cause.
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Exit|Interrupt): ")
_MAX_DEPTH = 16


def failure_text(exc: BaseException) -> str:
    """Why ``exc`` happened, in one line: the underlying cause's message, Ray's wrappers off."""
    original = _traceback_original(str(exc))
    if original:
        return original
    inner = _innermost_cause(exc)
    if inner is not exc:
        return failure_text(inner)
    return _one_line(str(exc)) or type(exc).__name__


def _innermost_cause(exc: BaseException) -> BaseException:
    # ``.cause``: Ray's task errors (RayTaskError and its dual classes). Not ``__cause__``: our
    # own errors are raised ``from`` an OSError, and their message is the one written for people.
    for _ in range(_MAX_DEPTH):
        cause = getattr(exc, "cause", None)
        if not isinstance(cause, BaseException) or cause is exc:
            break
        exc = cause
    return exc


def _traceback_original(text: str) -> str:
    """The first exception of a (chained) traceback that Ray put in an error's text, if any:
    its last exception line before any "direct cause" (a chain prints its root first)."""
    if 'File "' not in text:
        return ""
    for line in reversed(text.split(_CHAINED)[0].splitlines()):
        shown = _one_line(line)
        if _EXCEPTION_LINE.match(shown):
            return _EXCEPTION_LINE.sub("", shown, count=1)
    return ""


def _one_line(text: str) -> str:
    lines = [shown for line in text.splitlines() if (shown := display_text(line).strip())]
    return display_text(lines[0], width=MAX_CHARS) if lines else ""
