"""Before and after on the canvas itself: the step before (its parent) left of a divider, the
current step right of it, at any zoom and at full resolution, with the outline of the mask the
edit was made in. Dragging moves the divider (the canvas's tool while the split is shown);
the mouse wheel still zooms and the scroll bars still pan. Side by side, the step before sits
whole to the left of the photo instead, and the two pan and zoom together.

Scene coordinates are the photo's pixels, as everywhere on the canvas; the divider and the names
keep their on-screen size at any zoom."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBitmap, QBrush, QColor, QImage, QPainterPath, QPen, QPixmap, QRegion, QTransform
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

from mgie_desktop.ui.canvas import Canvas

NAMES = ("Before", "After")
SIDE_BY_SIDE_GAP = 0.02  # of the photo's width, between the two
TAG_PADDING = 5.0  # screen pixels around a name on its tag
OUTLINE_SIDE = 1024  # the mask's outline is traced on a copy this size at most (smooth enough, quick)


class CanvasSplit:
    """Shown by ``show(before, mask)`` over what the canvas holds (the current step); ``hide``
    takes it all away. ``split`` is the divider's place, 0 (all after) to 1 (all before)."""

    def __init__(self, canvas: Canvas):
        self.canvas = canvas
        self.split = 0.5
        self.shown = False
        self.side_by_side = False
        scene = canvas.scene()
        self._clip = QGraphicsRectItem()  # the before image shows only inside it: left of the divider
        self._clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self._clip.setPen(QPen(Qt.PenStyle.NoPen))
        self._before = QGraphicsPixmapItem(self._clip)
        self._before.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._divider = QGraphicsLineItem()
        self._outline = QGraphicsPathItem()
        # Each name on a dark tag of its own: readable over any photo, at any zoom.
        self._tags = [QGraphicsRectItem() for _ in NAMES]
        self._names = [
            QGraphicsSimpleTextItem(name, tag) for name, tag in zip(NAMES, self._tags, strict=True)
        ]
        pen = QPen(QColor(255, 255, 255), 2)
        pen.setCosmetic(True)  # two screen pixels at any zoom
        self._divider.setPen(pen)
        outline = QPen(QColor(255, 210, 0), 1.5, Qt.PenStyle.DashLine)
        outline.setCosmetic(True)
        self._outline.setPen(outline)
        for tag, name in zip(self._tags, self._names, strict=True):
            tag.setBrush(QBrush(QColor(0, 0, 0, 160)))
            tag.setPen(QPen(Qt.PenStyle.NoPen))
            tag.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)  # readable at any zoom
            name.setBrush(QBrush(QColor(255, 255, 255)))
            name.setPos(TAG_PADDING, TAG_PADDING / 2)
        for z, item in enumerate((self._clip, self._outline, self._divider, *self._tags), start=3):
            item.setZValue(z)
            item.hide()
            scene.addItem(item)

    def show(self, before: QImage, mask: QImage | None = None, names: tuple[str, str] = NAMES) -> None:
        """Split the current step against ``before`` (same size); ``mask`` (grey, any size) outlined;
        ``names`` over the two sides (another step than the one before: what each is)."""
        for tag, item, name in zip(self._tags, self._names, names, strict=True):
            item.setText(name)
            text = item.boundingRect()
            tag.setRect(QRectF(0, 0, text.width() + 2 * TAG_PADDING, text.height() + TAG_PADDING))
        self._before.setPixmap(QPixmap.fromImage(before))
        self._outline.setPath(
            _outline(mask, before.width(), before.height()) if mask is not None else QPainterPath()
        )
        self.shown = True
        for item in (self._clip, self._outline, self._divider, *self._tags):
            item.show()
        if self.canvas.tool is None:  # the mask brush keeps the mouse while it paints; it hands it back
            self.canvas.tool = self
            self.canvas.viewport().setCursor(Qt.CursorShape.SplitHCursor)
        self._place()
        if self.side_by_side:
            self.canvas.fit()

    def hide(self) -> None:
        if not self.shown:
            return
        self.shown = False
        self.canvas.beside = None
        self.canvas.scene().setSceneRect(self.canvas.scene_rect())  # the photo alone again
        if self.side_by_side:
            self.canvas.fit()
        for item in (self._clip, self._outline, self._divider, *self._tags):
            item.hide()
        self._before.setPixmap(QPixmap())
        if self.canvas.tool is self:
            self.canvas.tool = None
            self.canvas.viewport().unsetCursor()

    def before_visible_at(self, x: float) -> bool:
        """Does the before image show at scene column ``x``? (Left of the divider, or of the photo.)"""
        return self.shown and self._clip.rect().left() <= x < self._clip.rect().right()

    def set_side_by_side(self, on: bool) -> None:
        self.side_by_side = on
        if self.shown:
            self._place()
            self.canvas.fit()

    # ---- the canvas's tool: a drag moves the divider ----------------------------------------------
    def press(self, point: QPointF) -> None:
        self.move(point)

    def move(self, point: QPointF) -> None:
        width = self._before.pixmap().width()
        if self.shown and width and not self.side_by_side:
            self.split = min(1.0, max(0.0, point.x() / width))
            self._place()

    def release(self, _point: QPointF) -> None:
        pass

    def _place(self) -> None:
        size = self._before.pixmap().size()
        if self.side_by_side:  # the whole step before, a gap to the left of the photo
            gap = size.width() * SIDE_BY_SIDE_GAP
            self._before.setPos(-size.width() - gap, 0)
            self._clip.setRect(QRectF(-size.width() - gap, 0, size.width(), size.height()))
            self._divider.hide()
            self._tags[0].setPos(QPointF(-gap, 0))
            self._tags[1].setPos(QPointF(size.width(), 0))
            self._name_offsets(right_aligned=True)
            self.canvas.beside = QRectF(-size.width() - gap, 0, size.width(), size.height())
            self.canvas.scene().setSceneRect(self.canvas.scene_rect())
            return
        self._before.setPos(0, 0)
        self._divider.setVisible(self.shown)
        self.canvas.beside = None
        self.canvas.scene().setSceneRect(self.canvas.scene_rect())
        cut = size.width() * self.split
        self._clip.setRect(QRectF(0, 0, cut, size.height()))
        self._divider.setLine(cut, 0, cut, size.height())
        self._tags[0].setPos(QPointF(max(0.0, cut - 1), 0))
        self._tags[1].setPos(QPointF(cut, 0))
        self._name_offsets(right_aligned=False)

    def _name_offsets(self, right_aligned: bool) -> None:
        """Each name a few screen pixels inside the top edge; the left one ending at its anchor,
        the right one starting at its (side by side: each at its own image's right edge)."""
        before = -self._tags[0].rect().width() - 6
        after = -self._tags[1].rect().width() - 6 if right_aligned else 6
        self._tags[0].setTransform(QTransform.fromTranslate(before, 6))
        self._tags[1].setTransform(QTransform.fromTranslate(after, 6))


def _outline(mask: QImage, width: int, height: int) -> QPainterPath:
    """The edge of the mask's white region (where the edit was allowed), in the photo's pixels."""
    scale = min(1.0, OUTLINE_SIDE / max(width, height))
    small = mask.convertToFormat(QImage.Format.Format_Grayscale8).scaled(
        max(1, round(width * scale)),
        max(1, round(height * scale)),
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    small.invertPixels()  # a bitmap's region is its black pixels: the allowed (white) part, inverted
    bits = small.convertToFormat(QImage.Format.Format_Mono, Qt.ImageConversionFlag.ThresholdDither)
    path = QPainterPath()
    path.addRegion(QRegion(QBitmap.fromImage(bits)))
    return QTransform.fromScale(1 / scale, 1 / scale).map(path.simplified())
