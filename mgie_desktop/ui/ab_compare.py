"""Two engines on the person's own photo (issue 13; any two of MGIE, FLUX.2 [klein] and plain
InstructPix2Pix since issue 29): the two renders of one instruction, same seed, as a split view
with a draggable divider or side by side, each side named by its engine. The person keeps either,
or both (each a branch from the step the edit started from)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from mgie_desktop.core.params import EditParams
from mgie_desktop.core.step_params import ENGINE_NAMES, StepKind
from mgie_desktop.ui.plain_text import plain_label


class SplitView(QWidget):
    """Two images of one size over each other: the left one left of the divider, the right one
    right of it; drag anywhere to move the divider, or show them side by side."""

    def __init__(self, left: QImage, right: QImage, names: tuple[str, str], parent=None):
        super().__init__(parent)
        self.images, self.split, self.side_by_side = (left, right), 0.5, False
        self.names = names  # what each image is labelled with, on the image
        self.setMinimumSize(480, 320)
        self.setCursor(Qt.CursorShape.SplitHCursor)

    def set_side_by_side(self, on: bool) -> None:
        self.side_by_side = on
        self.setCursor(Qt.CursorShape.ArrowCursor if on else Qt.CursorShape.SplitHCursor)
        self.update()

    def _fit(self, area: QRectF) -> QRectF:
        """Where an image goes in ``area``: as large as fits, centred, its aspect kept."""
        image = self.images[0]
        scale = min(area.width() / image.width(), area.height() / image.height())
        w, h = image.width() * scale, image.height() * scale
        return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)

    def image_boxes(self) -> list[QRectF]:
        """Where each image is drawn: side by side, each in its half; else both in the same place."""
        if self.side_by_side:
            half = self.width() / 2
            return [self._fit(QRectF(i * half + 4, 4, half - 8, self.height() - 8)) for i in range(2)]
        box = self._fit(QRectF(self.rect()))
        return [box, box]

    def label_boxes(self, metrics: QFontMetrics) -> list[QRectF]:
        """Each name's box, inside its image's top corner (left for MGIE; right for the other in the
        split view, where the two share one place), so a name always sits on its own image."""
        labels = []
        for i, (name, box) in enumerate(zip(self.names, self.image_boxes(), strict=True)):
            width, height = metrics.horizontalAdvance(name) + 8, metrics.height() + 4
            x = box.right() - 6 - width if i == 1 and not self.side_by_side else box.x() + 6
            labels.append(QRectF(x, box.y() + 6, width, height))
        return labels

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor(24, 24, 24))
        boxes = self.image_boxes()
        if self.side_by_side:
            for box, image in zip(boxes, self.images, strict=True):
                painter.drawImage(box, image)
        else:
            box = boxes[0]
            cut = box.x() + box.width() * self.split
            for i, image in enumerate(self.images):
                clip = (
                    QRectF(box.x(), box.y(), cut - box.x(), box.height())
                    if i == 0
                    else QRectF(cut, box.y(), box.right() - cut, box.height())
                )
                painter.save()
                painter.setClipRect(clip)
                painter.drawImage(box, image)
                painter.restore()
            painter.setPen(QPen(QColor(255, 255, 255), 2))
            painter.drawLine(QPointF(cut, box.top()), QPointF(cut, box.bottom()))
        painter.setPen(QColor(235, 235, 235))
        for name, label in zip(self.names, self.label_boxes(painter.fontMetrics()), strict=True):
            painter.fillRect(label, QColor(0, 0, 0, 150))  # readable over any photo
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, name)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._drag(event.position().x())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._drag(event.position().x())

    def _drag(self, x: float) -> None:
        if self.side_by_side:
            return
        box = self._fit(QRectF(self.rect()))
        self.split = min(1.0, max(0.0, (x - box.x()) / box.width()))
        self.update()


def caption(instruction: str, models: list[str], params: list[EditParams], expressive: str) -> str:
    """What the dialog says above the pair: the words, what each engine made of them, and what
    the two renders share (the seed always; the settings unless an engine takes its own)."""
    names = [ENGINE_NAMES[m] for m in models]
    shared = (
        "same seed and settings" if params[0] == params[1] else f"same seed ({_own_settings(models, params)})"
    )
    readings = []
    for model, name in zip(models, names, strict=True):
        if model == StepKind.MGIE.value:
            readings.append(f"{name} read it as “{expressive.rstrip('.')}”")
        else:
            readings.append(f"{name} read your words as they are")
    return f"“{instruction}”, {shared}. {'; '.join(readings)}. Drag to move the divider."


def _own_settings(models: list[str], params: list[EditParams]) -> str:
    """Which engine rendered with settings of its own, and which."""
    said = []
    for model, p in zip(models, params, strict=True):
        if model == StepKind.KLEIN.value:
            guidance = "no guidance" if p.text_guidance <= 1 else f"text guidance {p.text_guidance:g}"
            said.append(f"{ENGINE_NAMES[model]} took its own {p.steps} steps and {guidance}")
    return "; ".join(said) or "each with its own settings"


class ABCompare(QDialog):
    chosen = Signal(list)  # indices kept: 0 the first engine's, 1 the second's

    def __init__(
        self,
        first: QImage,
        second: QImage,
        instruction: str,
        expressive: str,
        models: tuple[str, str],
        params: tuple[EditParams, EditParams],
        parent=None,
    ):
        """``models``: the engine of each render (core.step_params.MODEL_NAMES); ``params``: what
        each rendered with; ``expressive``: MGIE's reading, when one of them is MGIE."""
        super().__init__(parent)
        self.models = models
        self.names = names = (ENGINE_NAMES[models[0]], ENGINE_NAMES[models[1]])
        self.setWindowTitle(f"{names[0]} or {names[1]}?")
        self.setModal(False)
        self.view = SplitView(first, second, names)
        self.side_by_side = QCheckBox("Side by side")
        self.side_by_side.toggled.connect(self.view.set_side_by_side)
        text = plain_label(caption(instruction, list(models), list(params), expressive))
        keep_first, keep_second = QPushButton(f"Keep {names[0]}'s"), QPushButton(f"Keep {names[1]}'s")
        keep_both, discard = QPushButton("Keep both"), QPushButton("Discard")
        keep_first.setDefault(True)
        keep_first.clicked.connect(lambda: self._keep([0]))
        keep_second.clicked.connect(lambda: self._keep([1]))
        keep_both.clicked.connect(lambda: self._keep([0, 1]))
        discard.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.side_by_side)
        buttons.addStretch(1)
        for button in (keep_first, keep_second, keep_both, discard):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.resize(1000, 720)

    def _keep(self, kept: list[int]) -> None:
        self.chosen.emit(kept)
        self.accept()
