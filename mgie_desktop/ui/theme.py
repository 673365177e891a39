"""A neutral theme so colours read true: dark unless the system asks for light."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def prefers_light() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Light


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    if prefers_light():
        return
    palette = QPalette()
    base, panel, text, mid = QColor(30, 30, 30), QColor(43, 43, 43), QColor(222, 222, 222), QColor(70, 70, 70)
    accent = QColor(77, 140, 220)
    for role, colour in (
        (QPalette.ColorRole.Window, panel),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, panel),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, panel),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.ToolTipBase, panel),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Highlight, accent),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Mid, mid),
        (QPalette.ColorRole.PlaceholderText, QColor(130, 130, 130)),
        (QPalette.ColorRole.Link, accent),
    ):
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 110, 110))
    app.setPalette(palette)
    app.setStyleSheet(
        "QPushButton:default { background: #3d6fb0; color: white; border: 1px solid #4d8cdc;"
        " border-radius: 3px; padding: 5px 10px; }"
        "QPushButton:default:disabled { background: #3a3a3a; color: #777; border-color: #444; }"
        "QLabel#notice { color: #f0c060; }"
    )
