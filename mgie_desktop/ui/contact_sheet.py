"""Reviewing a batch's results: a grid of before/after pairs to approve or reject from the
keyboard (arrows move, A approves, R rejects, U undoes a decision), a rejected photo marked for
a re-render with another seed or a corrected expressive instruction, and the approved outputs
exported to a folder.

Decisions are saved in OUTPUT_DIR/review.json (batch.review) as they are made, so reopening the
folder shows them; the next ``mgie-desktop batch`` run renders the marked photos again (the
command is shown, ready to copy: the window's own engine would hold a second copy of the models).
Everything read from disk (results, recipe, thumbnails) is read on pool threads; the GUI thread
only shows what they hand back."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.batch.review import Decision, PhotoReview, Rerender, write_review
from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import display_text, sentence
from mgie_desktop.core.errors import InputError
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.plain_text import plain_label
from mgie_desktop.ui.seed_box import SeedBox
from mgie_desktop.ui.tasks import BackgroundTasks

if TYPE_CHECKING:  # batch.overview reads recipes (Pillow, numpy): loaded with the folder, off the GUI thread
    from mgie_desktop.batch.overview import BatchPhoto, Overview

SIDE = 140  # pixels of each half of a pair
MARKS = {  # words and a symbol, not colour alone
    Decision.APPROVED: ("✓ approved", QColor(215, 240, 215)),
    Decision.REJECTED: ("✗ rejected", QColor(245, 215, 215)),
    Decision.UNDECIDED: ("· undecided", QColor(0, 0, 0, 0)),
}
KEYS = {Qt.Key.Key_A: Decision.APPROVED, Qt.Key.Key_R: Decision.REJECTED, Qt.Key.Key_U: Decision.UNDECIDED}
EXPORT_KEY = "contact_sheet/export_folder"


def mark_text(review: PhotoReview) -> str:
    text = MARKS[review.decision][0]
    if review.rerender is not None:
        text += f", re-render: {review.rerender.describe()}"
    return text


class _Grid(QListWidget):
    """The pairs; arrows move (Qt's own), A/R/U decide about the selected photo."""

    decided = Signal(object)  # a Decision

    def __init__(self):
        super().__init__()
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(2 * SIDE + 8, SIDE))
        self.setGridSize(QSize(2 * SIDE + 16, SIDE + 64))
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        decision = KEYS.get(Qt.Key(event.key()))
        if decision is not None and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.decided.emit(decision)
            return
        super().keyPressEvent(event)


