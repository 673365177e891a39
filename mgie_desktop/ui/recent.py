"""The recent files list, kept in the app's QSettings and shown as a menu."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 10


class RecentFiles:
    def __init__(self, settings: QSettings, menu: QMenu, open_path: Callable[[Path], None]):
        self.settings, self.menu, self.open_path = settings, menu, open_path
        menu.aboutToShow.connect(self._fill)

    def paths(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def remember(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.paths() if p != str(path)]
        self.settings.setValue("recent", items[:MAX_RECENT])

    def _fill(self) -> None:
        self.menu.clear()
        for item in self.paths():
            action = self.menu.addAction(item)
            action.triggered.connect(lambda _=False, p=item: self.open_path(Path(p)))
        self.menu.setEnabled(bool(self.paths()))
