"""The "Progress" box: a labelled bar for the current file and one for the whole job."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QProgressBar, QVBoxLayout

# Bars count in thousandths: fine enough for a smooth bar, whatever the byte counts.
BAR_STEPS = 1000


class ProgressPanel(QGroupBox):
    def __init__(self):
        super().__init__("Progress")
        layout = QVBoxLayout(self)
        self.file_label, self.file_bar = QLabel(" "), QProgressBar()
        self.overall_label, self.overall_bar = QLabel(" "), QProgressBar()
        for label, bar in ((self.file_label, self.file_bar), (self.overall_label, self.overall_bar)):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            bar.setRange(0, BAR_STEPS)
            bar.setValue(0)
            bar.setTextVisible(False)
            layout.addWidget(label)
            layout.addWidget(bar)

    def set_bars(self, file_frac: float | None, overall_frac: float | None) -> None:
        """Fractions 0..1 (None: empty); a bar showing the busy indicator goes back to counting."""
        for bar, frac in ((self.file_bar, file_frac), (self.overall_bar, overall_frac)):
            if bar.maximum() == 0:
                bar.setRange(0, BAR_STEPS)
            bar.setValue(0 if frac is None else int(max(0.0, min(1.0, frac)) * BAR_STEPS))

    def show_busy(self) -> None:
        """For steps that report no amounts (planning, converting, deleting)."""
        self.file_bar.setRange(0, 0)
