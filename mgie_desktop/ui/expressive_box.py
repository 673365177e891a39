"""The current step's expressive instruction, editable: a person corrects what MGIE wrote and
re-renders with their own text (steering, engine.steering). A step of an engine that reads the
person's words directly (FLUX.2 [klein], InstructPix2Pix) has none: the box says so instead of
standing empty. Knows nothing of the window."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QToolButton, QVBoxLayout, QWidget

from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.step_params import ENGINE_NAMES, StepKind
from mgie_desktop.ui.wrapping_text import WrappingText

NO_TEXT = "(MGIE gave no description)"
MGIE_PLACEHOLDER = "MGIE's expressive instruction appears here after an edit"


def no_expressive(engine: str) -> str:
    """What an engine without MGIE's LLM did instead of writing an expressive instruction."""
    return f"{ENGINE_NAMES[engine]} read your words directly: it writes no expressive instruction."


def will_not_write(engine: str) -> str:
    """The same, said before an edit of the engine chosen."""
    return f"{ENGINE_NAMES[engine]} reads your words directly: it writes no expressive instruction"


class ExpressiveBox(QWidget):
    """``show_step`` puts a step's text in; ``edited()`` is the person's text while it differs
    from it. ``edited_changed`` tells whether there is such a text."""

    edited_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text_box = WrappingText()
        self.text_box.setObjectName("expressive")
        self.text_box.setReadOnly(False)
        self.text_box.setToolTip("Edit the text, then Re-render with it: the edit follows your words")
        self.text_box.setPlaceholderText(MGIE_PLACEHOLDER)
        self.note = QLabel()  # in place of the text, for a step made without MGIE's LLM
        self.note.setObjectName("engineNote")
        self.note.setWordWrap(True)
        italic = self.note.font()
        italic.setItalic(True)  # about the step, not a text of it: it must not read as one
        self.note.setFont(italic)
        self.note.hide()
        self.mgie_said = QLabel()  # under a steered step: what MGIE had written
        self.mgie_said.setObjectName("mgieSaid")
        self.mgie_said.setWordWrap(True)
        self.mgie_said.hide()
        self.reset = QToolButton(text="Undo my changes")
        self.reset.setToolTip("Back to this step's expressive instruction")
        self.reset.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text_box)
        layout.addWidget(self.note)
        layout.addWidget(self.mgie_said)
        layout.addWidget(self.reset)
        self._shown, self._editable, self._was_edited = "", False, False
        self.text_box.textChanged.connect(self._changed)
        self.reset.clicked.connect(lambda: self.text_box.setPlainText(self._shown))
        self.show_step("", "", editable=False)

    def show_engine(self, engine: str) -> None:
        """The engine chosen for the next edit: what the empty box promises follows it."""
        mgie = engine == StepKind.MGIE.value
        self.text_box.setPlaceholderText(MGIE_PLACEHOLDER if mgie else will_not_write(engine))

    def show_step(
        self, mgie_text: str, steered_text: str = "", editable: bool = True, engine: str = "mgie"
    ) -> None:
        """A step's texts: the person's (when steered) is the one shown and edited. A step of
        another ``engine`` than MGIE shows what that engine did instead (it has no texts)."""
        mgie = engine == StepKind.MGIE.value
        self.note.setText("" if mgie else no_expressive(engine))
        self.note.setVisible(not mgie)
        self.text_box.setVisible(mgie)
        if not mgie:
            mgie_text, steered_text, editable = "", "", False
        # Shown as a person would have typed them: no control characters from a session file.
        mgie_text, steered_text = (
            display_text(mgie_text, keep_newlines=True),
            display_text(steered_text, keep_newlines=True),
        )
        self._shown, self._editable = (steered_text or mgie_text), editable
        self.text_box.setReadOnly(not editable)
        # A frame says "you can type here"; read-only text sits flat in the panel.
        self.text_box.setFrameShape(
            WrappingText.Shape.StyledPanel if editable else WrappingText.Shape.NoFrame
        )
        self.text_box._fit_height()
        self.text_box.setPlainText(self._shown or (NO_TEXT if editable else ""))
        if self.text_box.toPlainText() == NO_TEXT:
            self._shown = NO_TEXT
        self.mgie_said.setText(f"Steered by you. MGIE wrote: “{mgie_text}”" if steered_text else "")
        self.mgie_said.setVisible(bool(steered_text))
        self._changed()

    def text(self) -> str:
        return self.text_box.toPlainText()

    def edited(self) -> str:
        """The person's own text, while it differs from the step's (else "")."""
        text = self.text().strip()
        return text if self._editable and text and text != self._shown.strip() else ""

    def _changed(self) -> None:
        edited = bool(self.edited())
        self.reset.setVisible(edited)
        if edited != self._was_edited:
            self._was_edited = edited
            self.edited_changed.emit(edited)
