"""The main window: builds the canvas, history, edit panel and status bar, owns the open
document, and coordinates the helpers that do the work:

``menus.build_menus``               the menu bar and its shortcuts
``document_actions.DocumentActions`` open, save session, export, autosave, crash recovery
``edit_runner.EditRunner``          the engine's thread and worker, edits sent and answered
``compare_view.CompareView``        which image the canvas shows (current, difference, before)
``adjustments.Adjustments``         strength of the current edit; crop, rotate and flip
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import MgieError
from mgie_desktop.core.logs import log, log_file_hint
from mgie_desktop.ui.adjustments import Adjustments
from mgie_desktop.ui.canvas import Canvas
from mgie_desktop.ui.compare_view import CompareView
from mgie_desktop.ui.document_actions import DocumentActions
from mgie_desktop.ui.edit_panel import EditPanel
from mgie_desktop.ui.edit_runner import EditRunner
from mgie_desktop.ui.engine_settings import EngineSettings
from mgie_desktop.ui.history_panel import HistoryPanel
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.mask_brush import MaskBrush
from mgie_desktop.ui.menus import build_menus
from mgie_desktop.ui.tasks import BackgroundTasks

if TYPE_CHECKING:  # Pillow, numpy and the history load with the first photo, after the window is up
    from mgie_desktop.core.document import Document
    from mgie_desktop.core.history import History

APP_TITLE = "MGIE Desktop"
BACKGROUND_START_MS = 150
MODELS_SETTING = "models_dir"  # the models folder chosen in the model manager


class MainWindow(QMainWindow):
    def __init__(self, models_dir: Path, device: str = "auto", settings: QSettings | None = None,
                 autosave_folder: Path | None = None, engine_options: dict | None = None):
        super().__init__()
        self.models_dir = models_dir
        self.settings = settings or QSettings()
        self.doc: Document | None = None
        self._documents = itertools.count(1)
        self.document_id = 0  # each opened document gets a new one; edits of an older one are dropped
        self.tasks = BackgroundTasks(self)
        self.documents = DocumentActions(self, autosave_folder)
        self.compare_view = CompareView(self)
        # The engine lives on its own thread; start-up never waits for it. Its worker is made by
        # the background start, a moment after the window is shown (see showEvent).
        self.edits = EditRunner(self, models_dir, device, engine_options or {})
        self.engine_settings = EngineSettings(self.settings, self.edits, self)

        self.canvas = Canvas()
        self.setCentralWidget(self.canvas)
        self.panel = EditPanel()
        self.history_panel = HistoryPanel()
        self._dock("History", self.history_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        # The panel takes the dock's width and wraps its text; it never scrolls sideways.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._dock("Edit", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        # The panel goes in last: under the app's style sheet every move of a widget tree to a
        # new parent re-styles all of it, so it moves once rather than twice.
        scroll.setWidget(self.panel)
        self.adjustments = Adjustments(self)
        self.mask_brush = MaskBrush(self.canvas, self)
        self.panel.add_tool(self.mask_brush.bar)
        self._status_labels()
        self.menu_actions = build_menus(self)
        self.recent = self.menu_actions.recent
        self.difference_action = self.menu_actions.difference
        self._update_actions()
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        self.update_title()

        self.panel.apply_requested.connect(self.apply_edit)
        self.panel.rerender_requested.connect(self.edits.rerender)
        self.panel.variations_requested.connect(self.edits.variations)
        self.panel.compare_requested.connect(self.edits.compare_plain)
        self.panel.cancel_requested.connect(self.edits.cancel_edit)
        self.panel.notice.linkActivated.connect(self._notice_link)
        self.history_panel.step_chosen.connect(self.go_to_step)

        self._background_start = QTimer(self, singleShot=True, interval=BACKGROUND_START_MS)
        self._background_start.timeout.connect(self.engine_settings.start)
        self._background_start.timeout.connect(self.documents.look_for_crashed_sessions)

        self._memory_timer = QTimer(self, interval=2000)
        self._memory_timer.timeout.connect(self._show_memory)
        self._memory_timer.start()

    # ---- construction -------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    def _status_labels(self) -> None:
        self.model_label, self.memory_label, self.zoom_label = QLabel(), QLabel(), QLabel()
        self.gpu_label = QLabel()
        for label in (self.zoom_label, self.memory_label, self.gpu_label, self.model_label):
            self.statusBar().addPermanentWidget(label)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.model_label.setText("Model: not loaded")

    def showEvent(self, event):  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self.model_state == "not loaded":
            self.edits.model_state = "starting"
            # Background imports (torch on the engine thread, Pillow for recovery) contend for
            # the GIL; starting them a moment later lets the first frames paint undisturbed.
            self._background_start.start()

    # ---- the helpers' state, under the names callers and tests use ---------------------------
    @property
    def history(self) -> History | None:
        return self.doc.history if self.doc else None

    @property
    def modified(self) -> bool:
        return bool(self.doc and self.doc.modified)

    @property
    def model_state(self) -> str:
        return self.edits.model_state

    @property
    def worker(self):
        return self.edits.worker

    @property
    def engine_thread(self):
        return self.edits.engine_thread

    @property
    def variations_picker(self):
        return self.edits.variations_picker

    @property
    def recovery_box(self):
        return self.documents.recovery_box

    @property
    def last_export(self) -> Path | None:
        return self.documents.last_export

    @property
    def showing_difference(self) -> bool:
        return self.compare_view.showing_difference

    def open_path(self, path: Path) -> None:
        self.documents.open_path(path)

    def save_session_to(self, path: Path) -> None:
        self.documents.save_session_to(path)

    def export_to(self, path: Path) -> None:
        self.documents.export_to(path)

    @Slot()
    def apply_edit(self) -> None:
        self.edits.apply_edit()

    # ---- the open document ----------------------------------------------------------------
    def show_document(self, doc: Document, thumbs: dict) -> None:
        """Make ``doc`` (just read on a file-work thread) the open document and show it."""
        if self.doc is not None:
            self._close_document()
        self.edits.forget_edits()
        self.doc = doc
        self.document_id = next(self._documents)
        self.mask_brush.clear()  # a mask belongs to the photo it was painted on
        for step_id, thumb in thumbs.items():
            self.history_panel.set_thumbnail(step_id, thumb)
        current = doc.history.image()
        self.canvas.show_image(to_qimage(current))
        self.panel.show_step_text(doc.history.current)
        self.statusBar().showMessage(f"Opened {doc.name} ({current.width}×{current.height})", 5000)
        self.refresh()
        self.documents.autosave()
        self.panel.instruction.setFocus()

    def _close_document(self) -> None:
        self.documents.close(self.doc)
        self.doc = None

    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()

    # ---- history ----------------------------------------------------------------------------
    # Moving in the history waits while an edit runs: its result joins the step it started from.
    @Slot(int)
    def go_to_step(self, step_id: int) -> None:
        if self.history is None or self.edits.running is not None:
            return
        self.history.go_to(step_id)
        self._moved()

    def undo(self) -> None:
        if self.history and self.edits.running is None and self.history.undo():
            self._moved()

    def redo(self) -> None:
        if self.history and self.edits.running is None and self.history.redo():
            self._moved()

    def _moved(self) -> None:
        """Another step is current: show it, with the settings it was made with."""
        step = self.history.current
        self.panel.show_step_text(step)
        if step.is_render:
            self.panel.load_params(step.params)
        self.compare_view.show_current()
        self.refresh()
        self.documents.autosave()

    @Slot()
    def escape(self) -> None:
        """Esc: leave the crop or the mask brush, else cancel the running edit."""
        if self.adjustments.cropping:
            self.adjustments.cancel_crop()
        elif self.mask_brush.active:
            self.mask_brush.set_active(False)
        else:
            self.edits.cancel_edit()

    def keyPressEvent(self, event):  # noqa: N802
        if self.adjustments.cropping and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.adjustments.apply_crop()
        elif not self.compare_view.key_press(event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event):  # noqa: N802
        if not self.compare_view.key_release(event):
            super().keyReleaseEvent(event)

    # ---- models -----------------------------------------------------------------------------
    def show_model_manager(self, with_plain: bool = False) -> None:
        """Models › Manage models…; ``with_plain`` ticks InstructPix2Pix's own model (Compare asks)."""
        ModelManagerDialog = load("mgie_desktop.ui.model_manager", "ModelManagerDialog")

        if getattr(self, "_model_manager", None) is None:
            self._model_manager = ModelManagerDialog(self.models_dir, parent=self)
            self._model_manager.installed.connect(self.on_models_installed)
            self._model_manager.models_dir_chosen.connect(self.use_models_dir)
        if with_plain:
            self._model_manager.include_plain()
        self._model_manager.show()
        self._model_manager.raise_()
        self._model_manager.activateWindow()

    @Slot(str)
    def _notice_link(self, link: str) -> None:
        if link == "#models":
            self.show_model_manager()
        elif link == "#ip2p":
            self.show_model_manager(with_plain=True)
        elif link == "#load":
            self.on_models_installed()
        elif link == "#engine":
            self.engine_settings.choose()

    @Slot(object)
    def use_models_dir(self, folder: Path) -> None:
        """The models now live in ``folder``: remember it for the next start and load from it."""
        self.models_dir = self.edits.models_dir = Path(folder)
        self.settings.setValue(MODELS_SETTING, str(folder))
        self.on_models_installed()

    @Slot()
    def on_models_installed(self) -> None:
        self.edits.model_state = "starting"
        self.panel.show_notice("")
        self.edits.start_engine()

    # ---- what the window shows --------------------------------------------------------------
    def refresh(self) -> None:
        if self.history is not None:
            self.history_panel.refresh(self.history)
            self.adjustments.show_step()
        self._update_actions()
        self.update_title()

    def _update_actions(self) -> None:
        has, actions = self.history is not None, self.menu_actions
        actions.undo.setEnabled(has and self.history.can_undo)
        actions.redo.setEnabled(has and self.history.can_redo)
        for action in (actions.export, actions.save, actions.save_as, *actions.image):
            action.setEnabled(has)
        self.panel.allow_rerender(has and self.history.current.is_render)

    def update_title(self) -> None:
        """The photo's name; Qt adds the application's display name ("— MGIE Desktop") itself."""
        name = self.doc.name if self.doc else None
        self.setWindowTitle(f"{name}{' •' if self.modified else ''}" if name else APP_TITLE)

    def _show_memory(self) -> None:
        try:
            psutil = load("psutil")

            self.memory_label.setText(f"Memory: {psutil.Process().memory_info().rss / 2**30:.2f} GB")
        except Exception:  # psutil missing or the platform refuses: the label just stays empty
            self.memory_label.setText("")

    def show_error(self, exc: Exception, about: str = "That did not work.") -> None:
        """A file-work task failed: say so, and keep the work that is open. Our own errors are
        written for people; anything else is a sentence about what failed (``about``), with the
        traceback in the log, never a Python message."""
        self.statusBar().clearMessage()
        if isinstance(exc, MgieError):
            self.show_error_message(str(exc), "")
            return
        log.error("%s", about, exc_info=exc)
        where = log_file_hint()
        self.show_error_message(f"{about} Something unexpected went wrong{where}.", "")

    def show_error_message(self, message: str, details: str) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self.last_error = message

    # ---- shutdown ---------------------------------------------------------------------------
    def closeEvent(self, event):  # noqa: N802
        if getattr(self, "_model_manager", None) is not None:
            self._model_manager.shutdown()  # cancels a download and joins its thread
        self._background_start.stop()  # closed at once: no engine to start, no recovery to offer
        self.edits.stop()
        self.hide()  # a part of the models cannot be interrupted mid-file: disappear at once, then join
        self.edits.join()
        if self.doc is not None:
            self._close_document()
        self.tasks.shutdown()
        self.documents.shutdown()
        super().closeEvent(event)
