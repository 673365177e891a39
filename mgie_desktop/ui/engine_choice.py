"""Which engine edits, and which one Compare sets beside it (issue 29): two lists of the engines
installed where the edits run, MGIE first, each named as a person reads it
(core.step_params.ENGINE_NAMES). Knows nothing of the window: the edit panel places the lists and
the edit runner says what is installed (``offer``)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox

from mgie_desktop.core.step_params import ENGINE_NAMES, StepKind

ENGINE_TIP = (
    "Which engine edits. MGIE's LLM first writes an expressive instruction from your words; "
    "FLUX.2 [klein] and InstructPix2Pix read your words directly. Only installed engines are listed."
)
ONE_ENGINE_TIP = (
    "Only MGIE is installed. FLUX.2 [klein] and InstructPix2Pix are optional downloads "
    "(Models › Manage models…)."
)
NO_SECOND_ENGINE = "no second engine installed"


class EngineChoice(QObject):
    """``engine_box``: the engine that edits; ``versus_box``: Compare's second engine (every
    offered engine but the first). Both hold model names (core.step_params.MODEL_NAMES) as data."""

    changed = Signal(str)  # the engine that edits, chosen by the person or by ``choose``
    versus_changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.engine_box = QComboBox()
        self.versus_box = QComboBox()
        self.versus_box.setPlaceholderText(NO_SECOND_ENGINE)
        self.versus_box.setToolTip("The second engine of the A/B comparison")
        self._offered: list[str] = []
        self.engine_box.currentIndexChanged.connect(self._engine_chosen)
        self.versus_box.currentIndexChanged.connect(self.versus_changed)
        self.offer([StepKind.MGIE.value])  # until the engine says what it holds

    def offer(self, names: list[str]) -> None:
        """The engines the person may choose from: those installed where the edits run, MGIE
        first. The choices stay where they still can; else the first is chosen."""
        if names == self._offered:
            return
        chosen, versus = self.engine(), self.versus()
        self._offered = list(names)
        box = self.engine_box
        box.blockSignals(True)
        box.clear()
        for name in names:
            box.addItem(ENGINE_NAMES[name], name)
        box.setCurrentIndex(max(0, box.findData(chosen)))
        box.setEnabled(len(names) > 1)
        box.setToolTip(ENGINE_TIP if len(names) > 1 else ONE_ENGINE_TIP)
        box.blockSignals(False)
        self._fill_versus(versus)
        self.changed.emit(self.engine())

    @property
    def offered(self) -> list[str]:
        return list(self._offered)

    def engine(self) -> str:
        """The engine that edits: a model name (core.step_params.MODEL_NAMES)."""
        name = self.engine_box.currentData()
        return name if isinstance(name, str) else StepKind.MGIE.value

    def choose(self, name: str) -> bool:
        """Edit with ``name`` from now on, if it is offered (False: it is not installed here)."""
        index = self.engine_box.findData(name)
        if index >= 0:
            self.engine_box.setCurrentIndex(index)
        return index >= 0

    def versus(self) -> str | None:
        """Compare's second engine; None when no other engine is installed."""
        name = self.versus_box.currentData()
        return name if isinstance(name, str) else None

    def choose_versus(self, name: str) -> bool:
        index = self.versus_box.findData(name)
        if index >= 0:
            self.versus_box.setCurrentIndex(index)
        return index >= 0

    def compare_tip(self) -> str:
        """What Compare does with the engines chosen."""
        versus = self.versus()
        if versus is None:
            return (
                "Compare two engines on one instruction: install FLUX.2 [klein] or InstructPix2Pix "
                "(Models › Manage models…) to have a second one"
            )
        return (
            f"Render the instruction with {ENGINE_NAMES[self.engine()]} and with {ENGINE_NAMES[versus]} "
            "(same seed), see them side by side and keep either"
        )

    def _engine_chosen(self) -> None:
        self._fill_versus(self.versus())
        self.changed.emit(self.engine())

    def _fill_versus(self, prefer: str | None) -> None:
        others = [name for name in self._offered if name != self.engine()]
        box = self.versus_box
        box.blockSignals(True)
        box.clear()
        for name in others:
            box.addItem(ENGINE_NAMES[name], name)
        box.setCurrentIndex(box.findData(prefer) if prefer in others else 0 if others else -1)
        box.setEnabled(bool(others))
        box.blockSignals(False)
        self.versus_changed.emit()
