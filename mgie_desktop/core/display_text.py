"""Text from files made safe to show, in a terminal or a window.

Instructions and names inside a session or recipe came from elsewhere: printed raw, an escape
sequence could clear the screen, retitle the terminal or hide the rest of a line, and a bidi
override could make text read differently from what it holds. ``display_text`` keeps ordinary
Unicode (accents, emoji, other scripts) and drops all of that. Pure Python: no Qt.
"""

from __future__ import annotations

import re

# Terminal escape sequences, whole: their parameters are not text either. CSI (ESC [ or the
# C1 CSI), then strings ended by BEL or ST (OSC, DCS, SOS, PM, APC), then two-byte escapes.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
)
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# C0 and C1 controls and DEL but the line feed (line breaks are \n or spaces by then), and the
# bidi embeddings, overrides and isolates that reorder what follows them.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone half of a pair: no character at all


def display_text(text: str, *, keep_newlines: bool = False, width: int | None = None) -> str:
    """``text`` without control characters or escape sequences; tabs become spaces, line breaks
    become ``\\n`` with ``keep_newlines``, else spaces; lone surrogates become U+FFFD. With
    ``width``, at most that many characters, the last three "..." when it was cut."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _LINE_BREAK.sub("\n" if keep_newlines else " ", text).replace("\t", " ")
    text = _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))
    if width is not None and len(text) > width:
        text = text[: max(0, width - 3)] + "..."
    return text


def sentence(message: str) -> str:
    """A message as the window shows it: a sentence, capitalised and ended. Messages are written
    as the command line prints them, after ``mgie-desktop:`` (lowercase, no full stop), so the
    same text serves both; names keep their case ("InstructPix2Pix", "MGIE")."""
    message = message.strip()
    if not message:
        return message
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "!", "?", "…")) else ".")
