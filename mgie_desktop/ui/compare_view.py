"""Which image of the history the canvas shows: the current step, its difference from the step
before (View › Show difference), or, while \\ is held, the step before or (Shift+\\) the original.

Decoding a step evicted from the history's cache (0.7 s for 24 MP) and converting it for Qt run
on a file-work thread; the canvas updates when the image arrives, if it is still the one wanted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from mgie_desktop.core.deferred import load
from mgie_desktop.ui.images import to_qimage

if TYPE_CHECKING:
    from mgie_desktop.ui.main_window import MainWindow

COMPARE_KEY = Qt.Key.Key_Backslash  # hold to see the step before


class CompareView:
    def __init__(self, window: MainWindow):
        self.window = window
        self.comparing = False  # \ is held: the canvas shows the step before or the original
        self.showing_difference = False  # set once a difference image has been shown (tests wait on it)

    def show_current(self) -> None:
        """Show the current step (or its difference, while the difference view is on)."""
        window = self.window
        if window.history is None:
            return
        history, step = window.history, window.history.current
        if window.difference_action.isChecked() and history.can_undo:
            window.tasks.run(lambda: _difference(history.image(step.parent), history.image(step.id)),
                             on_done=self._show_difference, on_error=window.show_error)
            return
        window.tasks.run(lambda: to_qimage(history.image(step.id)),
                         on_done=lambda image: self._show_step(history, step.id, image),
                         on_error=window.show_error)

    def _show_step(self, history, step_id: int, image) -> None:
        # Stale if another photo was opened, the user moved on, or \ is held meanwhile.
        if history is self.window.history and history.current.id == step_id and not self.comparing:
            self.window.canvas.show_image(image, keep_view=True)

    def toggle_difference(self) -> None:
        self.show_current()
        if self.window.difference_action.isChecked():
            self.window.statusBar().showMessage(
                "Difference view: bright where the last edit changed pixels (D to leave)")
        else:
            self.window.statusBar().clearMessage()

    def _show_difference(self, image) -> None:
        if self.window.difference_action.isChecked():
            self.window.canvas.show_image(image, keep_view=True, current=False)
            self.showing_difference = True

    def key_press(self, event) -> bool:
        """True if the key was the compare key and has been handled."""
        window, history = self.window, self.window.history
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and history and history.can_undo:
            # \ shows the step before; Shift+\ the original photo.
            original = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            current = history.current
            before = history.lineage(current.id)[0] if original else history.step(current.parent)
            self.comparing = True
            window.tasks.run(lambda: to_qimage(history.image(before.id)), on_done=self._show_compared,
                             on_error=window.show_error)  # an evicted 24 MP step decodes off the GUI thread
            window.statusBar().showMessage(f"{'Original' if original else 'Before'} (release \\ to see after)")
            return True
        return False

    def _show_compared(self, image) -> None:
        if self.comparing:
            self.window.canvas.show_image(image, keep_view=True, current=False)

    def key_release(self, event) -> bool:
        """True if the compare key was released and the current step is coming back."""
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and self.comparing:
            self.comparing = False
            self.show_current()
            self.window.statusBar().clearMessage()
            return True
        return False


def _difference(before, after):
    """On a file-work thread: the difference image, ready for the canvas."""
    difference_image = load("mgie_desktop.core.compare", "difference_image")

    return to_qimage(difference_image(before, after))
