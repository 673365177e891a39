"""The photo canvas: fit to window, 100 %, wheel and keyboard zoom, drag to pan; an edit's
live preview drawn over the photo at the photo's scale; a hint while no photo is open."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

EMPTY_HINT = "Open a photo (Ctrl+O) or drop one here"
ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


class Canvas(QGraphicsView):
    zoom_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        # The render's preview is a fraction of the photo's size: stretched over the photo, so the
        # view (and the zoom the user chose) stays put while it updates.
        self._preview = QGraphicsPixmapItem()
        self._preview.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._preview.setZValue(1)
        self._preview.hide()
        self.scene().addItem(self._preview)
        self.setBackgroundBrush(QColor(24, 24, 24))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self._fit = True

    @property
    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def show_image(self, image: QImage, keep_view: bool = False) -> None:
        """Show an image; a new photo fits the window, a new step keeps the user's view."""
        self._item.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(self._item.boundingRect())
        if not keep_view or self._fit:
            self.fit()

    @property
    def showing_preview(self) -> bool:
        return self._preview.isVisible()

    def show_preview(self, image: QImage) -> None:
        """Draw an in-progress render over the photo, scaled to cover it exactly."""
        if not self.has_image or image.isNull():
            return
        photo = self._item.pixmap()
        self._preview.setPixmap(QPixmap.fromImage(image))
        self._preview.setTransform(QTransform.fromScale(photo.width() / image.width(), photo.height() / image.height()))
        self._preview.show()

    def clear_preview(self) -> None:
        self._preview.hide()
        self._preview.setPixmap(QPixmap())

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt override)
        super().drawForeground(painter, rect)
        if self.has_image:
            return
        painter.save()
        painter.resetTransform()  # viewport coordinates: the hint sits in the middle of the view
        painter.setPen(QColor(150, 150, 150))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_HINT)
        painter.restore()

    def fit(self) -> None:
        if self.has_image:
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            self._fit = True
            self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self._set_zoom(1.0)

    def zoom_in(self) -> None:
        self._set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self._set_zoom(self.zoom / ZOOM_STEP)

    def _set_zoom(self, zoom: float) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self.setTransform(self.transform().fromScale(zoom, zoom))
        self._fit = False
        self.zoom_changed.emit(zoom)

    def wheelEvent(self, event):  # noqa: N802 (Qt override)
        if not self.has_image:
            return
        (self.zoom_in if event.angleDelta().y() > 0 else self.zoom_out)()

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self.fit()
