"""The main window: canvas, history, edit panel, menus and status bar, wired to the worker."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea

from mgie_desktop.ui.canvas import Canvas
from mgie_desktop.ui.edit_panel import EditPanel
from mgie_desktop.ui.history_panel import HistoryPanel
from mgie_desktop.ui.images import thumbnail, to_qimage
from mgie_desktop.ui.recent import RecentFiles
from mgie_desktop.ui.tasks import BackgroundTasks

if TYPE_CHECKING:  # Pillow, numpy and the history load with the first photo, after the window is up
    from mgie_desktop.core.document import Document
    from mgie_desktop.core.history import History
    from mgie_desktop.ui.worker import EditDone, EditJob, EngineWorker

APP_TITLE = "MGIE Desktop"
OPEN_FILTER = ("Photos and sessions (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.heic *.heif *.mgie);;"
               "MGIE sessions (*.mgie);;All files (*)")
SESSION_FILTER = "MGIE session (*.mgie)"
BACKGROUND_START_MS = 150
EXPORT_FILTER = "PNG (*.png);;JPEG (*.jpg);;WebP (*.webp);;TIFF (*.tif)"
COMPARE_KEY = Qt.Key.Key_Backslash  # hold to see the step before


class MainWindow(QMainWindow):
    start_loading = Signal()
    submit_job = Signal(object)

    def __init__(self, models_dir: Path, device: str = "auto", settings: QSettings | None = None,
                 autosave_folder: Path | None = None, engine_options: dict | None = None):
        super().__init__()
        self.models_dir = models_dir
        self.settings = settings or QSettings()
        self.autosave_folder = autosave_folder
        self.doc: Document | None = None
        self._autosaver = None
        self.model_state = "not loaded"
        self._job_ids = itertools.count(1)
        self._running: EditJob | None = None
        self._last_edit: EditJob | None = None
        self._comparing = False
        self._documents = itertools.count(1)
        self._document_id = 0
        self.tasks = BackgroundTasks(self)
        self.autosaves = BackgroundTasks(self, workers=1)  # one at a time, in order

        self.canvas = Canvas()
        self.setCentralWidget(self.canvas)
        self.panel = EditPanel()
        self.history_panel = HistoryPanel()
        self._dock("History", self.history_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        self._dock("Edit", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        # The panel goes in last: under the app's style sheet every move of a widget tree to a
        # new parent re-styles all of it, so it moves once rather than twice.
        scroll.setWidget(self.panel)
        self._status_labels()
        self._actions()
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        self._update_title()

        self.panel.apply_requested.connect(self.apply_edit)
        self.panel.rerender_requested.connect(self.rerender)
        self.panel.variations_requested.connect(self.variations)
        self.panel.cancel_requested.connect(self.cancel_edit)
        self.panel.notice.linkActivated.connect(self._notice_link)
        self.history_panel.step_chosen.connect(self.go_to_step)

        # The engine lives on its own thread; start-up never waits for it. Its worker is made by
        # the background start, a moment after the window is shown (see showEvent).
        self.engine_thread = QThread(self)
        self.engine_thread.setObjectName("mgie-engine")
        self.worker: EngineWorker | None = None
        self._device, self._engine_options = device, engine_options or {}
        self._background_start = QTimer(self, singleShot=True, interval=BACKGROUND_START_MS)
        self._background_start.timeout.connect(self._start_engine)
        self._background_start.timeout.connect(self._look_for_crashed_sessions)

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
        self.recent = RecentFiles(self.settings, file.addMenu("Open &Recent"), self.open_path)
        self.save_action = act(file, "&Save Session", self.save_session, "Ctrl+S")
        self.save_as_action = act(file, "Save Session &As…", self.save_session_as, "Ctrl+Shift+S")
        self.export_action = act(file, "&Export Image…", self.export_dialog, "Ctrl+E")
        file.addSeparator()
        act(file, "&Quit", self.close, "Ctrl+Q")
        edit = bar.addMenu("&Edit")
        self.undo_action = act(edit, "&Undo", self.undo, "Ctrl+Z")
        self.redo_action = act(edit, "&Redo", self.redo, "Ctrl+Shift+Z", "Ctrl+Y")
        edit.addSeparator()
        act(edit, "Apply edit", self.apply_edit, "Ctrl+Return")
        act(edit, "Cancel edit", self.cancel_edit, "Esc")
        models = bar.addMenu("&Models")
        act(models, "&Manage models…", self.show_model_manager)
        view = bar.addMenu("&View")
        act(view, "&Fit to window", self.canvas.fit, "Ctrl+0")
        act(view, "&Actual size (100 %)", self.canvas.actual_size, "Ctrl+1")
        act(view, "Zoom &in", self.canvas.zoom_in, "Ctrl++", "Ctrl+=")
        act(view, "Zoom &out", self.canvas.zoom_out, "Ctrl+-")
        view.addSeparator()
        self.difference_action = act(view, "Show &difference from the step before", self.toggle_difference, "D")
        self.difference_action.setCheckable(True)
        self._update_actions()

    # ---- files ----------------------------------------------------------------------------
    @property
    def history(self) -> History | None:
        return self.doc.history if self.doc else None

    @property
    def modified(self) -> bool:
        return bool(self.doc and self.doc.modified)

    def showEvent(self, event):  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self.model_state == "not loaded":
            self.model_state = "starting"
            # Background imports (torch on the engine thread, Pillow for recovery) contend for
            # the GIL; starting them a moment later lets the first frames paint undisturbed.
            self._background_start.start()

    def open_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.settings.value("last_dir", ""), OPEN_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> None:
        path = Path(path)
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.tasks.run(_open_document, path, on_done=lambda opened: self._opened(*opened, path),
                       on_error=self._error)

    def _opened(self, doc: Document, thumbs: dict, path: Path | None = None) -> None:
        if self.doc is not None:
            self._close_document()
        self._forget_edits()
        self.doc = doc
        self._document_id = next(self._documents)
        for step_id, thumb in thumbs.items():
            self.history_panel.set_thumbnail(step_id, thumb)
        current = doc.history.image()
        self.canvas.show_image(to_qimage(current))
        self.panel.expressive.setText(doc.history.current.expressive_instruction)
        if path is not None:
            self.settings.setValue("last_dir", str(path.parent))
            self.recent.remember(path)
        self.statusBar().showMessage(f"Opened {doc.name} ({current.width}×{current.height})", 5000)
        self._refresh()
        self._autosave()
        self.panel.instruction.setFocus()

    def _close_document(self) -> None:
        # Saves and autosaves still reading this document's step images finish first.
        self.tasks.drain()
        self.autosaves.drain()
        if self._autosaver is not None:
            if self.doc.modified:
                self._autosaver.release()  # unsaved work stays on disk; the next start offers it
            else:
                self._autosaver.close()  # saved or untouched: nothing to recover
            self._autosaver = None
        self.doc.close()
        self.doc = None

    def _forget_edits(self) -> None:
        """A new document: a running edit, its variations and re-render belong to the old one."""
        if self._running is not None:
            self.worker.cancel_event.set()
            self._running = None
            self.panel.set_busy(False, can_rerender=False)
        self._last_edit = None
        picker = getattr(self, "variations_picker", None)
        if picker is not None and picker.isVisible():
            picker.reject()

    # ---- sessions and autosave --------------------------------------------------------------
    def save_session(self) -> None:
        if self.doc is None:
            return
        if self.doc.session_path is None:
            self.save_session_as()
        else:
            self.save_session_to(self.doc.session_path)

    def save_session_as(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        if self.doc is None:
            return
        start = str(Path(self.settings.value("last_dir", "")) / (Path(self.doc.name).stem + ".mgie"))
        path, _ = QFileDialog.getSaveFileName(self, "Save session", start, SESSION_FILTER)
        if path:
            self.save_session_to(Path(path).with_suffix(".mgie"))

    def save_session_to(self, path: Path) -> None:
        from mgie_desktop.core.document import save_document

        doc, revision = self.doc, self.doc.revision
        self.statusBar().showMessage(f"Saving {path.name}…")
        self.tasks.run(save_document, doc, path, on_done=lambda _: self._session_saved(doc, path, revision),
                       on_error=self._error)

    def _session_saved(self, doc: Document, path: Path, revision: int) -> None:
        doc.session_path = path
        doc.modified = doc.revision != revision  # an edit that landed during the save is not in it
        self.recent.remember(path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)

    def _autosave(self) -> None:
        """After every change: the autosave is complete on disk before the next edit can land."""
        from mgie_desktop.core.autosave import Autosaver

        if self.doc is None:
            return
        if self._autosaver is None:
            self._autosaver = Autosaver(self.autosave_folder)
        self.autosaves.run(self._autosaver.save, self.doc.history, self.doc.source,
                           on_done=lambda _: None, on_error=self._autosave_failed)

    def _autosave_failed(self, exc: Exception) -> None:
        self.statusBar().showMessage(f"Autosave failed: {exc}", 10000)

    def _look_for_crashed_sessions(self) -> None:
        from mgie_desktop.core.autosave import find_recoverable

        self.tasks.run(find_recoverable, self.autosave_folder, on_done=self._offer_recovery,
                       on_error=lambda exc: None)

    def _offer_recovery(self, found: list) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        usable = [r for r in found if not r.problem]
        if not usable:
            return
        latest = usable[0]
        box = QMessageBox(QMessageBox.Icon.Question, APP_TITLE,
                          f"MGIE Desktop did not close cleanly last time. Restore "
                          f"“{latest.source_name or 'the last session'}” with {latest.steps} step(s)?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard, self)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button: self._recovery_answer(latest, box.buttonRole(button)))
        box.show()
        self.recovery_box = box

    def _recovery_answer(self, recoverable, role) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        if role == QMessageBox.ButtonRole.YesRole:
            self.restore(recoverable)
        else:
            self.tasks.run(recoverable.discard, on_done=lambda _: None, on_error=self._error)

    def restore(self, recoverable) -> None:
        from mgie_desktop.core.document import Document

        def reopen():
            doc = Document.from_session(recoverable.open(), None)
            doc.modified = True
            return doc, _thumbnails(doc)

        def done(opened):
            self._opened(*opened)
            self.tasks.run(recoverable.discard, on_done=lambda _: None, on_error=self._error)

        self.tasks.run(reopen, on_done=done, on_error=self._error)


    def export_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        if self.history is None:
            return
        stem = Path(self.doc.name).stem
        start = str(Path(self.settings.value("last_dir", "")) / f"{stem}-edited.png")
        path, _ = QFileDialog.getSaveFileName(self, "Export", start, EXPORT_FILTER)
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        step = self.history.current
        text = {"mgie:instruction": step.instruction, "mgie:expressive_instruction": step.expressive_instruction,
                "mgie:settings": repr(step.params)} if not step.is_root else None
        photo = self.doc.photo_for_export(self.history.image())
        self.statusBar().showMessage(f"Exporting {path.name}…")
        quality = self.panel.export_quality.value()
        self.tasks.run(lambda: _save_photo(photo, path, text=text, quality=quality),
                       on_done=lambda _: self._exported(path), on_error=self._error)

    def _exported(self, path: Path) -> None:
        self.last_export = path
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
    def variations(self) -> None:
        self.apply_edit(variations=self.panel.variation_count.value())

    @Slot()
    def apply_edit(self, variations: int = 1) -> None:
        from mgie_desktop.ui.worker import EditJob

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
        self._submit(EditJob(next(self._job_ids), self._document_id, self.history.current.id, self.history.image(),
                             text, self.panel.params(), variations=variations))

    @Slot()
    def rerender(self) -> None:
        from mgie_desktop.ui.worker import EditJob

        job = self._last_edit
        if job is None or self.model_state != "ready":
            return
        self._submit(EditJob(next(self._job_ids), job.document, job.source_step, self.history.image(job.source_step),
                             job.instruction, self.panel.params(), rerender=True))

    def _submit(self, job: EditJob) -> None:
        if self._running is not None:
            return
        self._running = job
        self.panel.show_notice("")
        self.panel.set_busy(True)
        self.worker.cancel_event.clear()  # here, not in the worker: an Esc right after this still counts
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
        if job.document != self._document_id:  # finished after another photo was opened
            self.statusBar().showMessage("An edit of the previous photo finished and was discarded", 5000)
            return
        self._running, self._last_edit = None, job
        self.panel.set_busy(False)
        if len(done.images) > 1:
            self._pick_variation(done)
            return
        self._keep(done, 0)

    def _pick_variation(self, done: EditDone) -> None:
        from mgie_desktop.ui.variations import VariationsPicker

        picker = VariationsPicker(done.picks, done.seeds, done.job.instruction, self)
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.chosen.connect(lambda i: self._keep(done, i))
        picker.rejected.connect(self._show_current)  # closed without a pick: back from the preview
        picker.show()
        self.variations_picker = picker

    def _keep(self, done: EditDone, index: int) -> None:
        """Add variation ``index`` of a finished edit (0 for a single render) to the history."""
        job = done.job
        if job.document != self._document_id:
            return
        params = {**asdict(job.params), "seed": done.seeds[index]}
        step = self.history.push(done.images[index], instruction=job.instruction, parent=job.source_step,
                                 expressive_instruction=done.expressive_instruction,
                                 params=params, timings=done.timings)
        self.history_panel.set_thumbnail(step.id, done.thumbs[index])
        self.doc.touch()
        self.panel.expressive.setText(done.expressive_instruction or "(MGIE gave no description)")
        self.canvas.show_image(done.views[index], keep_view=True)
        self.statusBar().showMessage(f"Edit done in {done.timings.get('total_s', 0):.1f} s", 5000)
        self._refresh()
        self._autosave()

    @Slot(int, str, str)
    def on_edit_failed(self, job_id: int, message: str, details: str) -> None:
        if self._running is None or job_id != self._running.job_id:
            return  # a job of a document closed meanwhile
        self._running = None
        self.panel.set_busy(False, can_rerender=self._last_edit is not None)
        self._show_current()
        self._error_message(message, details)

    @Slot(int)
    def on_edit_cancelled(self, job_id: int) -> None:
        if self._running is None or job_id != self._running.job_id:
            return
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
        self._autosave()

    def undo(self) -> None:
        if self.history and self._running is None and self.history.undo():
            self._moved()

    def redo(self) -> None:
        if self.history and self._running is None and self.history.redo():
            self._moved()

    def _moved(self) -> None:
        self.panel.expressive.setText(self.history.current.expressive_instruction)
        self._show_current()
        self._refresh()
        self._autosave()

    def _show_current(self) -> None:
        """Show the current step. Decoding a step evicted from the cache (0.7 s for 24 MP) and
        converting it happen on a file-work thread; the canvas updates when it arrives."""
        if self.history is None:
            return
        history, step = self.history, self.history.current
        if self.difference_action.isChecked() and history.can_undo:
            self.tasks.run(lambda: _difference(history.image(step.parent), history.image(step.id)),
                           on_done=self._show_difference, on_error=self._error)
            return
        self.tasks.run(lambda: to_qimage(history.image(step.id)),
                       on_done=lambda image: self._show_step(history, step.id, image), on_error=self._error)

    def _show_step(self, history, step_id: int, image) -> None:
        if history is self.history and history.current.id == step_id and not self._comparing:
            self.canvas.show_image(image, keep_view=True)

    def toggle_difference(self) -> None:
        self._show_current()
        if self.difference_action.isChecked():
            self.statusBar().showMessage("Difference view: bright where the last edit changed pixels (D to leave)")
        else:
            self.statusBar().clearMessage()

    def _show_difference(self, image) -> None:
        if self.difference_action.isChecked():
            self.canvas.show_image(image, keep_view=True)
            self.showing_difference = True

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and self.history and self.history.can_undo:
            # \ shows the step before; Shift+\ the original photo.
            original = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            before = self.history.lineage(self.history.current.id)[0] if original else self.history.step(
                self.history.current.parent)
            self._comparing = True
            history = self.history
            self.tasks.run(lambda: to_qimage(history.image(before.id)), on_done=self._show_compared,
                           on_error=self._error)  # an evicted 24 MP step decodes off the GUI thread
            self.statusBar().showMessage(f"{'Original' if original else 'Before'} (release \\ to see after)")
            return
        super().keyPressEvent(event)

    def _show_compared(self, image) -> None:
        if self._comparing:
            self.canvas.show_image(image, keep_view=True)

    def keyReleaseEvent(self, event):  # noqa: N802
        if event.key() == COMPARE_KEY and not event.isAutoRepeat() and self._comparing:
            self._comparing = False
            self._show_current()
            self.statusBar().clearMessage()
            return
        super().keyReleaseEvent(event)

    # ---- models -----------------------------------------------------------------------------
    def show_model_manager(self) -> None:
        from mgie_desktop.ui.model_manager import ModelManagerDialog

        if getattr(self, "_model_manager", None) is None:
            self._model_manager = ModelManagerDialog(self.models_dir, parent=self)
            self._model_manager.installed.connect(self.on_models_installed)
        self._model_manager.show()
        self._model_manager.raise_()
        self._model_manager.activateWindow()

    def _start_engine(self) -> None:
        """Make the engine's worker on its thread (first time only) and have it load the models."""
        if self.worker is None:
            from mgie_desktop.ui.worker import EngineWorker

            self.worker = EngineWorker(self.models_dir, self._device, **self._engine_options)
            self.worker.moveToThread(self.engine_thread)
            self.engine_thread.finished.connect(self.worker.deleteLater)
            self.start_loading.connect(self.worker.load)
            self.submit_job.connect(self.worker.run)
            self.worker.state_changed.connect(self.on_model_state)
            self.worker.memory_report.connect(self.gpu_label.setText)
            self.worker.progress.connect(self.on_progress)
            self.worker.preview.connect(self.on_preview)
            self.worker.edit_finished.connect(self.on_edit_finished)
            self.worker.edit_failed.connect(self.on_edit_failed)
            self.worker.edit_cancelled.connect(self.on_edit_cancelled)
            self.engine_thread.start()
        self.start_loading.emit()

    @Slot(str)
    def _notice_link(self, link: str) -> None:
        if link == "#models":
            self.show_model_manager()

    @Slot()
    def on_models_installed(self) -> None:
        self.model_state = "starting"
        self.panel.show_notice("")
        self._start_engine()

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
        return ("No MGIE models are installed yet. <a href=\"#models\">Download the models…</a> "
                "(about 18 GB), or import the reference's files with "
                "<code>mgie-desktop models import</code>." + (f"<br><small>{detail}</small>" if detail else ""))

    def _refresh(self) -> None:
        if self.history is not None:
            self.history_panel.refresh(self.history)
        self._update_actions()
        self._update_title()

    def _update_actions(self) -> None:
        has = self.history is not None
        self.undo_action.setEnabled(has and self.history.can_undo)
        self.redo_action.setEnabled(has and self.history.can_redo)
        for action in (self.export_action, self.save_action, self.save_as_action):
            action.setEnabled(has)
        self.panel.rerender_button.setEnabled(self._last_edit is not None and self._running is None)

    def _update_title(self) -> None:
        name = self.doc.name if self.doc else None
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
        if self.worker is not None:
            self.worker.cancel_event.set()  # a running edit stops within one step
            self.worker.stop_event.set()    # a load stops after the part it is reading
        self.engine_thread.quit()
        self.hide()  # a part of the models cannot be interrupted mid-file: disappear at once, then join
        self.engine_thread.wait()
        if self.doc is not None:
            self._close_document()
        self.tasks.shutdown()
        self.autosaves.shutdown()
        super().closeEvent(event)


def _open_document(path: Path) -> tuple[Document, dict]:
    """On a file-work thread: read the document, its thumbnails and its current image."""
    from mgie_desktop.core.document import open_document

    doc = open_document(path)
    return doc, _thumbnails(doc)


def _thumbnails(doc: Document) -> dict:
    thumbs = {step.id: thumbnail(doc.history.image(step.id)) for step in doc.history.steps}
    doc.history.image()  # the current image, decoded and cached for the canvas
    return thumbs


def _save_photo(image, path: Path, **kwargs) -> None:
    from mgie_desktop.core.imaging import save_photo

    save_photo(image, path, **kwargs)


def _difference(before, after):
    from mgie_desktop.core.compare import difference_image

    return to_qimage(difference_image(before, after))
