"""Text that wraps anywhere and grows to fit its lines: the expressive instruction's box."""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QPlainTextEdit, QSizePolicy


class WrappingText(QPlainTextEdit):
    """Text that wraps anywhere (a long word or URL never widens the panel) and grows to fit its
    lines; read-only unless made editable. ``text``/``setText`` as on a QLabel."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QPlainTextEdit.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def text(self) -> str:
        return self.toPlainText()

    def setText(self, text: str) -> None:  # noqa: N802 (QLabel's name)
        self.setPlainText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self, *_args) -> None:
        lines = max(1, min(12, int(self.document().size().height())))
        if not self.toPlainText() and self.placeholderText():  # empty: room for the placeholder's lines
            width = max(1, self.viewport().width() - 2 * int(self.document().documentMargin()))
            wrapped = self.fontMetrics().boundingRect(
                QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, self.placeholderText()
            )
            lines = max(lines, min(12, math.ceil(wrapped.height() / self.fontMetrics().lineSpacing())))
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 10 + 2 * self.frameWidth())
