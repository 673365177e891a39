"""Changes that need no render: the strength of the current edit, and crop, rotate and flip.

Strength is shown live on the canvas (the render over its source at the strength's opacity, the
same blend the history makes) and written to the history a moment after the slider stops.
Geometry runs at full resolution on a file-work thread and lands as a history step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from mgie_desktop.core.deferred import load
from mgie_desktop.ui.images import thumbnail, to_qimage

if TYPE_CHECKING:
    from mgie_desktop.ui.main_window import MainWindow

STRENGTH_SETTLE_MS = 350  # after the last slider move, the blend is made at full resolution


class Adjustments:
    def __init__(self, window: MainWindow):
        self.window = window
        panel = window.panel
        self._settle = QTimer(window, singleShot=True, interval=STRENGTH_SETTLE_MS)
        self._settle.timeout.connect(self.commit_strength)
        panel.strength.valueChanged.connect(self.preview_strength)
        panel.strength.sliderReleased.connect(self.commit_strength)
        self._ratios: dict = {}
        panel.crop_apply.clicked.connect(self.apply_crop)
        panel.crop_cancel.clicked.connect(self.cancel_crop)
        panel.crop_ratio.currentTextChanged.connect(self._ratio_chosen)

    # ---- strength ----------------------------------------------------------------------------
    def show_step(self) -> None:
        """Put the current step's strength on the slider."""
        history = self.window.history
        step = history.current
        self.window.panel.show_strength(round(history.strength(step.id) * 100), self._adjustable())

    def _adjustable(self) -> bool:
        history = self.window.history
        return (history is not None and self.window.edits.running is None and not self.cropping
                and history.can_set_strength(history.current.id))

    def preview_strength(self, percent: int) -> None:
        if not self._adjustable():
            return
        canvas, history = self.window.canvas, self.window.history
        if not canvas.blending:
            step = history.current
            canvas.start_blend(to_qimage(history.image(step.parent)), to_qimage(history.rendered(step.id)))
        canvas.set_blend(percent / 100)
        self._settle.start()

    def commit_strength(self) -> None:
        """Write the slider's strength into the history (full resolution) and show the result."""
        self._settle.stop()
        window = self.window
        if window.history is None or not window.canvas.blending:
            return
        step = window.history.current
        strength = window.panel.strength.value() / 100
        if strength != window.history.strength(step.id):
            window.history.set_strength(step.id, strength)
            window.history_panel.set_thumbnail(step.id, thumbnail(window.history.image()))
            window.doc.touch()
            window.documents.autosave()
        window.canvas.show_image(to_qimage(window.history.image()), keep_view=True)
        window.canvas.end_blend()
        window.refresh()

    # ---- rotate and flip ---------------------------------------------------------------------------
    def rotate_right(self) -> None:
        self.apply_geometry(load("mgie_desktop.core.geometry", "ROTATE_RIGHT"))

    def rotate_left(self) -> None:
        self.apply_geometry(load("mgie_desktop.core.geometry", "ROTATE_LEFT"))

    def flip_horizontal(self) -> None:
        self.apply_geometry(load("mgie_desktop.core.geometry", "FLIP_HORIZONTAL"))

    def flip_vertical(self) -> None:
        self.apply_geometry(load("mgie_desktop.core.geometry", "FLIP_VERTICAL"))

    def apply_geometry(self, op: dict) -> None:
        """Apply ``op`` to the current image off the GUI thread; it lands as a new step."""
        window = self.window
        if window.history is None or window.edits.running is not None:
            return
        self.commit_strength()
        document, parent, image = window.document_id, window.history.current.id, window.history.image()

        def work():
            geometry = load("mgie_desktop.core.geometry")
            result = geometry.apply(image, op)
            return result, geometry.describe(op), to_qimage(result), thumbnail(result)

        window.tasks.run(work, on_done=lambda done: self._landed(document, parent, op, *done),
                         on_error=lambda exc: window.show_error(exc, "Could not change the photo's geometry."))

    def _landed(self, document: int, parent: int, op: dict, image, words: str, view, thumb) -> None:
        window = self.window
        if document != window.document_id:  # another photo was opened meanwhile
            return
        step = window.history.push(image, instruction=words, params={"geometry": op}, parent=parent)
        window.history_panel.set_thumbnail(step.id, thumb)
        window.doc.touch()
        window.panel.show_step_text(None)
        window.canvas.show_image(view)  # a new shape: fit it to the window
        window.refresh()
        window.documents.autosave()

    # ---- crop --------------------------------------------------------------------------------------
    @property
    def cropping(self) -> bool:
        return self.window.canvas.cropping

    def start_crop(self) -> None:
        window = self.window
        if window.history is None or window.edits.running is not None or self.cropping:
            return
        self.commit_strength()
        combo = window.panel.crop_ratio
        if not self._ratios:
            self._ratios = load("mgie_desktop.core.geometry", "RATIOS")
            combo.blockSignals(True)
            combo.addItems(list(self._ratios))
            combo.blockSignals(False)
        window.canvas.start_crop(self._ratio(combo.currentText()))
        window.panel.crop_bar.show()
        window.panel.strength.setEnabled(False)
        window.statusBar().showMessage("Crop: drag a rectangle, then press Enter (Esc leaves the photo as it is)")

    def _ratio(self, name: str) -> float | None:
        ratio = self._ratios.get(name)
        if ratio == "original":
            image = self.window.history.image()
            return image.width / image.height
        return ratio

    def _ratio_chosen(self, name: str) -> None:
        if self.cropping:
            self.window.canvas.set_crop_ratio(self._ratio(name))

    def apply_crop(self) -> None:
        window = self.window
        box = window.canvas.crop_box()
        size = window.history.image().size if window.history is not None else None
        self.cancel_crop()
        if box is not None and (box[2] - box[0], box[3] - box[1]) != size:
            self.apply_geometry(load("mgie_desktop.core.geometry", "crop")(box))

    def cancel_crop(self) -> None:
        window = self.window
        window.canvas.end_crop()
        window.panel.crop_bar.hide()
        window.statusBar().clearMessage()
        if window.history is not None:
            self.show_step()
