"""The history panel: one entry per step, indented by branch depth, click to return to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu

from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.step_params import ENGINE_NAMES, StepKind
from mgie_desktop.ui.plain_text import plain_tooltip

if TYPE_CHECKING:  # the history (and Pillow) load with the first photo
    from mgie_desktop.core.history import History, Step


class HistoryPanel(QListWidget):
    step_chosen = Signal(int)
    compare_chosen = Signal(int)  # split the current step against this one (the entry's context menu)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setIconSize(QSize(56, 56))
        self.setWordWrap(True)
        self.setSpacing(2)
        self.setMinimumWidth(240)
        # Entries wrap (anywhere, for long words) to the panel's width instead of widening it.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self._thumbs: dict[int, QIcon] = {}
        self.itemClicked.connect(lambda item: self.step_chosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.context_menu: QMenu | None = None  # the last one shown (tests read it)

    def _context_menu(self, point: QPoint) -> None:
        item = self.itemAt(point)
        if item is None:
            return
        step_id = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per right-click: gone once closed
        compare = menu.addAction("Compare with the current step")
        compare.setToolTip("Before/after split: this step left of the divider, the current step right")
        compare.setEnabled(not item.isSelected())  # the current step is selected
        compare.triggered.connect(lambda: self.compare_chosen.emit(step_id))
        self.context_menu = menu
        menu.popup(self.viewport().mapToGlobal(point))

    def forget_thumbnails(self) -> None:
        """Another document: its step ids mean other steps."""
        self._thumbs.clear()

    def set_thumbnail(self, step_id: int, image) -> None:
        self._thumbs[step_id] = QIcon(QPixmap.fromImage(image))

    def refresh(self, history: History) -> None:
        """Rebuild from the history: tree order (children under their parent)."""
        self.blockSignals(True)
        self.clear()
        current = history.current.id if history.current else None
        damaged = history.store.damaged  # steps whose image would not decode: the rest stay usable
        for step, depth, branches in _tree_order(history):
            text = _describe(step, depth, branches) + (
                "\n⚠ its image is damaged" if step.id in damaged else ""
            )
            item = QListWidgetItem(self._thumbs.get(step.id, QIcon()), text)
            item.setData(Qt.ItemDataRole.UserRole, step.id)
            item.setToolTip(plain_tooltip(_tooltip(step)))
            self.addItem(item)
            if step.id == current:
                item.setSelected(True)
                self.setCurrentItem(item)
        self.blockSignals(False)


def _tree_order(history: History):
    """(step, depth, whether it starts a branch) in tree order."""
    kids: dict[int | None, list[Step]] = {}
    for step in history.steps:  # once: asking history.children per step is quadratic in a long session
        kids.setdefault(step.parent, []).append(step)
    stack = [(r, 0, False) for r in reversed(kids.get(None, []))]
    while stack:
        step, depth, branches = stack.pop()
        yield step, depth, branches
        children = kids.get(step.id, [])
        # The first child continues the line; later ones start branches, shown indented.
        for i, child in reversed(list(enumerate(children))):
            stack.append((child, depth + (1 if i else 0), bool(i)))


MAX_SHOWN_DEPTH = 12  # deeper branches line up there: an entry's indent must not outgrow the panel


def _describe(step: Step, depth: int, branches: bool = False) -> str:
    """The entry's text: indented by branch depth, "↳" on the first step of each branch only."""
    under = "    " * min(depth, MAX_SHOWN_DEPTH) + ("  " if depth else "")  # the entry's further lines
    indent = under[:-2] + "↳ " if branches else under
    if step.is_root:
        return indent + "Original"
    text = f"{indent}{display_text(step.instruction)}"  # texts may come from a session file
    if step.kind is StepKind.IP2P:
        text += f"\n{under}(InstructPix2Pix alone)"
    elif step.kind is StepKind.KLEIN:
        text += f"\n{under}({ENGINE_NAMES[step.kind.value]})"
    elif step.steered_instruction:  # the person's words drove it
        text += f"\n{under}✎ “{display_text(step.steered_instruction)}”"
    elif step.expressive_instruction:
        text += f"\n{under}“{display_text(step.expressive_instruction)}”"
    return text


def _tooltip(step: Step) -> str:
    if step.is_root:
        return "The photo as opened"
    if not step.is_render:  # a crop, rotation or flip: its description says it all
        return display_text(step.instruction)
    lines = [display_text(step.instruction)]
    if step.kind in (StepKind.IP2P, StepKind.KLEIN):
        lines.append(f"{ENGINE_NAMES[step.kind.value]} read the instruction itself")
    elif step.expressive_instruction:
        lines.append(f"MGIE: {display_text(step.expressive_instruction)}")
    if step.steered_instruction:
        lines.append(f"You: {display_text(step.steered_instruction)}")
    if step.mask:
        lines.append("Edited inside a painted mask")
    if (p := step.params.render) is not None and step.kind is StepKind.KLEIN:
        # Its own sampler, and no image guidance: only what it took from the settings is said.
        guidance = "no guidance" if p.text_guidance <= 1 else f"text {p.text_guidance:g}"
        lines.append(f"seed {p.seed} · {p.steps} steps · {guidance}")
    elif p is not None:
        lines.append(
            f"seed {p.seed} · {p.steps} steps · text {p.text_guidance:g} · "
            f"image {p.image_guidance:g} · {display_text(p.scheduler, width=40)}"
        )
    return "\n".join(lines)
