"""PIL <-> Qt image conversion (QImage is safe to build off the GUI thread; QPixmap is not)."""

from __future__ import annotations

from PIL import Image
from PySide6.QtGui import QImage


def to_qimage(image: Image.Image) -> QImage:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    # .copy(): the QImage must own its pixels, not borrow the temporary bytes object.
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def thumbnail(image: Image.Image, size: int = 96) -> QImage:
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.BILINEAR)
    return to_qimage(small)
