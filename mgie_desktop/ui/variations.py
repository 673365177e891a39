"""Pick one of several renders of the same instruction (one LLM pass, several seeds)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QToolButton, QVBoxLayout

THUMB = 240


class VariationsPicker(QDialog):
    chosen = Signal(int)

    def __init__(self, thumbs: list, seeds: list[int], instruction: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Choose a variation")
        self.setModal(False)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"“{instruction}” — click the version to keep:"))
        grid = QGridLayout()
        self.buttons: list[QToolButton] = []
        for i, (thumb, seed) in enumerate(zip(thumbs, seeds, strict=True)):
            button = QToolButton()
            button.setIcon(QIcon(QPixmap.fromImage(thumb)))
            button.setIconSize(QSize(THUMB, THUMB))
            button.setText(f"seed {seed}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.clicked.connect(lambda _=False, index=i: self._pick(index))
            grid.addWidget(button, i // 2, i % 2)
            self.buttons.append(button)
        layout.addLayout(grid)

    def _pick(self, index: int) -> None:
        self.chosen.emit(index)
        self.accept()
