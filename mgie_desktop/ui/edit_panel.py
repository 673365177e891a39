"""The right-hand panel: instruction box, MGIE's reading of it, settings, apply/cancel."""

from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.core.params import DEFAULT_PRESET, PRESETS, EditParams, params_for

EXAMPLES = "Describe the edit, e.g.\n“make the sky a sunset”\n“remove the people in the background”\n“more contrast”"
MAX_SEED = 2**31 - 1


class InstructionBox(QPlainTextEdit):
    """Multi-line; Ctrl+Enter submits; Up/Down at the first/last line recall recent instructions."""

    submitted = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setPlaceholderText(EXAMPLES)
        self.setTabChangesFocus(True)
        self.recent: list[str] = []
        self._recall = 0

    def remember(self, text: str) -> None:
        if text in self.recent:
            self.recent.remove(text)
        self.recent.append(text)
        self._recall = len(self.recent)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and mods & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        cursor = self.textCursor()
        if key == Qt.Key.Key_Up and self.recent and cursor.blockNumber() == 0:
            self._show_recent(self._recall - 1)
            return
        if key == Qt.Key.Key_Down and self.recent and cursor.blockNumber() == self.document().blockCount() - 1:
            self._show_recent(self._recall + 1)
            return
        super().keyPressEvent(event)

    def _show_recent(self, index: int) -> None:
        self._recall = max(0, min(len(self.recent), index))
        self.setPlainText(self.recent[self._recall] if self._recall < len(self.recent) else "")
        self.moveCursor(QTextCursor.MoveOperation.End)


class EditPanel(QWidget):
    apply_requested = Signal()
    rerender_requested = Signal()
    variations_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.instruction = InstructionBox()
        self.instruction.setMaximumHeight(110)
        self.apply_button = QPushButton("Apply edit")
        self.apply_button.setDefault(True)
        self.apply_button.setToolTip("Apply the instruction to the current image (Ctrl+Enter)")
        self.rerender_button = QPushButton("Re-render")
        self.rerender_button.setToolTip("Render the last instruction again with these settings (no second LLM pass)")
        self.variations_button = QPushButton("Variations")
        self.variations_button.setToolTip("Render several seeds of the instruction at once and pick one")
        self.variation_count = QSpinBox(minimum=2, maximum=8, value=4)
        self.variation_count.setToolTip("How many variations")
        self.expressive = QLabel()
        self.expressive.setWordWrap(True)
        self.expressive.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.expressive.setObjectName("expressive")
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("notice")
        self.notice.hide()

        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setCurrentText(DEFAULT_PRESET)
        self.steps = QSpinBox(minimum=1, maximum=200)
        self.seed = QSpinBox(minimum=0, maximum=MAX_SEED)
        self.dice = QToolButton(text="⚄")
        self.dice.setToolTip("New random seed")
        self.random_seed = QCheckBox("New seed each edit")
        self.text_guidance = QDoubleSpinBox(minimum=0.0, maximum=30.0, singleStep=0.5, decimals=1)
        self.image_guidance = QDoubleSpinBox(minimum=1.0, maximum=10.0, singleStep=0.05, decimals=2)
        self.image_guidance.setToolTip("How closely the result keeps the photo (1.0 = loosest; the reference uses 1.5)")
        self.export_quality = QSpinBox(minimum=50, maximum=100, value=95)
        self.export_quality.setToolTip("JPEG and WebP export quality (PNG and TIFF are lossless)")

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running edit (Esc)")
        self.cancel_button.hide()

        self._layout()
        self._load_preset(DEFAULT_PRESET)
        self.preset.currentTextChanged.connect(self._load_preset)
        self.dice.clicked.connect(self.roll_seed)
        self.apply_button.clicked.connect(self.apply_requested)
        self.instruction.submitted.connect(self.apply_requested)
        self.rerender_button.clicked.connect(self.rerender_requested)
        self.variations_button.clicked.connect(self.variations_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.set_busy(False, can_rerender=False)

    def _layout(self) -> None:
        outer = QVBoxLayout(self)
        outer.addWidget(QLabel("<b>Instruction</b>"))
        outer.addWidget(self.instruction)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button, 2)
        buttons.addWidget(self.rerender_button, 1)
        outer.addLayout(buttons)
        more = QHBoxLayout()
        more.addWidget(self.variations_button, 2)
        more.addWidget(self.variation_count, 1)
        outer.addLayout(more)
        outer.addWidget(self.notice)
        outer.addWidget(self.progress)
        outer.addWidget(self.cancel_button)
        understood = QGroupBox("MGIE's expressive instruction")
        QVBoxLayout(understood).addWidget(self.expressive)
        outer.addWidget(understood)
        settings = QGroupBox("Settings")
        form = QFormLayout(settings)
        form.addRow("Preset", self.preset)
        form.addRow("Steps", self.steps)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        form.addRow("Seed", seed_row)
        form.addRow("", self.random_seed)
        form.addRow("Text guidance", self.text_guidance)
        form.addRow("Image guidance", self.image_guidance)
        outer.addWidget(settings)
        export = QGroupBox("Export")
        QFormLayout(export).addRow("JPEG/WebP quality", self.export_quality)
        outer.addWidget(export)
        outer.addStretch(1)

    def _load_preset(self, name: str) -> None:
        p = PRESETS[name]
        self.steps.setValue(p.steps)
        self.seed.setValue(p.seed)
        self.text_guidance.setValue(p.text_guidance)
        self.image_guidance.setValue(p.image_guidance)

    def roll_seed(self) -> None:
        self.seed.setValue(random.randint(0, MAX_SEED))

    def params(self) -> EditParams:
        return params_for(self.preset.currentText(), steps=self.steps.value(), seed=self.seed.value(),
                          text_guidance=self.text_guidance.value(), image_guidance=self.image_guidance.value())

    def set_busy(self, busy: bool, can_rerender: bool = True) -> None:
        self.apply_button.setEnabled(not busy)
        self.variations_button.setEnabled(not busy)
        self.rerender_button.setEnabled(not busy and can_rerender)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # busy until the first step reports
            self.progress.setFormat("Reading the photo and the instruction…")

    def show_progress(self, step: int, total: int, seconds_left: float) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step}/{total} · {seconds_left:.0f} s left")

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
