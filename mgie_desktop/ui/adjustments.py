"""Changes that need no render: the strength of the current edit, and crop, rotate and flip.

Strength is shown live on the canvas (the render over its source at the strength's opacity, the
same blend the history makes) and written to the history a moment after the slider stops.
Geometry runs at full resolution on a file-work thread and lands as a history step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from mgie_desktop.core.deferred import load
from mgie_desktop.core.step_params import StepParams
from mgie_desktop.ui.document_model import DocumentModel, NewStep
from mgie_desktop.ui.images import thumbnail, to_qimage

if TYPE_CHECKING:
    from mgie_desktop.ui.canvas import Canvas
    from mgie_desktop.ui.edit_panel import EditPanel
    from mgie_desktop.ui.tasks import BackgroundTasks

STRENGTH_SETTLE_MS = 350  # after the last slider move, the blend is made at full resolution


class Adjustments:
    def __init__(self, document: DocumentModel, panel: EditPanel, canvas: Canvas, tasks: BackgroundTasks):
        self.document, self.panel, self.canvas, self.tasks = document, panel, canvas, tasks
        self._settle = QTimer(canvas, singleShot=True, interval=STRENGTH_SETTLE_MS)
        self._settle.timeout.connect(self._settled)
        panel.strength.valueChanged.connect(self.preview_strength)
        panel.strength.sliderReleased.connect(self.commit_strength)
        self._ratios: dict = {}
        panel.crop_apply.clicked.connect(self.apply_crop)
        panel.crop_cancel.clicked.connect(self.cancel_crop)
        panel.crop_ratio.currentTextChanged.connect(self._ratio_chosen)

    # ---- strength ----------------------------------------------------------------------------
    def show_step(self) -> None:
        """Put the current step's strength on the slider."""
        history = self.document.history
        if history is None:
            return
        step = history.current
        self.panel.show_strength(
            round(history.strength(step.id) * 100), self._adjustable(), self._why_fixed()
        )

    def _adjustable(self) -> bool:
        return self.document.history is not None and not self._why_fixed()

    def _why_fixed(self) -> str:
        """Why the current step's strength cannot change now ("" when it can): the greyed slider's tooltip."""
        history = self.document.history
        step = history.current
        if step.is_root:
            return "The original photo has no edit to weaken"
        if not step.is_render:
            return "A crop, rotation or flip has no strength"
        if history.children(step.id):
            return "Later edits were made from this one as it looks now: its strength stays as it is"
        if self.document.busy:
            return "An edit is under way"
        if self.cropping:
            return "Finish the crop first (Enter, or Esc)"
        return ""

    def preview_strength(self, percent: int) -> None:
        if not self._adjustable():
            return
        canvas, history = self.canvas, self.document.history
        if not canvas.blending:
            step = history.current
            self.document.strength_changing(step.id)
            canvas.start_blend(to_qimage(history.image(step.parent)), to_qimage(history.rendered(step.id)))
        canvas.set_blend(percent / 100)
        self._settle.start()

    def _settled(self) -> None:
        if self.panel.strength.isSliderDown():  # a pause in the middle of a drag: still the same change
            self._settle.start()
            return
        self.commit_strength()

    def commit_strength(self) -> None:
        """Write the slider's strength into the history (full resolution) and show the result."""
        self._settle.stop()
        history, canvas = self.document.history, self.canvas
        if history is None or not canvas.blending:
            return
        step = history.current
        strength = self.panel.strength.value() / 100
        self.document.set_strength(step.id, strength)  # one change per drag, undoable
        canvas.show_image(to_qimage(history.image()), keep_view=True)
        canvas.end_blend()

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
        history = self.document.history
        if history is None or self.document.busy:
            return
        self.commit_strength()
        document, parent, image = self.document.document_id, history.current.id, history.image()

        def work():
            geometry = load("mgie_desktop.core.geometry")
            result = geometry.apply(image, op)
            return result, geometry.describe(op), to_qimage(result), thumbnail(result)

        self.tasks.run(
            work,
            on_done=lambda done: self._landed(document, parent, op, *done),
            on_error=lambda exc: self.document.fail(exc, "Could not change the photo's geometry."),
        )

    def _landed(self, document: int, parent: int, op: dict, image, words: str, view, thumb) -> None:
        if not self.document.is_open(document):  # another photo was opened meanwhile
            return
        self.canvas.show_image(view)  # a new shape: fit it to the window
        self.document.add_steps([NewStep(image, thumb, words, StepParams.of_geometry(op), parent)])

    # ---- crop --------------------------------------------------------------------------------------
    @property
    def cropping(self) -> bool:
        return self.canvas.cropping

    def start_crop(self) -> None:
        if self.document.history is None or self.document.busy or self.cropping:
            return
        self.commit_strength()
        combo = self.panel.crop_ratio
        if not self._ratios:
            self._ratios = load("mgie_desktop.core.geometry", "RATIOS")
            combo.blockSignals(True)
            combo.addItems(list(self._ratios))
            combo.blockSignals(False)
        self.canvas.start_crop(self._ratio(combo.currentText()))
        self.panel.crop_bar.show()
        self.panel.strength.setEnabled(False)
        self.document.status.emit(
            "Crop: drag a rectangle, then press Enter (Esc leaves the photo as it is)", 0
        )

    def _ratio(self, name: str) -> float | None:
        ratio = self._ratios.get(name)
        if ratio == "original":
            image = self.document.history.image()
            return image.width / image.height
        return ratio

    def _ratio_chosen(self, name: str) -> None:
        if self.cropping:
            self.canvas.set_crop_ratio(self._ratio(name))

    def apply_crop(self) -> None:
        box = self.canvas.crop_box()
        size = self.document.history.image().size if self.document.history is not None else None
        self.cancel_crop()
        if box is not None and (box[2] - box[0], box[3] - box[1]) != size:
            self.apply_geometry(load("mgie_desktop.core.geometry", "crop")(box))

    def cancel_crop(self) -> None:
        self.canvas.end_crop()
        self.panel.crop_bar.hide()
        self.document.status.emit("", 0)
        self.show_step()
