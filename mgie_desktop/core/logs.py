"""The app's log file: details (tracebacks) that a message to the user leaves out."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

from .paths import APP_NAME

LOG_NAME = "mgie-desktop.log"
log = logging.getLogger("mgie_desktop")
_file: Path | None = None


def log_path() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)) / LOG_NAME


def start_log_file(path: Path | None = None) -> Path | None:
    """Send the app's log to a rotating file; None if the folder cannot be written (the app runs on)."""
    path = path or log_path()
    try:
        os.makedirs(path.parent, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2 * 2**20, backupCount=2, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    global _file
    _file = path
    return path


def log_file_hint() -> str:
    """ " (details are in FILE)" when a log file is being written, else nothing."""
    return f" (details are in {_file})" if _file else ""
