"""File › Watch Folder…'s question: the recipe, the folder photos land in, where the results go.
Checked here, once, and remembered for next time."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.batch.watch import DEFAULT_SETTLE
from mgie_desktop.ui.watch_folder import WatchSettings


class WatchFolderDialog(QDialog):
    """What to watch: the recipe, the folder photos land in, where the results go."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Watch Folder")
        self.settings = settings
        form = QFormLayout()
        self.recipe = self._path_row(form, "Recipe", "watch/recipe", folder=False)
        self.input_dir = self._path_row(form, "Photos land in", "watch/input", folder=True)
        self.output_dir = self._path_row(form, "Results go to", "watch/output", folder=True)
        self.move_done = QCheckBox("Move originals into done/ and failed/ (with the reason) beside them")
        self.move_done.setChecked(settings.value("watch/move_done", False, type=bool))
        self.settle = QDoubleSpinBox()
        self.settle.setRange(0.1, 600.0)
        self.settle.setDecimals(1)
        self.settle.setSuffix(" s")
        try:  # the settings file is outside input: a value edited by hand falls back to the default
            settle = float(settings.value("watch/settle", DEFAULT_SETTLE))
        except (TypeError, ValueError):
            settle = DEFAULT_SETTLE
        self.settle.setValue(settle)
        self.settle.setToolTip(
            "A photo is edited once its size has not changed for this long (still being copied)"
        )
        form.addRow("Wait until settled", self.settle)
        form.addRow(self.move_done)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = buttons.addButton("Start Watching", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def _path_row(self, form: QFormLayout, label: str, key: str, folder: bool) -> QLineEdit:
        line = QLineEdit(str(self.settings.value(key, "")))
        line.setMinimumWidth(360)
        browse = QPushButton("Choose…")
        browse.clicked.connect(lambda: self._browse(line, folder))
        box = QHBoxLayout()
        box.addWidget(line)
        box.addWidget(browse)
        form.addRow(label, box)
        return line

    def _browse(self, line: QLineEdit, folder: bool) -> None:
        start = line.text() or str(Path.home())
        if folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a recipe", start, "MGIE recipe (*.json)")
        if chosen:
            line.setText(chosen)

    def chosen(self) -> WatchSettings | None:
        """The settings typed, or None with the problem shown (checked here, once)."""
        recipe, inside, out = (Path(w.text().strip()) for w in (self.recipe, self.input_dir, self.output_dir))
        problem = ""
        if not self.recipe.text().strip() or not recipe.is_file():
            problem = "choose a recipe file (File › Export Recipe… makes one from a session)"
        elif not self.input_dir.text().strip() or not inside.is_dir():
            problem = "choose the folder the photos land in"
        elif not self.output_dir.text().strip():
            problem = "choose a folder for the results"
        elif out.resolve() == inside.resolve():
            problem = "the results need a folder of their own, not the one watched"
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        if problem:
            return None
        for key, value in (
            ("watch/recipe", recipe),
            ("watch/input", inside),
            ("watch/output", out),
        ):
            self.settings.setValue(key, str(value))
        self.settings.setValue("watch/move_done", self.move_done.isChecked())
        self.settings.setValue("watch/settle", self.settle.value())
        return WatchSettings(recipe, inside, out, round(self.settle.value(), 1), self.move_done.isChecked())

    def accept(self) -> None:
        if self.chosen() is not None:
            super().accept()
