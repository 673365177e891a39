"""The main window: canvas, history, edit panel, menus and status bar, wired to the worker."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QScrollArea

from mgie_desktop.ui.canvas import Canvas
from mgie_desktop.ui.edit_panel import EditPanel
from mgie_desktop.ui.history_panel import HistoryPanel
from mgie_desktop.ui.images import thumbnail, to_qimage
from mgie_desktop.ui.tasks import BackgroundTasks
from mgie_desktop.ui.worker import EditDone, EditJob, EngineWorker

if TYPE_CHECKING:  # Pillow, numpy and the history load with the first photo, after the window is up
    from mgie_desktop.core.history import History
    from mgie_desktop.core.imaging import Photo

APP_TITLE = "MGIE Desktop"
OPEN_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.heic *.heif);;All files (*)"
EXPORT_FILTER = "PNG (*.png);;JPEG (*.jpg);;WebP (*.webp);;TIFF (*.tif)"
COMPARE_KEY = Qt.Key.Key_Backslash  # hold to see the step before


class MainWindow(QMainWindow):
    start_loading = Signal()
    submit_job = Signal(object)

    def __init__(self, models_dir: Path, device: str = "auto", settings: QSettings | None = None):
        super().__init__()
        self.models_dir = models_dir
        self.settings = settings or QSettings()
        self.photo: Photo | None = None
        self.history: History | None = None
        self.modified = False
        self.model_state = "not loaded"
        self._job_ids = itertools.count(1)
        self._running: EditJob | None = None
        self._last_edit: EditJob | None = None
        self._comparing = False
        self.tasks = BackgroundTasks(self)

        self.canvas = Canvas()
        self.setCentralWidget(self.canvas)
        self.panel = EditPanel()
        self.history_panel = HistoryPanel()
        self._dock("History", self.history_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        self._dock("Edit", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self._status_labels()
        self._actions()
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        self._update_title()

        self.panel.apply_requested.connect(self.apply_edit)
        self.panel.rerender_requested.connect(self.rerender)
        self.panel.cancel_requested.connect(self.cancel_edit)
        self.history_panel.step_chosen.connect(self.go_to_step)

        # The engine lives on its own thread; start-up never waits for it.
        self.engine_thread = QThread(self)
        self.engine_thread.setObjectName("mgie-engine")
        self.worker = EngineWorker(models_dir, device)
        self.worker.moveToThread(self.engine_thread)
        self.engine_thread.finished.connect(self.worker.deleteLater)
        self.start_loading.connect(self.worker.load)
        self.submit_job.connect(self.worker.run)
        self.worker.state_changed.connect(self.on_model_state)
        self.worker.progress.connect(self.on_progress)
        self.worker.preview.connect(self.on_preview)
        self.worker.edit_finished.connect(self.on_edit_finished)
        self.worker.edit_failed.connect(self.on_edit_failed)
        self.worker.edit_cancelled.connect(self.on_edit_cancelled)
        self.engine_thread.start()

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
        for label in (self.zoom_label, self.memory_label, self.model_label):
            self.statusBar().addPermanentWidget(label)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.model_label.setText("Model: not loaded")

    def _actions(self) -> None:
        def act(menu, text, slot, *keys):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.triggered.connect(slot)
            menu.addAction(action)
            return action

        bar = self.menuBar()
        file = bar.addMenu("&File")
        act(file, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.export_action = act(file, "&Export…", self.export_dialog, "Ctrl+E", "Ctrl+Shift+S")
        file.addSeparator()
        act(file, "&Quit", self.close, "Ctrl+Q")
        edit = bar.addMenu("&Edit")
        self.undo_action = act(edit, "&Undo", self.undo, "Ctrl+Z")
        self.redo_action = act(edit, "&Redo", self.redo, "Ctrl+Shift+Z", "Ctrl+Y")
        edit.addSeparator()
        act(edit, "Apply edit", self.apply_edit, "Ctrl+Return")
        act(edit, "Cancel edit", self.cancel_edit, "Esc")
        view = bar.addMenu("&View")
        act(view, "&Fit to window", self.canvas.fit, "Ctrl+0")
        act(view, "&Actual size (100 %)", self.canvas.actual_size, "Ctrl+1")
        act(view, "Zoom &in", self.canvas.zoom_in, "Ctrl++", "Ctrl+=")
        act(view, "Zoom &out", self.canvas.zoom_out, "Ctrl+-")
        self._update_actions()

    # ---- files ----------------------------------------------------------------------------
    def showEvent(self, event):  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self.model_state == "not loaded":
            self.model_state = "starting"
            QTimer.singleShot(0, self.start_loading.emit)  # load after the window is on screen

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.settings.value("last_dir", ""), OPEN_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> None:
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.tasks.run(_load_photo, Path(path), on_done=self._opened, on_error=self._error)

    def _opened(self, photo: Photo) -> None:
        from mgie_desktop.core.history import History

        if self.history is not None:
            self.history.close()
        self.photo, self.history, self.modified = photo, History(), False
        root = self.history.start(photo.rgb)
        self.history_panel.set_thumbnail(root.id, thumbnail(photo.rgb))
        self.canvas.show_image(to_qimage(photo.rgb))
        self.panel.expressive.setText("")
        if photo.path:
            self.settings.setValue("last_dir", str(photo.path.parent))
        self.statusBar().showMessage(f"Opened {photo.path.name if photo.path else 'photo'} "
                                     f"({photo.rgb.width}×{photo.rgb.height})", 5000)
        self._refresh()
        self.panel.instruction.setFocus()

    def export_dialog(self) -> None:
        if self.history is None:
            return
        stem = self.photo.path.stem if self.photo and self.photo.path else "photo"
        start = str(Path(self.settings.value("last_dir", "")) / f"{stem}-edited.png")
        path, _ = QFileDialog.getSaveFileName(self, "Export", start, EXPORT_FILTER)
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        step = self.history.current
        text = {"mgie:instruction": step.instruction, "mgie:expressive_instruction": step.expressive_instruction,
                "mgie:settings": repr(step.params)} if not step.is_root else None
        image, photo = self.history.image(), self.photo
        self.statusBar().showMessage(f"Exporting {path.name}…")
        self.tasks.run(lambda: _save_photo(image, path, alpha=photo.alpha, icc_profile=photo.icc_profile,
                                          exif=photo.exif, text=text),
                       on_done=lambda _: self._exported(path), on_error=self._error)

    def _exported(self, path: Path) -> None:
        self.modified = False
        self._update_title()
        self.statusBar().showMessage(f"Exported {path}", 5000)

    # ---- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()

    # ---- editing ------------------------------------------------------------------------------
    @Slot()
    def apply_edit(self) -> None:
        text = self.panel.instruction.toPlainText().strip()
        if self.history is None:
            self.panel.show_notice("Open a photo first (File › Open, or drop one here).")
            return
        if not text:
            self.panel.show_notice("Type what the edit should do, then press Ctrl+Enter.")
            return
        if self.model_state != "ready":
            self.panel.show_notice(self._models_notice())
            return
        if self.panel.random_seed.isChecked():
            self.panel.roll_seed()
        self.panel.instruction.remember(text)
        self._submit(EditJob(next(self._job_ids), self.history.current.id, self.history.image(), text,
                             self.panel.params()))

    @Slot()
    def rerender(self) -> None:
        job = self._last_edit
        if job is None or self.model_state != "ready":
            return
        self._submit(EditJob(next(self._job_ids), job.source_step, self.history.image(job.source_step),
                             job.instruction, self.panel.params(), rerender=True))

    def _submit(self, job: EditJob) -> None:
        if self._running is not None:
            return
        self._running = job
        self.panel.show_notice("")
        self.panel.set_busy(True)
        self.submit_job.emit(job)

    @Slot()
    def cancel_edit(self) -> None:
        if self._running is not None:
            self.worker.cancel_event.set()
            self.panel.progress.setFormat("Cancelling…")

    @Slot(int, int, int, float)
    def on_progress(self, job_id: int, step: int, total: int, seconds_left: float) -> None:
        if self._running and job_id == self._running.job_id:
            self.panel.show_progress(step, total, seconds_left)

    @Slot(int, object)
    def on_preview(self, job_id: int, image) -> None:
        if self._running and job_id == self._running.job_id:
            self.canvas.show_image(image, keep_view=True)

    @Slot(object)
    def on_edit_finished(self, done: EditDone) -> None:
        job = done.job
        self._running, self._last_edit = None, job
        step = self.history.push(done.image, instruction=job.instruction, parent=job.source_step,
                                 expressive_instruction=done.expressive_instruction,
                                 params=asdict(job.params), timings=done.timings)
        self.history_panel.set_thumbnail(step.id, thumbnail(done.image))
        self.modified = True
        self.panel.expressive.setText(done.expressive_instruction or "(MGIE gave no description)")
        self.panel.set_busy(False)
        self.canvas.show_image(to_qimage(done.image), keep_view=True)
        self.statusBar().showMessage(f"Edit done in {done.timings.get('total_s', 0):.1f} s", 5000)
        self._refresh()

    @Slot(int, str, str)
    def on_edit_failed(self, job_id: int, message: str, details: str) -> None:
        self._running = None
        self.panel.set_busy(False, can_rerender=self._last_edit is not None)
        self._show_current()
        self._error_message(message, details)

    @Slot(int)
    def on_edit_cancelled(self, job_id: int) -> None:
        self._running = None
        self.panel.set_busy(False, can_rerender=self._last_edit is not None)
        self._show_current()
        self.statusBar().showMessage("Edit cancelled; nothing was changed", 5000)

    # ---- history ----------------------------------------------------------------------------
    @Slot(int)
    def go_to_step(self, step_id: int) -> None:
        if self.history is None or self._running is not None:
            return
        step = self.history.go_to(step_id)
        self.panel.expressive.setText(step.expressive_instruction)
        self._show_current()
        self._refresh()

    def undo(self) -> None:
        if self.history and self._running is None and self.history.undo():
            self._show_current()
            self._refresh()

    def redo(self) -> None:
        if self.history and self._running is None and self.history.redo():
            self._show_current()
            self._refresh()

    def _show_current(self) -> None:
        if self.history is not None:
            self.canvas.show_image(to_qimage(self.history.image()), keep_view=True)

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and self.history and self.history.can_undo:
            self._comparing = True
            self.canvas.show_image(to_qimage(self.history.image(self.history.current.parent)), keep_view=True)
            self.statusBar().showMessage("Before (release \\ to see after)")
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):  # noqa: N802
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and self._comparing:
            self._comparing = False
            self._show_current()
            self.statusBar().clearMessage()
            return
        super().keyReleaseEvent(event)

    # ---- state ------------------------------------------------------------------------------
    @Slot(str, str)
    def on_model_state(self, state: str, detail: str) -> None:
        self.model_state = state
        shown = {"ready": f"Model: ready ({detail})", "busy": "Model: busy", "loading": "Model: loading…",
                 "not installed": "Model: not installed", "error": "Model: failed to load"}[state]
        self.model_label.setText(shown)
        self.model_label.setToolTip(detail)
        if state in ("not installed", "error"):
            self.panel.show_notice(self._models_notice(detail))

    def _models_notice(self, detail: str = "") -> str:
        if self.model_state in ("loading", "starting", "busy"):
            return "The model is still loading; try again in a moment."
        return ("No MGIE models are installed yet. Install them with "
                "<code>mgie-desktop models import</code> (from the reference's files) "
                "or try tiny test models: <code>mgie-desktop models tiny DIR</code>, then start with "
                "<code>--models DIR</code>." + (f"<br><small>{detail}</small>" if detail else ""))

    def _refresh(self) -> None:
        if self.history is not None:
            self.history_panel.refresh(self.history)
        self._update_actions()
        self._update_title()

    def _update_actions(self) -> None:
        has = self.history is not None
        self.undo_action.setEnabled(has and self.history.can_undo)
        self.redo_action.setEnabled(has and self.history.can_redo)
        self.export_action.setEnabled(has)
        self.panel.rerender_button.setEnabled(self._last_edit is not None and self._running is None)

    def _update_title(self) -> None:
        name = self.photo.path.name if self.photo and self.photo.path else None
        self.setWindowTitle(f"{APP_TITLE} — {name}{' •' if self.modified else ''}" if name else APP_TITLE)

    def _show_memory(self) -> None:
        try:
            import psutil

            self.memory_label.setText(f"Memory: {psutil.Process().memory_info().rss / 2**30:.2f} GB")
        except Exception:  # psutil missing or the platform refuses: the label just stays empty
            self.memory_label.setText("")

    def _error(self, exc: Exception) -> None:
        self.statusBar().clearMessage()
        self._error_message(str(exc), "")

    def _error_message(self, message: str, details: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self.last_error = message

    # ---- shutdown ---------------------------------------------------------------------------
    def closeEvent(self, event):  # noqa: N802
        self.worker.cancel_event.set()  # a running edit stops within one step
        self.engine_thread.quit()
        self.engine_thread.wait()
        self.tasks.shutdown()
        if self.history is not None:
            self.history.close()
        super().closeEvent(event)


def _load_photo(path: Path) -> Photo:
    from mgie_desktop.core.imaging import load_photo

    return load_photo(path)


def _save_photo(image, path: Path, **kwargs) -> None:
    from mgie_desktop.core.imaging import save_photo

    save_photo(image, path, **kwargs)
