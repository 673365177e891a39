"""Render resources/icons/mgie-desktop.svg into the PNG sizes, the Windows .ico and the macOS .icns.

    .venv/bin/python installer/make_icons.py

The rendered files are committed (builds do not need Qt's SVG module); run this again after
editing the SVG. Uses QtSvg from the PySide6 the app already depends on, and Pillow.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG = ICONS / "mgie-desktop.svg"
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # the freedesktop hicolor sizes
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(size: int):
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice  # noqa: TID251 (a build tool, not the app)
    from PySide6.QtGui import QImage, QPainter  # noqa: TID251
    from PySide6.QtSvg import QSvgRenderer  # noqa: TID251

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGBA")


def main() -> int:
    from PySide6.QtGui import QGuiApplication  # noqa: TID251

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0], "-platform", "offscreen"])  # noqa: F841
    rendered = {size: render(size) for size in sorted(set(PNG_SIZES + ICO_SIZES + ICNS_SIZES))}
    for size in PNG_SIZES:
        path = ICONS / f"mgie-desktop-{size}.png"
        rendered[size].save(path, optimize=True)
        print(f"wrote {path.relative_to(ICONS.parent.parent)}")
    biggest = rendered[max(ICO_SIZES)]
    biggest.save(
        ICONS / "mgie-desktop.ico",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[rendered[s] for s in ICO_SIZES if s != max(ICO_SIZES)],
    )
    rendered[1024].save(
        ICONS / "mgie-desktop.icns", append_images=[rendered[s] for s in ICNS_SIZES if s != 1024]
    )
    print("wrote resources/icons/mgie-desktop.ico and mgie-desktop.icns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
