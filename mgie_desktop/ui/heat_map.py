"""The difference view as a heat map, and its scale drawn over the canvas.

``core.compare.difference_image`` gives the largest channel change per pixel, amplified
(``GAIN``); here each grey level gets a colour (dark unchanged, through blue, red and yellow, to
white for the largest changes), and the scale says how many levels of 255 each colour means."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QWidget

GAIN = 4.0  # core.compare.difference_image's default: a grey level is GAIN x the change
STOPS = (
    (0.0, QColor(0, 0, 0)),
    (0.25, QColor(40, 60, 200)),
    (0.5, QColor(220, 40, 40)),
    (0.75, QColor(255, 200, 0)),
    (1.0, QColor(255, 255, 255)),
)


def heat_colour(level: int) -> QColor:
    """The colour of grey ``level`` (0-255), between the two stops around it."""
    at = level / 255
    for (a, ca), (b, cb) in zip(STOPS, STOPS[1:], strict=False):  # each stop and the next
        if at <= b:
            t = (at - a) / (b - a)
            return QColor(
                *(round(x + (y - x) * t) for x, y in zip(ca.getRgb()[:3], cb.getRgb()[:3], strict=True))
            )
    return STOPS[-1][1]


HEAT_TABLE = [heat_colour(level).rgb() for level in range(256)]


def heat_image(difference: QImage) -> QImage:
    """The grey difference image coloured by HEAT_TABLE (an indexed image: one table, no per-pixel maths)."""
    grey = difference.convertToFormat(QImage.Format.Format_Grayscale8)
    indexed = QImage(
        grey.constBits(), grey.width(), grey.height(), grey.bytesPerLine(), QImage.Format.Format_Indexed8
    )
    indexed.setColorTable(HEAT_TABLE)
    return indexed.convertToFormat(QImage.Format.Format_RGB32)  # its own pixels, not grey's


class HeatScale(QWidget):
    """The map's key, in a corner of the canvas: the colours and the change they stand for."""

    def __init__(self, parent: QWidget | None):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.resize(260, 44)
        self.hide()
        if parent is not None:
            parent.installEventFilter(self)  # stays in its corner when the canvas is resized

    def place(self) -> None:
        """Bottom left of the canvas, above the photo."""
        parent = self.parentWidget()
        if parent is not None:
            self.move(12, parent.height() - self.height() - 12)
            self.raise_()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Resize:
            self.place()
        return False

    def ticks(self) -> list[tuple[float, str]]:
        """(place along the bar, label): the change in levels of 255 at each quarter."""
        return [
            (at, f"{round(255 * at / GAIN)}" + ("+" if at == 1.0 else ""))
            for at in (0.0, 0.25, 0.5, 0.75, 1.0)
        ]

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 170))
        bar = QRectF(10, 6, self.width() - 20, 12)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for at, colour in STOPS:
            gradient.setColorAt(at, colour)
        painter.fillRect(bar, gradient)
        painter.setPen(QColor(230, 230, 230))
        for at, label in self.ticks():
            x = bar.left() + at * bar.width()
            painter.drawText(QRectF(x - 20, bar.bottom() + 2, 40, 16), Qt.AlignmentFlag.AlignCenter, label)
