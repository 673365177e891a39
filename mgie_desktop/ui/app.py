"""Start the application: the window first, the engine afterwards in its own thread."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from mgie_desktop import __version__
from mgie_desktop.ui.main_window import MainWindow
from mgie_desktop.ui.theme import apply_theme


def run_app(path: str | None, models: Path, device: str = "auto", memory: str = "auto",
            llm_quant: str = "auto", compile_unet: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("mgie-desktop")
    app.setOrganizationName("mgie-desktop")
    app.setApplicationDisplayName("MGIE Desktop")
    app.setApplicationVersion(__version__)
    apply_theme(app)
    window = MainWindow(models, device, engine_options={"memory": memory, "llm_quant": llm_quant,
                                                        "compile_unet": compile_unet})
    window.show()
    if path:
        window.open_path(Path(path))
    return app.exec()
