"""The licence gate: one "I accept" box per distinct licence in the manifest, with its link.

Nothing is downloaded until every box is ticked; the dialog asks ``accepted`` before a
Download or a Repair (both fetch files) and greys the boxes out while files are fetched.
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
        grid = QGridLayout(self)
        self.boxes: list[QCheckBox] = []
        if manifest is None:
            return  # the dialog shows why the manifest did not load
        for row, (lic, names) in enumerate(manifest.licenses()):
            box = QCheckBox(f"I accept the {lic.name} licence")
            box.setToolTip(f"covers: {', '.join(names)}")
            box.toggled.connect(on_toggled)
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
