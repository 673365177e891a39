"""Start the application: the window first, the engine afterwards in its own thread."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from mgie_desktop import __version__
from mgie_desktop.core.logs import start_log_file
from mgie_desktop.core.paths import models_dir
from mgie_desktop.ui.main_window import MODELS_SETTING, MainWindow
from mgie_desktop.ui.platform_check import platform_guard
from mgie_desktop.ui.theme import apply_theme


def run_app(
    path: str | None,
    models: str | Path | None,
    device: str = "auto",
    memory: str = "auto",
    llm_quant: str = "auto",
    compile_unet: bool = False,
    precision: str = "auto",
) -> int:
    """``models``: --models as given (None: $MGIE_MODELS, the folder chosen in the window, the default)."""
    with platform_guard():  # a missing system library gets one line naming its package, not Qt's abort
        app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("mgie-desktop")
    app.setOrganizationName("mgie-desktop")
    app.setApplicationDisplayName("MGIE Desktop")
    app.setApplicationVersion(__version__)
    apply_theme(app)
    start_log_file()
    models = models_dir(models, remembered=QSettings().value(MODELS_SETTING))
    window = MainWindow(
        models,
        device,
        engine_options={
            "memory": memory,
            "llm_quant": llm_quant,
            "compile_unet": compile_unet,
            "precision": precision,
        },
    )
    _close_on_terminate(window)
    window.show()
    if path:
        window.open_path(Path(path))
    return app.exec()


def _close_on_terminate(window: MainWindow) -> None:
    """SIGTERM (logout, `kill`) and Ctrl+C close the window as the user would: an edit stops,
    the engine thread is joined, unsaved work stays in the autosave for the next start."""

    def close_soon(_signum, _frame):
        QTimer.singleShot(0, window.quit_keeping_work)

    for name in ("SIGTERM", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), close_soon)
    # Python runs signal handlers between bytecodes; while Qt's C++ event loop waits, wake the
    # interpreter a few times a second so a signal is handled promptly.
    wake = QTimer(window)
    wake.timeout.connect(_wake_python)
    wake.start(250)


def _wake_python() -> None:
    """Nothing to do: returning to Python lets a pending signal handler run."""
