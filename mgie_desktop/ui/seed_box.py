"""A seed field that holds every seed the core accepts (63 bits; QSpinBox stops at 2**31 - 1)."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QLineEdit

from mgie_desktop.core.params import SEED


class SeedBox(QLineEdit):
    """Digits only, within ``core.params.SEED``; ``value``/``setValue`` like a spin box."""

    valueChanged = Signal(object)  # int: a Signal(int) would be cut to 32 bits

    def __init__(self, value: int = 0):
        super().__init__()
        digits = len(str(int(SEED.high)))
        self.setValidator(QRegularExpressionValidator(QRegularExpression(f"[0-9]{{1,{digits}}}"), self))
        self._value = int(SEED.low)
        self.setValue(value)
        self.textEdited.connect(self._edited)
        self.editingFinished.connect(
            lambda: self.setText(str(self._value))
        )  # an emptied field shows the seed again

    def value(self) -> int:
        return self._value

    def setValue(self, value: int) -> None:
        value = int(SEED.nearest(int(value)))
        changed = value != self._value
        self._value = value
        self.setText(str(value))
        if changed:
            self.valueChanged.emit(value)

    def _edited(self, text: str) -> None:
        if text and int(text) <= SEED.high and int(text) != self._value:
            self._value = int(text)
            self.valueChanged.emit(self._value)
