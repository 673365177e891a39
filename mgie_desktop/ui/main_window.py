"""The main window: builds the canvas, history, edit panel and status bar and the parts that do
the work, and wires them to the document model. It holds no state of the document itself:

``document_model.DocumentModel``    the open document, its edit, every change, as signals
``menus.build_menus``               the menu bar and its shortcuts
``document_actions.DocumentActions`` open, save session, export, autosave, crash recovery
``edit_runner.EditRunner``          the engine's thread and worker, edits sent and answered
``compare_view.CompareView``        which image the canvas shows (current, difference, before)
``adjustments.Adjustments``         strength of the current edit; crop, rotate and flip

Each part gets the document model, the engine and its own widgets, never the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea

from mgie_desktop import APP_NAME
from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import sentence
from mgie_desktop.ui.adjustments import Adjustments
from mgie_desktop.ui.canvas import Canvas
from mgie_desktop.ui.compare_view import CompareView
from mgie_desktop.ui.document_actions import DocumentActions
from mgie_desktop.ui.document_model import DocumentModel, JobState
from mgie_desktop.ui.edit_panel import EditPanel
from mgie_desktop.ui.edit_runner import EditRunner
from mgie_desktop.ui.engine_settings import EngineSettings
from mgie_desktop.ui.engine_state import EngineState
from mgie_desktop.ui.history_panel import HistoryPanel
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.mask_brush import MaskBrush
from mgie_desktop.ui.menus import build_menus
from mgie_desktop.ui.tasks import BackgroundTasks
from mgie_desktop.ui.watch_folder import WatchFolder

APP_TITLE = APP_NAME
BACKGROUND_START_MS = 150
MODELS_SETTING = "models_dir"  # the models folder chosen in the model manager
WATCH_GRACE_AT_EXIT_MS = 5000  # then a watcher still finishing a photo is stopped (the next watch redoes it)


class MainWindow(QMainWindow):
    def __init__(
        self,
        models_dir: Path,
        device: str = "auto",
        settings: QSettings | None = None,
        autosave_folder: Path | None = None,
        engine_options: dict | None = None,
    ):
        super().__init__()
        self.models_dir = models_dir
        self.settings = settings or QSettings()
        self.ask_to_save_on_quit = True  # off for logout and SIGTERM: the autosave keeps the work then
        self.document = DocumentModel(self)
        self.tasks = BackgroundTasks(self)

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
        # Its room kept for the vertical bar: a long text on one step must not narrow the panel.
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self._dock("Edit", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        # The panel goes in last: under the app's style sheet every move of a widget tree to a
        # new parent re-styles all of it, so it moves once rather than twice.
        scroll.setWidget(self.panel)
        self.mask_brush = MaskBrush(self.canvas, self.canvas)
        self.panel.add_tool(self.mask_brush.bar)

        # The engine lives on its own thread; start-up never waits for it. Its worker is made by
        # the background start, a moment after the window is shown (see showEvent).
        self.edits = EditRunner(
            self.document,
            self.panel,
            self.canvas,
            self.mask_brush,
            models_dir,
            device,
            engine_options or {},
        )
        self.engine_settings = EngineSettings(self.settings, self.edits, self.canvas)
        self.documents = DocumentActions(
            self.document,
            self.tasks,
            self.settings,
            self.panel.export_quality,
            lambda: self.edits.engine.models_identity(self.models_dir),
            self.canvas,
            autosave_folder,
        )
        self.watch_folder = WatchFolder(
            self.settings,
            lambda: self.models_dir,
            device,
            self.edits.pause_engine,
            self.edits.resume_engine,
            self.canvas,
        )
        self.watch_dock = self._dock(
            "Watched folder", self.watch_folder.panel, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.watch_dock.hide()  # until a folder is watched
        self.watch_folder.watch.started.connect(self.watch_dock.show)
        self.compare_view = CompareView(self.document, self.canvas, self.tasks)
        self.adjustments = Adjustments(self.document, self.panel, self.canvas, self.tasks)
        self._status_labels()
        self.menu_actions = build_menus(self)
        self.recent = self.documents.recent
        self.difference_action = self.compare_view.difference_action
        self._wire()
        self._update_actions()
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        self.update_title()

        self._background_start = QTimer(self, singleShot=True, interval=BACKGROUND_START_MS)
        self._background_start.timeout.connect(self.engine_settings.start)
        self._background_start.timeout.connect(self.documents.look_for_crashed_sessions)

        self._memory_timer = QTimer(self, interval=2000)
        self._memory_timer.timeout.connect(self._show_memory)
        self._memory_timer.start()

    # ---- construction -------------------------------------------------------------------
    def _wire(self) -> None:
        """Who follows what: the views follow the document model; the panel's buttons ask the parts."""
        document, panel = self.document, self.panel
        document.opened.connect(self._opened)
        document.thumbnail_changed.connect(self.history_panel.set_thumbnail)
        document.opened.connect(lambda _doc: self.history_panel.forget_thumbnails())
        document.current_changed.connect(panel.show_step)
        document.current_changed.connect(lambda step: self.mask_brush.offer(step.mask if step else ""))
        document.moved.connect(lambda _step: self.compare_view.show_current())
        document.changed.connect(self.refresh)
        document.modified_changed.connect(lambda _modified: self.update_title())
        document.job_changed.connect(self._job_changed)
        document.status.connect(self._show_status)
        document.failed.connect(self.show_error_message)
        document.closing.connect(lambda _doc: self.edits.forget_edits())
        self.edits.engine_label.connect(self._show_engine_label)
        self.edits.gpu_label.connect(self.gpu_label.setText)
        self.edits.edit_ended.connect(self.compare_view.show_current)

        panel.apply_requested.connect(self.edits.apply_edit)
        panel.rerender_requested.connect(self.edits.rerender)
        panel.variations_requested.connect(self.edits.variations)
        panel.compare_requested.connect(self.edits.compare_engines)
        panel.cancel_requested.connect(self.edits.cancel_edit)
        panel.notice.linkActivated.connect(self._notice_link)
        self.history_panel.step_chosen.connect(document.go_to)
        self.history_panel.compare_chosen.connect(self.compare_view.compare_with)

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
        if self.model_state is EngineState.NOT_LOADED:
            self.edits.model_state = EngineState.STARTING
            # Background imports (torch on the engine thread, Pillow for recovery) contend for
            # the GIL; starting them a moment later lets the first frames paint undisturbed.
            self._background_start.start()

    # ---- following the document model ---------------------------------------------------------
    @Slot(object)
    def _opened(self, doc) -> None:
        """Another document (or none) is open: a mask belongs to the photo it was painted on."""
        self.mask_brush.clear()
        self.update_title()
        if doc is not None:
            self.canvas.show_image(to_qimage(doc.history.image()))
            self.panel.instruction.setFocus()

    @Slot(object)
    def _job_changed(self, state: JobState) -> None:
        self.panel.set_busy(state is JobState.RUNNING)
        self.refresh()

    @Slot(str, int)
    def _show_status(self, text: str, milliseconds: int) -> None:
        if text:
            self.statusBar().showMessage(text, milliseconds)
        else:
            self.statusBar().clearMessage()

    @Slot(str, str)
    def _show_engine_label(self, text: str, detail: str) -> None:
        self.model_label.setText(text)
        self.model_label.setToolTip(detail)

    @property
    def model_state(self) -> EngineState:
        return self.edits.model_state

    def open_path(self, path: Path) -> None:
        self.documents.open_path(path)

    def undo(self) -> None:
        self.adjustments.commit_strength()  # a drag still settling is a change of its own: it goes first
        self.document.undo()

    def redo(self) -> None:
        self.adjustments.commit_strength()
        self.document.redo()

    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()

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
    def show_model_manager(self, with_plain: bool = False, with_klein: bool = False) -> None:
        """Models › Manage models…; ``with_plain`` ticks InstructPix2Pix's own model, ``with_klein``
        FLUX.2 [klein] (Compare asks for a second engine)."""
        ModelManagerDialog = load("mgie_desktop.ui.model_manager", "ModelManagerDialog")

        if getattr(self, "_model_manager", None) is None:
            self._model_manager = ModelManagerDialog(self.models_dir, parent=self)
            self._model_manager.installed.connect(self.on_models_installed)
            self._model_manager.models_dir_chosen.connect(self.use_models_dir)
        if with_plain:
            self._model_manager.include_plain()
        if with_klein:
            self._model_manager.include_klein()
        self._model_manager.show()
        self._model_manager.raise_()
        self._model_manager.activateWindow()

    @Slot(str)
    def _notice_link(self, link: str) -> None:
        if link == "#models":
            self.show_model_manager()
        elif link == "#ip2p":
            self.show_model_manager(with_plain=True)
        elif link == "#klein":
            self.show_model_manager(with_klein=True)
        elif link == "#load":
            self.on_models_installed()
        elif link == "#engine":
            self.engine_settings.choose()
        elif link == "#variations":
            self.edits.try_variations()
        elif link == "#stronger":
            self.edits.try_stronger()

    @Slot(object)
    def use_models_dir(self, folder: Path) -> None:
        """The models now live in ``folder``: remember it for the next start and load from it."""
        self.models_dir = self.edits.models_dir = Path(folder)
        self.settings.setValue(MODELS_SETTING, str(folder))
        self.on_models_installed()

    @Slot()
    def on_models_installed(self) -> None:
        self.edits.model_state = EngineState.STARTING
        self.panel.show_notice("")
        self.edits.start_engine()

    # ---- what the window shows --------------------------------------------------------------
    def refresh(self) -> None:
        history = self.document.history
        if history is not None:
            self.history_panel.refresh(history)
            self.adjustments.show_step()
        self._update_actions()
        self.update_title()

    def _update_actions(self) -> None:
        history, actions = self.document.history, self.menu_actions
        has = history is not None
        actions.undo.setEnabled(self.document.can_undo and not self.document.busy)
        actions.redo.setEnabled(self.document.can_redo and not self.document.busy)
        for action in (actions.export, actions.save, actions.save_as, *actions.image):
            action.setEnabled(has)
        self.panel.allow_rerender(has and history.current.is_render)

    def update_title(self) -> None:
        """The document's name; Qt adds the application's display name ("— MGIE Desktop") itself."""
        name = self.document.name
        self.setWindowTitle(f"{name}{' •' if self.document.modified else ''}" if name else APP_TITLE)

    def _show_memory(self) -> None:
        try:
            psutil = load("psutil")

            self.memory_label.setText(f"Memory: {psutil.Process().memory_info().rss / 2**30:.2f} GB")
        except Exception:  # psutil missing or the platform refuses: the label just stays empty
            self.memory_label.setText("")

    def show_error_message(self, message: str, details: str) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        message = sentence(message)  # written as the command line prints it; a dialog shows sentences
        box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self.last_error = message

    # ---- shutdown ---------------------------------------------------------------------------
    def quit_keeping_work(self) -> None:
        """Close without asking (logout, SIGTERM): unsaved work stays in the autosave, offered next time."""
        self.ask_to_save_on_quit = False
        self.close()

    def closeEvent(self, event):  # noqa: N802
        if self.document.modified and self.ask_to_save_on_quit:
            event.ignore()
            self.documents.ask_to_save("quitting", then=self.quit_keeping_work)
            return
        if getattr(self, "_model_manager", None) is not None:
            self._model_manager.shutdown()  # cancels a download and joins its thread
        self._background_start.stop()  # closed at once: no engine to start, no recovery to offer
        self.watch_folder.watch.stop()  # the photo under way is finished, or redone by the next watch
        self.edits.stop()
        self.hide()  # a part of the models cannot be interrupted mid-file: disappear at once, then join
        self.edits.join()
        self.watch_folder.watch.wait(WATCH_GRACE_AT_EXIT_MS)
        self.document.close()
        self.tasks.shutdown()
        self.documents.shutdown()
        super().closeEvent(event)
