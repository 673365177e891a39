"""Where things live: --models, then $MGIE_MODELS, then the folder the user chose in the
window (remembered in its settings), then the platform's data directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "mgie-desktop"
MODELS_ENV = "MGIE_MODELS"


def models_dir(
    explicit: str | os.PathLike[str] | None = None, remembered: str | os.PathLike[str] | None = None
) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    if remembered:
        return Path(remembered).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"
