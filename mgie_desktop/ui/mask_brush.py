"""A brush that paints where the next edit may apply (issue 12): a grey mask the size of the photo
(white edits, black keeps) and a red overlay drawn over the canvas, painted stroke by stroke.

Both images receive every dab with the same alpha, so the overlay's alpha always equals the
mask's grey without ever being recomputed whole (a 24 MP photo redraws only where it is painted).
The window hands the mask to the edit it sends; the brush knows nothing else of the window."""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QRadialGradient
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError

OVERLAY_OPACITY = 0.45
OVERLAY_COLOUR = QColor(220, 30, 30)
SIZE_STEP = 1.25  # [ and ] change the brush size by this factor


class MaskOverlay(QGraphicsItem):
    """The overlay image, drawn over the photo; only what a stroke touches is redrawn."""

    def __init__(self, image: QImage):
        super().__init__()
        self.image = image
        self.setZValue(2)
        self.setOpacity(OVERLAY_OPACITY)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return QRectF(self.image.rect())

    def paint(self, painter: QPainter, option, _widget=None) -> None:
        exposed = option.exposedRect
        painter.drawImage(exposed, self.image, exposed)


class MaskBrush(QObject):
    """Mask mode on the canvas: ``active`` while painting; ``mask()`` is the painted mask as a
    grey QImage, or None when nothing is painted."""

    changed = Signal()

    def __init__(self, canvas, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        self.radius = 40.0  # photo pixels
        self.softness = 0.5  # 0: hard edge, 1: fades from the centre
        self.eraser = False
        self.active = False
        self._mask: QImage | None = None
        self._overlay: MaskOverlay | None = None
        self._last: QPointF | None = None
        self.step_mask = ""  # the current step's own mask (core.masks text), offered for reuse
        self.bar = MaskBar(self)
        canvas.image_size_changed.connect(self.reset)

    # ---- the mask ------------------------------------------------------------------------------
    def reset(self, width: int, height: int) -> None:
        """An empty mask for a photo of this size (a new photo, or a new shape after a crop)."""
        if self._mask is not None and (self._mask.width(), self._mask.height()) == (width, height):
            return
        self._mask = QImage(width, height, QImage.Format.Format_Grayscale8)
        overlay = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        self._fill(QColor(0, 0, 0), overlay)
        self.radius = max(4.0, 0.03 * max(width, height))
        self.bar.show_size()
        if self._overlay is not None:
            self.canvas.scene().removeItem(self._overlay)
        self._overlay = MaskOverlay(overlay)
        self._overlay.setVisible(self.bar.overlay.isChecked())
        self.canvas.scene().addItem(self._overlay)
        self.changed.emit()

    def _fill(self, grey: QColor, overlay: QImage | None = None) -> None:
        self._mask.fill(grey)
        overlay = overlay if overlay is not None else self._overlay.image
        overlay.fill(QColor(OVERLAY_COLOUR.red(), OVERLAY_COLOUR.green(), OVERLAY_COLOUR.blue(), grey.red()))

    def mask_image(self):
        """The painted mask as a grey PIL image, or None when nothing is painted (an empty mask
        means "edit everywhere"). A copy: painting on does not change an edit already sent."""
        if self._mask is None:
            return None
        Image = load("PIL.Image")  # noqa: N806 (Pillow only: the window never imports torch)

        m = self._mask
        grey = Image.frombuffer(
            "L", (m.width(), m.height()), bytes(m.constBits()), "raw", "L", m.bytesPerLine(), 1
        )
        return grey if grey.getextrema()[1] > 0 else None

    def clear(self) -> None:
        if self._mask is not None:
            self._fill(QColor(0, 0, 0))
            self._overlay.update()
            self.changed.emit()

    def put_away(self) -> None:
        """A masked edit landed: its result shows unveiled, the brush is put away and the next edit
        applies everywhere. The mask stays with its step (``reuse_step_mask`` brings it back)."""
        self.set_active(False)
        self.clear()

    def offer(self, step_mask: str) -> None:
        """The current step's mask (empty: it had none), for Reuse."""
        self.step_mask = step_mask
        self.bar.reuse.setEnabled(bool(step_mask))

    def reuse_step_mask(self) -> None:
        """Paint with the current step's mask again: the next edit keeps to the same region."""
        if not self.step_mask or self._mask is None:
            return
        masks = load("mgie_desktop.core.masks")
        try:
            stored = masks.mask_from_text(self.step_mask)
        except InputError:  # damaged in its session: nothing to reuse
            self.offer("")
            return
        grey = masks.fit_mask(
            stored, (self._mask.width(), self._mask.height()), feather=0
        )  # feathered once, when used
        self._mask = QImage(
            grey.tobytes(), grey.width, grey.height, grey.width, QImage.Format.Format_Grayscale8
        ).copy()  # its own pixels, not the bytes object's
        self._show_mask_as_overlay()
        self.set_active(True)
        self.changed.emit()

    def _show_mask_as_overlay(self) -> None:
        overlay = self._overlay.image
        overlay.fill(OVERLAY_COLOUR)
        overlay.setAlphaChannel(self._mask)
        self._overlay.update()

    def invert(self) -> None:
        """Edit everywhere but where it was painted."""
        if self._mask is None:
            return
        self._mask.invertPixels()
        self._show_mask_as_overlay()
        self.changed.emit()

    # ---- painting -------------------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        was_active, self.active = self.active, active and self._mask is not None
        if self.active and not was_active:
            self._lent_by = self.canvas.tool  # the split's divider, say: it gets the mouse back
        self._last = None  # a stroke under way ends here
        self.bar.setVisible(self.active)
        if self._overlay is not None and self.active:
            self._overlay.setVisible(True)
            self.bar.overlay.setChecked(True)
        if self.active:
            self.canvas.tool = self
            self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)
        elif self.canvas.tool is self:
            lent, self._lent_by = getattr(self, "_lent_by", None), None
            self.canvas.tool = lent if getattr(lent, "shown", False) else None  # only if it is still there
            self.canvas.viewport().unsetCursor()

    def toggle(self) -> None:
        self.set_active(not self.active)

    def resize_brush(self, factor: float) -> None:
        self.radius = min(5000.0, max(1.0, self.radius * factor))
        self.bar.show_size()

    def press(self, point: QPointF) -> None:
        self._last = point
        self._dab(point)

    def move(self, point: QPointF) -> None:
        if self._last is None:
            return
        step = max(1.0, self.radius / 4)
        distance = math.dist((self._last.x(), self._last.y()), (point.x(), point.y()))
        count = max(1, int(distance / step))
        for i in range(1, count + 1):
            t = i / count
            self._dab(
                QPointF(
                    self._last.x() + (point.x() - self._last.x()) * t,
                    self._last.y() + (point.y() - self._last.y()) * t,
                )
            )
        self._last = point

    def release(self, _point: QPointF) -> None:
        self._last = None
        self.changed.emit()

    def _dab(self, centre: QPointF) -> None:
        """One round dab, soft towards its edge, on the mask and on the overlay alike: painting
        adds white and red, the eraser adds black and takes the overlay's alpha away."""
        source_over = QPainter.CompositionMode.CompositionMode_SourceOver
        if self.eraser:
            self._stamp(self._mask, centre, QColor(0, 0, 0), source_over)
            self._stamp(
                self._overlay.image,
                centre,
                QColor(0, 0, 0),
                QPainter.CompositionMode.CompositionMode_DestinationOut,
            )
        else:
            self._stamp(self._mask, centre, QColor(255, 255, 255), source_over)
            self._stamp(self._overlay.image, centre, OVERLAY_COLOUR, source_over)
        r = self.radius
        self._overlay.update(QRectF(centre.x() - r - 1, centre.y() - r - 1, 2 * r + 2, 2 * r + 2))

    def _stamp(self, image: QImage, centre: QPointF, colour: QColor, mode: QPainter.CompositionMode) -> None:
        """``colour`` at full strength out to the brush's hard core, fading to nothing at its edge."""
        gradient, hard = QRadialGradient(centre, self.radius), max(0.0, min(0.999, 1.0 - self.softness))
        for at, alpha in ((0.0, 255), (hard, 255), (1.0, 0)):
            gradient.setColorAt(at, QColor(colour.red(), colour.green(), colour.blue(), alpha))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setCompositionMode(mode)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(gradient))
        painter.drawEllipse(centre, self.radius, self.radius)
        painter.end()