class ContactSheet(QWidget):
    """The review of the batch whose OUTPUT_DIR is ``folder``."""

    loaded = Signal()  # the folder is read and its cells shown (thumbnails follow)
    thumbnails_done = Signal()

    def __init__(self, folder: Path, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        # Its own window (over its parent, gone with it); closing it ends the reading and frees it.
        self.setWindowFlag(Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.folder, self.settings = Path(folder), settings
        self.setWindowTitle(f"Batch results: {self.folder.name}")
        self.overview: Overview | None = None
        self.reviews: dict[str, PhotoReview] = {}
        self._photos: dict[str, BatchPhoto] = {}
        self.saving_allowed = False  # not until review.json is read (a damaged one is never overwritten)
        # Reading: the folder, then thumbnails (Pillow decodes without the GIL: several at once help).
        self._tasks = BackgroundTasks(self, workers=4)
        self._writes = BackgroundTasks(self, workers=1)  # review.json and exports, one at a time, in order
        self._stop = threading.Event()
        self._generation = 0
        self._pending_thumbnails = 0

        self.title = plain_label(f"Reading {self.folder}…")
        self.counts = QLabel()
        self.grid = _Grid()
        self.grid.decided.connect(self.decide)
        self.grid.currentItemChanged.connect(lambda *_: self._show_details(fill_form=True))
        self.message = plain_label("")

        self.details = plain_label("")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.new_seed = QCheckBox("Another seed")
        self.seed = SeedBox(random.randrange(2**31))
        self.own_words = QCheckBox("My expressive instruction for the last edit")
        self.expressive = QPlainTextEdit()
        self.expressive.setPlaceholderText("What the last edit should do, as MGIE would say it")
        self.expressive.setMaximumHeight(90)
        self.ask_button = QPushButton("Reject and re-render")
        self.ask_button.clicked.connect(self.ask_rerender)
        self.command = plain_label("")
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.command.setStyleSheet("font-family: monospace")
        copy_button = QPushButton("Copy the command")
        copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.text()))
        self.export_button = QPushButton("Export approved…")
        self.export_button.clicked.connect(self.choose_export_folder)
        reload_button = QPushButton("Reload")
        reload_button.setShortcut("F5")
        reload_button.clicked.connect(self.reload)

        side = QVBoxLayout()
        side.addWidget(self.details)
        side.addWidget(QLabel("Re-render this photo at the next batch run with:"))
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.new_seed)
        seed_row.addWidget(self.seed)
        side.addLayout(seed_row)
        side.addWidget(self.own_words)
        side.addWidget(self.expressive)
        side.addWidget(self.ask_button)
        side.addStretch(1)
        side.addWidget(QLabel("Run the batch again to make the re-renders:"))
        side.addWidget(self.command)
        side.addWidget(copy_button, 0, Qt.AlignmentFlag.AlignRight)
        side_panel = QWidget()
        side_panel.setLayout(side)
        side_panel.setFixedWidth(340)

        middle = QHBoxLayout()
        middle.addWidget(self.grid, 1)
        middle.addWidget(side_panel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(reload_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(
            QLabel("←↑→↓ move · A approve · R reject · U undecided · decisions are saved in review.json")
        )
        layout.addWidget(self.counts)
        layout.addLayout(middle, 1)
        layout.addLayout(buttons)
        app = QCoreApplication.instance()
        if app is not None:  # quitting with the window open: no thumbnail is worth waiting for
            app.aboutToQuit.connect(self._stop_reading)
        self.reload()

    # ---- reading the folder -------------------------------------------------------------------
    def reload(self) -> None:
        """Read the folder again (after a batch run), keeping the selected photo."""
        self._writes.drain()  # a decision just made is in review.json before it is read again
        self._generation += 1
        self._stop.set()  # the thumbnails of the last reading not started yet are not wanted now
        self._stop = threading.Event()
        generation, folder = self._generation, self.folder
        self._tasks.run(
            _read_folder,
            folder,
            on_done=lambda overview: self._show(overview, generation),
            on_error=lambda exc: self._failed_to_read(exc, generation),
        )

    def _failed_to_read(self, exc: Exception, generation: int) -> None:
        if generation == self._generation:
            self.title.setText(
                sentence(str(exc) if isinstance(exc, InputError) else f"cannot read {self.folder}")
            )
            self.saving_allowed = False

    def _show(self, overview: Overview, generation: int) -> None:
        if generation != self._generation:
            return
        selected = self._selected_name()
        self.overview = overview
        self.reviews = dict(overview.reviews)  # every photo's, those no longer in the results too
        self._photos = {photo.name: photo for photo in overview.photos}
        self.saving_allowed = not overview.review_problem
        self.title.setText(display_text(f"{overview.output_dir}: {len(overview.photos)} photo(s)"))
        self.message.setText(" ".join(sentence(p) for p in overview.problems))
        if overview.problems and not self.saving_allowed:
            self.message.setText(self.message.text() + " Decisions are not saved until it is moved away.")
        self.command.setText(overview.rerun_command())
        self.grid.clear()
        placeholder = QPixmap(self.grid.iconSize())
        placeholder.fill(QColor(235, 235, 235))
        for photo in overview.photos:
            item = QListWidgetItem(QIcon(placeholder), "")
            item.setData(Qt.ItemDataRole.UserRole, photo.name)
            self.grid.addItem(item)
            self._mark(item)
        self._pending_thumbnails = len(overview.photos)
        for row, photo in enumerate(overview.photos):
            self._tasks.run(
                _pair,
                photo,
                self._stop,
                on_done=lambda image, row=row: self._set_thumbnail(row, image, generation),
                on_error=lambda _exc, row=row: self._set_thumbnail(row, None, generation),
            )
        rows = [p.name for p in overview.photos]
        self.grid.setCurrentRow(rows.index(selected) if selected in rows else 0)
        self._count()
        self.grid.setFocus()
        self.loaded.emit()
        if not overview.photos:
            self.thumbnails_done.emit()

    def _set_thumbnail(self, row: int, image, generation: int) -> None:
        if generation != self._generation:
            return
        if image is not None:
            pixmap = QPixmap.fromImage(image)
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)  # untinted: the selection shows around it
            self.grid.item(row).setIcon(icon)
        self._pending_thumbnails -= 1
        if not self._pending_thumbnails:
            self.thumbnails_done.emit()

    # ---- decisions ----------------------------------------------------------------------------
    def _selected_name(self) -> str | None:
        item = self.grid.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _photo(self, name: str | None) -> BatchPhoto | None:
        return self._photos.get(name) if name is not None else None

    def review_of(self, name: str) -> PhotoReview:
        return self.reviews.get(name, PhotoReview())  # no entry: undecided

    def decide(self, decision: Decision) -> None:
        """The selected photo approved, rejected or undecided again (a re-render asked for goes)."""
        name = self._selected_name()
        if name is not None:
            self._set_review(name, PhotoReview(decision))

    def ask_rerender(self) -> None:
        """Reject the selected photo and ask the next batch run to render it again as the form says."""
        name = self._selected_name()
        if name is None:
            return
        try:
            request = Rerender(
                self.seed.value() if self.new_seed.isChecked() else None,
                self.expressive.toPlainText().strip() if self.own_words.isChecked() else "",
            )
        except InputError as exc:
            self.message.setText(sentence(str(exc)))
            return
        self._set_review(name, PhotoReview(Decision.REJECTED, request))
        self.grid.setFocus()  # the arrows and A/R go on from here

    def _set_review(self, name: str, review: PhotoReview) -> None:
        self.reviews[name] = review
        item = self.grid.currentItem()
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
            self._mark(item)
        self._count()
        self._show_details()
        self._save()

    def _save(self) -> None:
        if not self.saving_allowed:
            return
        self._writes.run(
            write_review,
            self.folder,
            dict(self.reviews),
            on_done=lambda _: None,
            on_error=lambda exc: self.message.setText(sentence(str(exc))),
        )

    def _mark(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        review = self.review_of(name)
        photo = self._photo(name)
        status = ""
        if photo is not None:  # failed, or rendered again since the last review: worth a look
            status = f" · {photo.no_after.upper()}" if not photo.done else " · re-rendered" * photo.rerendered
        item.setText(display_text(f"{name}{status}\n{mark_text(review)}", keep_newlines=True, width=120))
        item.setBackground(QBrush(MARKS[review.decision][1]))
        item.setToolTip(display_text(name))

    def _count(self) -> None:
        if self.overview is None:
            return
        shown = [self.review_of(photo.name) for photo in self.overview.photos]
        decisions = [review.decision for review in shown]
        asked = sum(1 for review in shown if review.rerender is not None)
        failed = sum(1 for photo in self.overview.photos if not photo.done)
        self.counts.setText(
            f"{len(self.overview.photos)} photo(s): {decisions.count(Decision.APPROVED)} approved, "
            f"{decisions.count(Decision.REJECTED)} rejected ({asked} to re-render), "
            f"{decisions.count(Decision.UNDECIDED)} undecided"
            + (f" · {failed} failed or not done" if failed else "")
        )

    def _show_details(self, fill_form: bool = False) -> None:
        photo = self._photo(self._selected_name())
        if photo is None or self.overview is None:
            self.details.setText("")
            return
        said = list(photo.expressive) + [""] * (len(self.overview.instructions) - len(photo.expressive))
        steps = [
            f"{i + 1}. {instruction}" + (f"\n    {photo.speaker(i)}: “{words}”" if words else "")
            for i, (instruction, words) in enumerate(zip(self.overview.instructions, said, strict=False))
        ] or [f"{photo.speaker(i)}: “{words}”" for i, words in enumerate(said)]
        status = photo.status.value + (f": {photo.error}" if photo.error else "")
        if photo.seeds:
            status += f" · seeds {', '.join(map(str, dict.fromkeys(photo.seeds)))}"
        review = self.review_of(photo.name)
        self.details.setText(
            display_text(
                "\n".join([photo.name, *steps, status, mark_text(review)]), keep_newlines=True, width=2000
            )
        )
        if fill_form:  # a decision made leaves what the person is typing alone
            self._fill_form(photo, review)

    def _fill_form(self, photo: BatchPhoto, review: PhotoReview) -> None:
        """The re-render asked for this photo, or MGIE's last words ready to correct (not to write
        from nothing), never another photo's."""
        request = review.rerender
        self.new_seed.setChecked(request is not None and request.seed is not None)
        # The seed asked for, or a fresh suggestion: not the one the photo has.
        self.seed.setValue(
            request.seed if request is not None and request.seed is not None else random.randrange(2**31)
        )
        self.own_words.setChecked(request is not None and bool(request.expressive))
        if request is not None and request.expressive:
            self.expressive.setPlainText(request.expressive)
        else:
            self.expressive.setPlainText(photo.expressive[-1] if photo.expressive else "")

    # ---- export -------------------------------------------------------------------------------
    def approved_outputs(self) -> list[Path]:
        if self.overview is None:
            return []
        return [
            photo.after
            for photo in self.overview.photos
            if photo.after is not None and self.review_of(photo.name).decision is Decision.APPROVED
        ]

    def choose_export_folder(self) -> None:
        outputs = self.approved_outputs()
        if not outputs:
            self.message.setText("No photo is approved yet: select one and press A.")
            return
        start = str(self.settings.value(EXPORT_KEY, "") or self.folder.parent)
        chosen = QFileDialog.getExistingDirectory(self, "Export the approved photos to", start)
        if chosen:
            self.settings.setValue(EXPORT_KEY, chosen)
            self.export_to(Path(chosen), replace=self._replace_clashes(outputs, Path(chosen)))

    def _replace_clashes(self, outputs: list[Path], folder: Path) -> bool:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        clashes = load("mgie_desktop.batch.approved", "clashes")(outputs, folder)
        if not clashes:
            return False
        answer = QMessageBox.question(
            self,
            "Export approved",
            display_text(
                f"{len(clashes)} of these files are already in {folder} ({', '.join(clashes[:3])}"
                f"{'…' if len(clashes) > 3 else ''}). Replace them? No keeps them as they are."
            ),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def export_to(self, folder: Path, replace: bool = False) -> None:
        """Copy the approved outputs into ``folder`` (files already there kept unless ``replace``)."""
        outputs = self.approved_outputs()
        self.export_button.setEnabled(False)
        self.message.setText(f"Copying {len(outputs)} photo(s) to {folder}…")

        def done(result) -> None:
            self.export_button.setEnabled(True)
            self.message.setText(sentence(display_text(result.summary(folder))))

        def failed(exc: Exception) -> None:
            self.export_button.setEnabled(True)
            self.message.setText(
                sentence(str(exc) if isinstance(exc, InputError) else f"cannot export: {exc}")
            )

        self._writes.run(_export, outputs, folder, replace, on_done=done, on_error=failed)

    # ---- closing ------------------------------------------------------------------------------
    def _stop_reading(self) -> None:
        self._stop.set()  # thumbnails not started yet are skipped

    def closeEvent(self, event) -> None:
        self._stop_reading()  # a save or export under way ends first
        self._tasks.shutdown()
        self._writes.shutdown()
        super().closeEvent(event)


# Run on pool threads: the modules that read photos and recipes load there, through the gate.
def _read_folder(folder: Path):
    return load("mgie_desktop.batch.overview", "overview_of_folder")(folder)


def _pair(photo: BatchPhoto, stop: threading.Event):
    if stop.is_set():
        return None
    pair_image = load("mgie_desktop.batch.thumbnails", "pair_image")
    return to_qimage(pair_image(photo.before, photo.after, photo.no_after, SIDE))


def _export(outputs: list[Path], folder: Path, replace: bool):
    return load("mgie_desktop.batch.approved", "export_approved")(outputs, folder, replace)
