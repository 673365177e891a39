"""PIL <-> Qt image conversion (QImage is safe to build off the GUI thread; QPixmap is not)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

from mgie_desktop.core.deferred import load

if TYPE_CHECKING:  # Pillow loads with the first photo, not with the window
    from PIL import Image


def to_qimage(image: Image.Image) -> QImage:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    # .copy(): the QImage must own its pixels, not borrow the temporary bytes object.
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def thumbnail(image: Image.Image, size: int = 96) -> QImage:
    Image = load("PIL", "Image")

    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.BILINEAR)
    return to_qimage(small)