class MaskBar(QWidget):
    """The brush's controls, shown in the edit panel while the mask is painted."""

    def __init__(self, brush: MaskBrush):
        super().__init__()
        self.brush = brush
        self.size_slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=100)
        self.size_slider.setToolTip("Brush size ([ and ])")
        self.size_label = QLabel()
        self.softness = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50)
        self.softness.setToolTip("Brush softness")
        self.eraser = QCheckBox("Eraser (E)")
        self.overlay = QCheckBox("Show mask (O)", checked=True)
        self.invert = QPushButton("Invert")
        self.invert.setToolTip("Edit everywhere except where it is painted (Ctrl+I)")
        self.clear = QPushButton("Clear")
        self.clear.setToolTip("An empty mask: the next edit applies everywhere")
        self.reuse = QPushButton("Reuse step's")
        self.reuse.setToolTip("Paint with the mask the current step was edited in (Shift+B)")
        self.reuse.setEnabled(False)
        self.done = QPushButton("Done")
        self.done.setToolTip("Stop painting; the mask stays for the next edit (B)")
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("<b>Mask</b>: paint where the next edit may change the photo")
        heading.setWordWrap(True)
        rows.addWidget(heading)
        sliders = QGridLayout()  # one column of labels: both sliders start and end at the same x
        for row, (label, slider) in enumerate((("Size", self.size_slider), ("Softness", self.softness))):
            sliders.addWidget(QLabel(label), row, 0)
            sliders.addWidget(slider, row, 1)
        sliders.addWidget(self.size_label, 0, 2)
        sliders.setColumnStretch(1, 1)
        self.size_label.setMinimumWidth(self.size_label.fontMetrics().horizontalAdvance("10000 px"))
        rows.addLayout(sliders)
        toggles = QHBoxLayout()
        toggles.addWidget(self.eraser)
        toggles.addWidget(self.overlay)
        rows.addLayout(toggles)
        buttons = QHBoxLayout()
        for button in (self.invert, self.clear, self.reuse, self.done):
            buttons.addWidget(button)
        rows.addLayout(buttons)
        self.hide()
        self.size_slider.valueChanged.connect(self._size_moved)
        self.softness.valueChanged.connect(lambda v: setattr(brush, "softness", v / 100))
        self.eraser.toggled.connect(lambda on: setattr(brush, "eraser", on))
        self.overlay.toggled.connect(self._show_overlay)
        self.invert.clicked.connect(brush.invert)
        self.clear.clicked.connect(brush.clear)
        self.reuse.clicked.connect(brush.reuse_step_mask)
        self.done.clicked.connect(lambda: brush.set_active(False))
        self.show_size()

    def _size_moved(self, value: int) -> None:
        # The slider is logarithmic: 1 px to 5000 px.
        self.brush.radius = math.exp(value / 100 * math.log(5000))
        self.size_label.setText(f"{2 * self.brush.radius:.0f} px")

    def show_size(self) -> None:
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(round(100 * math.log(max(1.0, self.brush.radius)) / math.log(5000)))
        self.size_slider.blockSignals(False)
        self.size_label.setText(f"{2 * self.brush.radius:.0f} px")

    def _show_overlay(self, on: bool) -> None:
        if self.brush._overlay is not None:
            self.brush._overlay.setVisible(on)
