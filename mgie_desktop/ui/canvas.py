"""The photo canvas: fit to window, 100 %, wheel and keyboard zoom, drag to pan; an edit's
live preview drawn over the photo at the photo's scale; a result blended over its source while
its strength is dragged; a crop rectangle drawn with the mouse; a painting tool's strokes (the
mask brush); a hint while no photo is open.

Scene coordinates are the shown image's pixels (the photo item sits at 0,0, unscaled)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
)

from mgie_desktop.core.sizing import fit_ratio  # plain arithmetic: no Pillow at start-up

EMPTY_HINT = "Open a photo (Ctrl+O) or drop one here"
ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


class Canvas(QGraphicsView):
    zoom_changed = Signal(float)
    image_size_changed = Signal(int, int)  # a photo of another size is shown (a new one, or a crop)

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
        # Under the photo while a strength is dragged: the step's source, the photo item shows the
        # render at the strength's opacity (exactly the blend the history will make).
        self._under = QGraphicsPixmapItem()
        self._under.setZValue(-1)
        self._under.hide()
        self.scene().addItem(self._under)
        self._crop_rect: QGraphicsRectItem | None = None
        self._crop_shade: QGraphicsPathItem | None = None
        self._crop_ratio: float | None = None
        self._crop_anchor: QPointF | None = None
        self.setBackgroundBrush(QColor(24, 24, 24))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self._fit = True
        self.tool = None  # a painting tool (ui.mask_brush): left-drag paints instead of panning
        self.beside: QRectF | None = None  # more of the scene than the photo (the step before, side by side)
        self._painting = False
        self._current_size = None  # of the current step's image: a painting tool's size

    @property
    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def show_image(self, image: QImage, keep_view: bool = False, current: bool = True) -> None:
        """Show an image; a new photo fits the window, a new step keeps the user's view.
        ``current=False``: a glance at another image (the step before, a difference view) that
        tools painting on the current step must not follow."""
        self._item.setPixmap(QPixmap.fromImage(image))
        if current and image.size() != self._current_size:
            self._current_size = image.size()
            self.image_size_changed.emit(image.width(), image.height())
        self.scene().setSceneRect(self.scene_rect())
        if not keep_view or self._fit:
            self.fit()

    def scene_rect(self) -> QRectF:
        """The photo, and what is shown beside it."""
        photo = self._item.boundingRect()
        return photo.united(self.beside) if self.beside is not None else photo

    @property
    def showing_preview(self) -> bool:
        return self._preview.isVisible()

    def show_preview(self, image: QImage) -> None:
        """Draw an in-progress render over the photo, scaled to cover it exactly."""
        if not self.has_image or image.isNull():
            return
        photo = self._item.pixmap()
        self._preview.setPixmap(QPixmap.fromImage(image))
        scale = QTransform.fromScale(photo.width() / image.width(), photo.height() / image.height())
        self._preview.setTransform(scale)
        self._preview.show()

    def clear_preview(self) -> None:
        self._preview.hide()
        self._preview.setPixmap(QPixmap())

    # ---- strength: the render over its source -------------------------------------------------
    @property
    def blending(self) -> bool:
        return self._under.isVisible()

    def start_blend(self, source: QImage, render: QImage) -> None:
        self._under.setPixmap(QPixmap.fromImage(source))
        self._item.setPixmap(QPixmap.fromImage(render))
        self._under.show()

    def set_blend(self, strength: float) -> None:
        self._item.setOpacity(strength)

    def end_blend(self) -> None:
        self._under.hide()
        self._under.setPixmap(QPixmap())
        self._item.setOpacity(1.0)

    # ---- crop ------------------------------------------------------------------------------------
    @property
    def cropping(self) -> bool:
        return self._crop_rect is not None

    def start_crop(self, ratio: float | None) -> None:
        """Show a crop rectangle (the whole photo, fitted to ``ratio``) that a drag redraws."""
        self.end_crop()
        pen = QPen(QColor(255, 255, 255), 0)
        pen.setCosmetic(True)
        self._crop_shade = QGraphicsPathItem()
        self._crop_shade.setBrush(QBrush(QColor(0, 0, 0, 140)))
        self._crop_shade.setPen(QPen(Qt.PenStyle.NoPen))
        self._crop_rect = QGraphicsRectItem()
        self._crop_rect.setPen(pen)
        for item in (self._crop_shade, self._crop_rect):
            item.setZValue(2)
            self.scene().addItem(item)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.set_crop_ratio(ratio, self._item.boundingRect())

    def set_crop_ratio(self, ratio: float | None, around: QRectF | None = None) -> None:
        self._crop_ratio = ratio
        if self._crop_rect is not None:
            self.set_crop_box(around or self._crop_rect.rect())

    def set_crop_box(self, rect: QRectF) -> None:
        size = self._item.pixmap().size()
        box = fit_ratio(
            (rect.left(), rect.top(), rect.right(), rect.bottom()),
            self._crop_ratio,
            (size.width(), size.height()),
        )
        shown = QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1])
        self._crop_rect.setRect(shown)
        shade = QPainterPath()
        shade.addRect(self._item.boundingRect())
        inner = QPainterPath()
        inner.addRect(shown)
        self._crop_shade.setPath(shade.subtracted(inner))

    def crop_box(self) -> tuple[int, int, int, int] | None:
        if self._crop_rect is None:
            return None
        r = self._crop_rect.rect()
        return int(r.left()), int(r.top()), int(r.right()), int(r.bottom())

    def end_crop(self) -> None:
        for item in (self._crop_rect, self._crop_shade):
            if item is not None:
                self.scene().removeItem(item)
        self._crop_rect = self._crop_shade = self._crop_anchor = None
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().unsetCursor()

    def mousePressEvent(self, event):  # noqa: N802 (Qt override)
        if self.cropping and event.button() == Qt.MouseButton.LeftButton:  # a crop comes before any tool
            self._crop_anchor = self.mapToScene(event.position().toPoint())
            return
        if self.tool is not None and event.button() == Qt.MouseButton.LeftButton:
            self._painting = True
            self.tool.press(self.mapToScene(event.position().toPoint()))
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):  # noqa: N802
        if self.tool is not None and self._painting:
            self.tool.move(self.mapToScene(event.position().toPoint()))
            return
        if self.cropping and self._crop_anchor is not None:
            self.set_crop_box(QRectF(self._crop_anchor, self.mapToScene(event.position().toPoint())))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):  # noqa: N802
        if self._painting:
            self._painting = False
            if self.tool is not None:
                self.tool.release(self.mapToScene(event.position().toPoint()))
            return
        if self.cropping and self._crop_anchor is not None:
            self._crop_anchor = None
            return
        super().mouseReleaseEvent(event)

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
        """Fit all the scene shows: the photo (and its step before, when they are side by side)."""
        if self.has_image:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
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
