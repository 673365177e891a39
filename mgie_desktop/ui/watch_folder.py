"""File › Watch Folder…: ``mgie-desktop batch RECIPE IN OUT --watch`` run from the window, its
queue and each result shown as it lands.

The watcher is the command line's own (batch/watch.py), run as a child process that reports
one JSON event a line: the window reads them and never waits on it. It loads the models
itself; while it watches, this computer's models in the window are let go (two copies would
not fit beside each other), and they load again when the watch stops."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.logs import log
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.tasks import BackgroundTasks

STOP_GRACE_MS = 30_000  # a photo under way finishes first; past this the watcher is stopped at once
LAST_WORDS = 20  # lines of the watcher's own output kept, to say why it stopped
THUMB_SIDE = 56  # as the history's


class WatchEvent(Enum):
    """What the watcher says, one JSON object a line (batch/watch.py)."""

    WATCHING = "watching"
    LANDED = "landed"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WatchSettings:
    recipe: Path
    input_dir: Path
    output_dir: Path
    settle: float  # seconds a photo's size must hold before it is read (batch/watch.py)
    move_done: bool = False  # originals into IN/done/ and IN/failed/


def watch_arguments(settings: WatchSettings, models_dir: Path, device: str) -> list[str]:
    """The command line's arguments for this watch (after the program and ``-m mgie_desktop``)."""
    arguments = [
        "batch",
        str(settings.recipe),
        str(settings.input_dir),
        str(settings.output_dir),
        "--watch",
        "--json",
        "--settle",
        f"{settings.settle:g}",
        "--models",
        str(models_dir),
        "--device",
        device,
    ]
    return [*arguments, "--move-done"] if settings.move_done else arguments


def program() -> tuple[str, list[str]]:
    """How to run the command line: the installed app's console program (on Windows the windowed
    one has no output to read), else Python runs it."""
    if getattr(sys, "frozen", False):
        own = Path(sys.executable)
        console = own.with_name(f"mgie-desktop-cli{own.suffix}")
        return str(console if console.is_file() else own), []
    return sys.executable, ["-m", "mgie_desktop"]


class FolderWatch(QObject):
    """The watcher process: ``start``, ``stop``, and what it says as signals."""

    event = Signal(object, dict)  # a WatchEvent, and its JSON object
    started = Signal()
    ended = Signal(str)  # why it ended, for people ("" when it was asked to stop)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self._pending = b""
        self._last_words: list[str] = []
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, settings: WatchSettings, models_dir: Path, device: str) -> None:
        if self.process is not None:
            return
        process = QProcess(self)
        name, prefix = program()
        process.setProgram(name)
        process.setArguments([*prefix, *watch_arguments(settings, models_dir, device)])
        process.readyReadStandardOutput.connect(self._read_events)
        process.readyReadStandardError.connect(self._read_words)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._failed_to_start)
        self.process, self._pending, self._last_words, self._stopping = process, b"", [], False
        process.start()
        self.started.emit()

    def stop(self) -> None:
        """The photo under way is saved first (SIGTERM, as Ctrl+C); asked again, it stops at once."""
        process = self.process
        if process is None:
            return
        if self._stopping:
            process.kill()
            return
        self._stopping = True
        process.terminate()
        process.waitForFinished(0)  # returns at once: the answer comes as ``finished``

    def wait(self, ms: int = STOP_GRACE_MS) -> None:
        """At exit only: give the watcher its grace, then stop it."""
        if self.process is not None and not self.process.waitForFinished(ms):
            self.process.kill()
            self.process.waitForFinished(5000)

    def _read_events(self) -> None:
        assert self.process is not None
        self._pending += bytes(self.process.readAllStandardOutput().data())
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            try:
                data = json.loads(line)
                kind = WatchEvent(data["event"])
            except (ValueError, KeyError, TypeError):
                log.info("watch: %s", line.decode("utf-8", "replace")[:300])
                continue
            self.event.emit(kind, data)

    def _read_words(self) -> None:
        assert self.process is not None
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                log.info("watch: %s", line)
                self._last_words = [*self._last_words, line.strip()][-LAST_WORDS:]

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error is QProcess.ProcessError.FailedToStart:
            self._end(
                f"the watcher could not start ({self.process.errorString() if self.process else error})"
            )

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if self.process is None:
            return
        self._read_words()
        if self._stopping:
            why = ""
        elif status is QProcess.ExitStatus.CrashExit:  # killed from outside, or out of memory
            why = "the watcher ended unexpectedly (stopped from outside, or out of memory?)"
        elif code != 0:
            why = self._last_words[-1] if self._last_words else f"exit status {code}"
        else:
            why = ""
        self._end(why)

    def _end(self, why: str) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.deleteLater()
        self.ended.emit(display_text(why, width=300))


