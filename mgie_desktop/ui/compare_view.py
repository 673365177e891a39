"""Which image of the history the canvas shows: the current step, its difference from the step
before (View › Show difference), or, while \\ is held, the step before or (Shift+\\) the original.

Decoding a step evicted from the history's cache (0.7 s for 24 MP) and converting it for Qt run
on a file-work thread; the canvas updates when the image arrives, if it is still the one wanted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import display_text
from mgie_desktop.ui.document_model import DocumentModel
from mgie_desktop.ui.heat_map import HeatScale, heat_image
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.split_view import NAMES, CanvasSplit

if TYPE_CHECKING:
    from mgie_desktop.ui.canvas import Canvas
    from mgie_desktop.ui.tasks import BackgroundTasks

COMPARE_KEY = Qt.Key.Key_Backslash  # hold to see the step before


class CompareView:
    def __init__(self, document: DocumentModel, canvas: Canvas, tasks: BackgroundTasks):
        self.document, self.canvas, self.tasks = document, canvas, tasks
        self.comparing = False  # \ is held: the canvas shows the step before or the original
        self.showing_difference = False  # set once a difference image has been shown (tests wait on it)
        self._difference_of: tuple | None = None  # what the last difference asked for was of
        self.reference: int | None = None  # a step chosen to split against instead of the one before
        # View › Show difference: its own entry, which the menu bar shows.
        self.difference_action = QAction("Show &difference from the step before", canvas, checkable=True)
        self.difference_action.triggered.connect(self.toggle_difference)
        self.heat_scale = HeatScale(canvas.viewport())  # the difference map's key, bottom left
        # View › Before/after split: the step before and this one on the canvas, a divider between.
        self.split = CanvasSplit(canvas)
        self.split_action = QAction("Before/after &split", canvas, checkable=True)
        self.split_action.setShortcut(QKeySequence("S"))
        self.split_action.toggled.connect(self.toggle_split)
        self.side_by_side_action = QAction("Before and after side by side", canvas, checkable=True)
        self.side_by_side_action.setShortcut(QKeySequence("Shift+S"))
        self.side_by_side_action.toggled.connect(self.split.set_side_by_side)
        self.side_by_side_action.toggled.connect(
            lambda on: on and not self.split_action.isChecked() and self.split_action.setChecked(True)
        )
        document.current_changed.connect(lambda _step: self._follow_split())
        document.opened.connect(lambda _doc: self._forget_reference())
        # Parts show a new step's image themselves (already converted); the difference view redoes it.
        document.changed.connect(self._follow_difference)

    def show_current(self) -> None:
        """Show the current step (or its difference, while the difference view is on)."""
        history = self.document.history
        if history is None:
            return
        step = history.current
        if self.difference_action.isChecked() and history.can_undo:
            self._difference_of = _difference_key(self.document)
            self.tasks.run(
                lambda: _difference(history.image(step.parent), history.image(step.id)),
                on_done=lambda image: self._show_difference(history, step.id, image),
                on_error=self.document.fail,
            )
            return
        self.tasks.run(
            lambda: to_qimage(history.image(step.id)),
            on_done=lambda image: self._show_step(history, step.id, image),
            on_error=self.document.fail,
        )

    def _show_step(self, history, step_id: int, image) -> None:
        # Stale if another photo was opened, the user moved on, or \ is held meanwhile.
        if history is self.document.history and history.current.id == step_id and not self.comparing:
            self.canvas.show_image(image, keep_view=True)

    def toggle_difference(self) -> None:
        on = self.difference_action.isChecked()
        self.showing_difference = self.showing_difference and on
        self.show_current()
        self.document.status.emit(
            "Difference view: how much the last edit changed each pixel, in levels of 255 "
            "(the key, bottom left; D to leave)"
            if on
            else "",
            0,
        )
        self._place_key()

    def _follow_difference(self) -> None:
        """A new step or strength: the difference again (a move has asked for it already)."""
        history = self.document.history
        if (
            self.difference_action.isChecked()
            and history is not None
            and (_difference_key(self.document) != self._difference_of)
        ):
            self.show_current()
        self._place_key()

    def _place_key(self) -> None:
        """The heat map's key, bottom left, while a difference is shown (the original has none)."""
        history = self.document.history
        shown = self.difference_action.isChecked() and history is not None and history.can_undo
        if shown:
            self.heat_scale.place()
        self.heat_scale.setVisible(shown)

    # ---- before and after, split on the canvas -----------------------------------------------------
    def toggle_split(self, on: bool) -> None:
        if on:
            self._follow_split()
            self.document.status.emit("Before and after: drag to move the divider (S to leave)", 0)
        else:
            self.reference = None
            self.split.hide()
            self.document.status.emit("", 0)

    def compare_with(self, step_id: int) -> None:
        """Split the current step against step ``step_id`` (any step of the history), and keep to it
        while the history moves, until the split is left."""
        self.reference = step_id
        if self.split_action.isChecked():
            self._follow_split()
        else:
            self.split_action.setChecked(True)

    def _forget_reference(self) -> None:
        self.reference = None  # another document: its step ids mean other steps
        self._follow_split()

    def _follow_split(self) -> None:
        """The split shows the current step against its parent (or the step chosen to compare
        with), whichever step is current."""
        history = self.document.history
        if not self.split_action.isChecked() or history is None:
            self.split.hide()
            return
        step = history.current
        reference = self.reference
        if reference is not None and (reference == step.id or not _has_step(history, reference)):
            reference = None
        if reference is None and not step.is_render:
            self.split.hide()  # the original has no step before it; a crop or turn, none of its shape
            return
        before = history.step(step.parent if reference is None else reference)
        names = NAMES if reference is None else (_name(before), _name(step))

        def images():
            mask = load("mgie_desktop.core.masks", "mask_from_text")(step.mask) if step.mask else None
            image = history.image(before.id)
            same_shape = image.size == history.image(step.id).size
            return to_qimage(image), to_qimage(mask) if mask is not None else None, same_shape

        self.tasks.run(
            images,
            on_done=lambda shown: self._show_split(history, step.id, *shown, names),
            on_error=self.document.fail,
        )

    def _show_split(self, history, step_id: int, before, mask, same_shape: bool, names) -> None:
        if not (
            self.split_action.isChecked()
            and history is self.document.history
            and history.current.id == step_id
        ):
            return
        if not same_shape:
            self.split.hide()  # a crop or turn lies between them: no common frame to split
            self.document.status.emit(
                f"{names[0]} has another shape than {names[1]} (a crop or turn lies between them): "
                "they cannot be split; choose a step of the same shape",
                0,
            )
            return
        self.split.show(before, mask, names)

    def _show_difference(self, history, step_id: int, image) -> None:
        # Stale if another photo was opened, the user moved on, or \ is held meanwhile.
        if (
            self.difference_action.isChecked()
            and history is self.document.history
            and history.current.id == step_id
            and not self.comparing
        ):
            self.canvas.show_image(image, keep_view=True, current=False)
            self.showing_difference = True

    def key_press(self, event) -> bool:
        """True if the key was the compare key and has been handled."""
        history = self.document.history
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and history and history.can_undo:
            # \ shows the step before; Shift+\ the original photo.
            original = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            current = history.current
            before = history.lineage(current.id)[0] if original else history.step(current.parent)
            self.comparing = True
            self.tasks.run(
                lambda: to_qimage(history.image(before.id)),
                on_done=lambda image: self._show_compared(history, image),
                on_error=self.document.fail,
            )  # an evicted 24 MP step decodes off the GUI thread
            self.document.status.emit(f"{'Original' if original else 'Before'} (release \\ to see after)", 0)
            return True
        return False

    def _show_compared(self, history, image) -> None:
        if self.comparing and history is self.document.history:
            self.canvas.show_image(image, keep_view=True, current=False)

    def key_release(self, event) -> bool:
        """True if the compare key was released and the current step is coming back."""
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and self.comparing:
            self.comparing = False
            self.show_current()
            self.document.status.emit("", 0)
            return True
        return False


def _has_step(history, step_id: int) -> bool:
    return any(step.id == step_id for step in history.steps)


def _name(step) -> str:
    """A step as the split names it: its instruction, short, or "Original"."""
    return "Original" if step.is_root else display_text(step.instruction, width=28)


def _difference_key(document: DocumentModel) -> tuple:
    """What a difference image depends on: the document, its current step, and that step's strength."""
    step = document.history.current
    return document.document_id, step.id, document.history.strength(step.id)


def _difference(before, after):
    """On a file-work thread: the difference image, ready for the canvas."""
    difference_image = load("mgie_desktop.core.compare", "difference_image")

    return heat_image(to_qimage(difference_image(before, after)))
