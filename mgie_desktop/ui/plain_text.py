"""Text from files and people shown as text: Qt would render one that looks like HTML as rich text."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from mgie_desktop.core.display_text import display_text


def plain_label(text: str) -> QLabel:
    """A wrapping label that shows ``text`` as it is, tags and all, with control characters removed."""
    label = QLabel(display_text(text, keep_newlines=True))
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


def plain_tooltip(text: str) -> str:
    """A tooltip showing ``text`` literally: tooltips have no text format of their own, so the text
    is escaped into rich text that keeps its line breaks."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"
