"""The licence gate: one "I accept" box per distinct licence in the manifest, with its link.

Nothing is downloaded until every box is ticked; the dialog asks ``accepted`` before a
Download or a Repair (both fetch files) and greys the boxes out while files are fetched.
Ticking an optional component with a licence of its own (FLUX.2 [klein]'s Apache-2.0) adds
its row: ``set_manifest`` rebuilds the rows for the chosen models and keeps what was already accepted.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QLabel

from mgie_desktop.store.manifest import Manifest
from mgie_desktop.ui.model_manager.status_text import escape_html


class LicencePanel(QGroupBox):
    def __init__(self, manifest: Manifest | None, on_toggled: Callable[[], None]):
        super().__init__("Licences")
        self.grid = QGridLayout(self)
        self.on_toggled = on_toggled
        self.boxes: list[QCheckBox] = []  # the same list for the panel's life (the dialog holds it)
        self.set_manifest(manifest)

    def set_manifest(self, manifest: Manifest | None) -> None:
        """One row per distinct licence of ``manifest``; a licence accepted before stays accepted."""
        accepted = {box.property("licence") for box in self.boxes if box.isChecked()}
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        self.boxes.clear()
        if manifest is None:
            return  # the dialog shows why the manifest did not load
        grid = self.grid
        for row, (lic, names) in enumerate(manifest.licenses()):
            box = QCheckBox(f"I accept the {lic.name} licence")
            box.setProperty("licence", lic.name)
            box.setChecked(lic.name in accepted)
            box.setToolTip(f"covers: {', '.join(names)}")
            box.toggled.connect(self.on_toggled)
            link = QLabel(
                f'<a href="{escape_html(lic.url)}">{escape_html(lic.url)}</a> — covers '
                f"{escape_html(', '.join(names))}"
            )
            link.setOpenExternalLinks(True)
            link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            link.setWordWrap(True)
            grid.addWidget(box, row, 0)
            grid.addWidget(link, row, 1)
            self.boxes.append(box)

    @property
    def accepted(self) -> bool:
        return bool(self.boxes) and all(box.isChecked() for box in self.boxes)
