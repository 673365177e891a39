"""The dialog's tree: one row per model, one child row per manifest file, and what each row
shows as snapshots, progress records and verification results arrive."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

# A model's state is worked out the way `models list` does it, so both always agree.
from mgie_desktop.store.commands import model_status
from mgie_desktop.store.manifest import Manifest
from mgie_desktop.store.progress import format_bytes
from mgie_desktop.store.verify import CORRUPT, INSTALLED, MISSING, PARTIAL, UNVERIFIED
from mgie_desktop.ui.model_manager.jobs import StoreSnapshot

STATE, SIZE, ON_DISK, DETAIL = 1, 2, 3, 4  # columns after the name
STATE_COLOURS = {
    INSTALLED: "#2e7d32",
    UNVERIFIED: "#8d6e00",
    PARTIAL: "#1565c0",
    MISSING: "#757575",
    CORRUPT: "#c62828",
}


class ModelFileTree(QTreeWidget):
    """Rows are keyed by manifest path (files) and model id (models), filled once by ``fill``."""

    def __init__(self):
        super().__init__()
        self.setHeaderLabels(["Model / file", "State", "Size", "On disk", "Detail"])
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (STATE, SIZE, ON_DISK):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._model_items: dict[str, QTreeWidgetItem] = {}

    def fill(self, manifest: Manifest) -> None:
        """One row per model and per file (what was there before goes)."""
        self.clear()
        self._model_items.clear()
        self._items.clear()
        for model in manifest.models:
            sizes = [f.size for f in model.files]
            size = format_bytes(sum(sizes)) if None not in sizes else f"≥ {format_bytes(model.known_size)}"
            top = QTreeWidgetItem([model.name, "…", size, "", f"{model.license.name}"])
            top.setToolTip(0, model.id + (f"\n{model.revision_note}" if model.revision_note else ""))
            self.addTopLevelItem(top)
            self._model_items[model.id] = top
            for entry in model.files:
                item = QTreeWidgetItem([entry.path, "…", format_bytes(entry.size), "", ""])
                item.setToolTip(0, entry.source.describe())
                top.addChild(item)
                self._items[entry.path] = item
            top.setExpanded(True)

    def show_snapshot(self, snap: StoreSnapshot, manifest: Manifest) -> None:
        by_path = snap.by_path
        for rel, item in self._items.items():
            st = by_path.get(rel)
            if st is None:
                continue
            shown = "freed" if snap.sources_freed else st.status
            item.setText(STATE, shown)
            item.setForeground(STATE, _brush(STATE_COLOURS.get(st.status, "#000000")))
            item.setText(ON_DISK, format_bytes(st.bytes_on_disk) if st.bytes_on_disk else "")
            item.setText(DETAIL, "not needed after conversion" if snap.sources_freed else st.detail)
        for model in manifest.models:
            states = [by_path[f.path].status for f in model.files if f.path in by_path]
            top = self._model_items[model.id]
            top.setText(STATE, "installed (sources freed)" if snap.sources_freed else model_status(states))
            top.setText(
                ON_DISK,
                format_bytes(sum(by_path[f.path].bytes_on_disk for f in model.files if f.path in by_path)),
            )

    def set_file_state(self, rel: str, state: str) -> None:
        """A file's state while a job runs ("downloading 40 %", "verifying", ...)."""
        item = self._items.get(rel)
        if item is not None:
            item.setText(STATE, state)

    def mark_bad(self, rel: str, state: str, detail: str) -> None:
        """A file that failed to download or to verify: its state in red, and why."""
        item = self._items.get(rel)
        if item is not None:
            item.setText(STATE, state)
            item.setForeground(STATE, _brush(STATE_COLOURS[CORRUPT]))
            item.setText(DETAIL, detail)


def _brush(colour: str) -> QBrush:
    return QBrush(QColor(colour))