class WatchPanel(QWidget):
    """The watch as it goes: what is watched, each photo's state, Stop."""

    STATES = {
        WatchEvent.LANDED: "⋯ editing",
        WatchEvent.DONE: "✓ done",
        WatchEvent.FAILED: "✗ failed",
        WatchEvent.SKIPPED: "– already done",
    }

    def __init__(self, watch: FolderWatch, parent: QWidget | None = None):
        super().__init__(parent)
        self.watch = watch
        self.heading = QLabel("Not watching")
        self.heading.setWordWrap(True)
        self.photos = QListWidget()
        self.photos.setWordWrap(True)
        self.photos.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.thumbnails = BackgroundTasks(self, workers=1)  # each result, small, read off the GUI thread
        self.stop_button = QPushButton("Stop Watching")
        self.stop_button.clicked.connect(watch.stop)
        self.stop_button.setEnabled(False)
        self.review_button = QPushButton("Review Results…")  # the contact sheet of the results folder
        self.review_button.setEnabled(False)
        self.counts = {kind: 0 for kind in (WatchEvent.DONE, WatchEvent.FAILED, WatchEvent.SKIPPED)}
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.photos, 1)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.review_button)
        self._rows: dict[str, QListWidgetItem] = {}
        watch.event.connect(self.show_event)
        watch.ended.connect(self.show_end)

    def begin(self, settings: WatchSettings) -> None:
        self.photos.clear()
        self._rows.clear()
        self.counts = dict.fromkeys(self.counts, 0)
        self.settings = settings
        self.heading.setText(f"Loading the models to watch {settings.input_dir}…")
        self.stop_button.setEnabled(True)
        self.stop_button.setText("Stop Watching")

    def show_event(self, kind: WatchEvent, data: dict) -> None:
        if kind is WatchEvent.WATCHING:
            self.heading.setText(
                f"Watching {display_text(str(self.settings.input_dir))}\n"
                f"results in {display_text(str(self.settings.output_dir))}"
            )
            return
        if kind is WatchEvent.STOPPED or kind not in self.STATES:
            return
        name = display_text(str(data.get("photo", "")), width=80)
        if kind in self.counts:
            self.counts[kind] += 1
            self.review_button.setEnabled(True)
        text = f"{self.STATES[kind]}  {name}"
        if kind is WatchEvent.DONE:
            said = data.get("expressive_instructions") or []
            if said:
                text += f"\n“{display_text(str(said[-1]), width=160)}”"
        elif kind is WatchEvent.FAILED:
            text += f"\n{display_text(str(data.get('error', '')), width=200)}"
        row = self._rows.get(name)
        if row is None:
            row = QListWidgetItem(text)
            self._rows[name] = row
            self.photos.insertItem(0, row)  # the newest on top
        row.setText(text)
        if data.get("output"):
            row.setToolTip(str(data["output"]))
            row.setData(Qt.ItemDataRole.UserRole, str(data["output"]))
        if kind is WatchEvent.DONE and data.get("output"):
            output = Path(str(data["output"]))
            self.thumbnails.run(
                lambda: to_qimage(_thumbnail(output)),
                on_done=lambda image, row=row: row.setIcon(QIcon(QPixmap.fromImage(image))),
                on_error=lambda exc: log.info("watch: no thumbnail of %s (%s)", output, exc),
            )
        self.stop_button.setText(
            f"Stop Watching ({self.counts[WatchEvent.DONE]} done, {self.counts[WatchEvent.FAILED]} failed)"
        )

    def show_end(self, why: str) -> None:
        self.stop_button.setEnabled(False)
        self.heading.setText("Stopped watching" + (f": {why}" if why else ""))


def _thumbnail(path: Path):
    """On a file-work thread: the result, small (batch/thumbnails.py: allow-listed formats only)."""
    return load("mgie_desktop.batch.thumbnails", "thumbnail")(path, (THUMB_SIDE, THUMB_SIDE))


class WatchFolder:
    """File › Watch Folder…: asks what to watch, runs the watcher, keeps the panel current, and
    lets the window's models go while it watches (``pause_engine``/``resume_engine``)."""

    def __init__(
        self,
        settings: QSettings,
        models_dir: Callable[[], Path],
        device: str,
        pause_engine: Callable[[], None],
        resume_engine: Callable[[], None],
        panel_parent: QWidget,
    ):
        self.settings, self.models_dir, self.device = settings, models_dir, device
        self.pause_engine, self.resume_engine = pause_engine, resume_engine
        self.watch = FolderWatch(panel_parent)
        self.panel = WatchPanel(self.watch, panel_parent)
        self.watch.ended.connect(lambda _why: self.resume_engine())
        self.panel.review_button.clicked.connect(self.review)
        self.review_window: QWidget | None = None

    def choose(self) -> None:
        """Ask what to watch, then start (or, while watching, just show the panel)."""
        if self.watch.running:
            self.panel.show()
            return
        WatchFolderDialog = load("mgie_desktop.ui.watch_dialog", "WatchFolderDialog")  # when first used

        dialog = WatchFolderDialog(self.settings, self.panel.parentWidget())
        if dialog.exec() == QDialog.DialogCode.Accepted and (chosen := dialog.chosen()) is not None:
            self.start(chosen)

    def review(self) -> None:
        """The results so far as a contact sheet, to approve or reject (ui/contact_sheet.py)."""
        ContactSheet = load(
            "mgie_desktop.ui.contact_sheet", "ContactSheet"
        )  # it reads batch/: not at start-up

        self.review_window = ContactSheet(self.panel.settings.output_dir, self.settings, self.panel)
        self.review_window.show()

    def start(self, chosen: WatchSettings) -> None:
        self.panel.begin(chosen)
        self.panel.show()
        self.pause_engine()
        self.watch.start(chosen, self.models_dir(), self.device)
