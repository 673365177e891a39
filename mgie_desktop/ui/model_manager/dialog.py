"""``ModelManagerDialog``: the window's controller. It starts one ``Job`` at a time on the
``StoreWorker``, keeps the buttons in step with what runs, and routes the worker's reports
to the tree, the progress box, the summary line and the log.

Pause and Cancel set the job's ``threading.Event``: the download stops at the next chunk and
keeps its ``.part`` files, which the next Download (shown as "Resume") continues.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from mgie_desktop.core.display_text import sentence
from mgie_desktop.core.errors import MgieError
from mgie_desktop.store.download import RESERVE_BYTES
from mgie_desktop.store.http import DEFAULT_POLICY, RetryPolicy
from mgie_desktop.store.manifest import Manifest, load_manifest
from mgie_desktop.store.progress import FAILED, Progress, format_bytes
from mgie_desktop.store.verify import CORRUPT, MISSING, PARTIAL
from mgie_desktop.ui.model_manager.file_tree import ModelFileTree
from mgie_desktop.ui.model_manager.jobs import (
    CANCELLED,
    CHECKING_FILES,
    CONVERTING,
    DOWNLOAD,
    FAILED_JOB,
    FREE,
    FREEING,
    IMPORT,
    PLANNING,
    REFRESH,
    REPAIR,
    VERIFY,
    Job,
    JobOutcome,
    StoreSnapshot,
    VerifyReport,
)
from mgie_desktop.ui.model_manager.licence_panel import LicencePanel
from mgie_desktop.ui.model_manager.progress_panel import ProgressPanel
from mgie_desktop.ui.model_manager.status_text import describe_progress, escape_html, summary_html
from mgie_desktop.ui.model_manager.store_worker import StoreWorker


class ModelManagerDialog(QDialog):
    """Models › Manage: per-file state, licences, download/pause/resume, verify, repair, free."""

    installed = Signal()  # download (or repair, or import) and conversion finished: the bundle is ready
    models_dir_chosen = Signal(object)  # Path: the user picked another models folder
    _submit = Signal(object)  # Job, to the worker (queued)

    def __init__(
        self,
        models_dir: Path,
        manifest: str | Path | Manifest | None = None,
        parent=None,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        reserve_bytes: int = RESERVE_BYTES,
    ):
        super().__init__(parent)
        self.setWindowTitle("MGIE models")
        self.setModal(False)
        self.models_dir = Path(models_dir).expanduser()
        self.manifest: Manifest | None = None
        self.snapshot: StoreSnapshot | None = None
        self.verify_report: VerifyReport | None = None
        self.last_error = ""
        self._job: Job | None = None
        self._phase = ""
        self._stop_reason = ""
        self._close_pending: int | None = None

        manifest_error = ""
        self.full_manifest: Manifest | None = None
        try:
            self.full_manifest = load_manifest(manifest)  # a small JSON file
            self.manifest = self.full_manifest.choose()  # optional components only when ticked
        except MgieError as exc:
            manifest_error = str(exc)
        self._build()
        self.resize(860, 720)

        self.worker_thread = QThread(self)
        self.worker_thread.setObjectName("mgie-model-store")
        self.worker: StoreWorker | None = None
        if self.manifest is not None:
            self.worker = StoreWorker(self.manifest, self.models_dir, policy, reserve_bytes)
            self.worker.moveToThread(self.worker_thread)
            self._submit.connect(self.worker.run)
            self.worker.snapshot_ready.connect(self._on_snapshot)
            self.worker.progress.connect(self._on_progress)
            self.worker.phase.connect(self._on_phase)
            self.worker.log.connect(self._on_log)
            self.worker.job_done.connect(self._on_job_done)
        if manifest_error:
            self._show_error(manifest_error)
        self._update_buttons()

    # ---- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.where_label = QLabel()
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where_label.setWordWrap(True)
        self._show_where()
        folders = QHBoxLayout()
        folders.addWidget(self.where_label, 1)
        self.choose_dir_button = QPushButton("Choose models folder…")
        self.choose_dir_button.setToolTip("Keep the models in another folder (another disk, a shared drive)")
        self.import_button = QPushButton("Import from folder…")
        self.import_button.setToolTip(
            "Install from the reference's files already on this computer "
            "(apple/ml-mgie's layout), or add FLUX.2 [klein] from a copy of "
            "black-forest-labs/FLUX.2-klein-4B (the diffusers layout): no network needed"
        )
        for button, slot in (
            (self.choose_dir_button, self._choose_dir),
            (self.import_button, self._choose_import),
        ):
            button.setAutoDefault(False)
            button.clicked.connect(slot)
            folders.addWidget(button)
        layout.addLayout(folders)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { color: #c62828; font-weight: bold; }")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.tree = ModelFileTree()
        layout.addWidget(self.tree, 3)
        self.summary_label = QLabel("Reading the models directory…")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)

        if self.manifest is not None:
            self.tree.fill(self.manifest)
        self.plain_box = QCheckBox(
            "Also InstructPix2Pix's own model (optional, about 3.9 GB): to compare MGIE "
            "with plain InstructPix2Pix on your photos"
        )
        self.plain_box.setVisible(
            self.full_manifest is not None and "ip2p" in self.full_manifest.optional_ids
        )
        self.plain_box.toggled.connect(self._choose_optional)
        layout.addWidget(self.plain_box)
        self.klein_box = QCheckBox(self._klein_text())
        self.klein_box.setVisible(
            self.full_manifest is not None and "klein" in self.full_manifest.optional_ids
        )
        self.klein_box.toggled.connect(self._choose_optional)
        layout.addWidget(self.klein_box)
        self.licence_panel = LicencePanel(self.manifest, on_toggled=self._update_buttons)
        self.license_boxes = self.licence_panel.boxes
        layout.addWidget(self.licence_panel)

        self.progress_panel = panel = ProgressPanel()
        # The panel's widgets under the names the rest of the dialog (and the tests) use.
        self.file_label, self.file_bar = panel.file_label, panel.file_bar
        self.overall_label, self.overall_bar = panel.overall_label, panel.overall_bar
        layout.addWidget(panel)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.verify_button = QPushButton("Verify")
        self.repair_button = QPushButton("Repair")
        self.free_button = QPushButton("Free source files")
        self.refresh_button = QPushButton("Refresh")
        self.close_button = QPushButton("Close")
        self.download_button.setToolTip(
            "Download the files listed above (resumes partial downloads), "
            "then convert them into the app's bundle"
        )
        self.pause_button.setToolTip("Stop now; partial files are kept and Resume continues them")
        self.cancel_button.setToolTip("Stop now; partial files are kept (Download resumes them)")
        self.verify_button.setToolTip("Re-hash every file and list the bad ones")
        self.repair_button.setToolTip("Delete the bad files, download them again and convert")
        self.free_button.setToolTip(
            "Delete the downloaded source files: the converted bundle does not need them"
        )
        for button, slot in (
            (self.download_button, self.download),
            (self.pause_button, self.pause),
            (self.cancel_button, self.cancel),
            (self.verify_button, self.verify),
            (self.repair_button, self.repair),
            (self.free_button, self.free_sources),
            (self.refresh_button, self.refresh),
            (self.close_button, self.close),
        ):
            button.setAutoDefault(False)
            button.clicked.connect(slot)
            if button is self.refresh_button:
                buttons.addStretch(1)
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setPlaceholderText("Messages and errors appear here.")
        layout.addWidget(self.log_view, 2)

    # ---- public state ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def licences_accepted(self) -> bool:
        return self.licence_panel.accepted

    def file_states(self) -> dict[str, str]:
        """Manifest path -> installed | unverified | partial | missing | corrupt (last refresh)."""
        return {} if self.snapshot is None else {f.path: f.status for f in self.snapshot.files}

    # ---- actions (GUI thread) -------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        self._start(REFRESH)

    @Slot()
    def download(self) -> None:
        if not self.licences_accepted:
            self._show_error("Accept the licences above before downloading.")
            return
        self._start(DOWNLOAD)

    @Slot()
    def pause(self) -> None:
        self._stop("paused")

    @Slot()
    def cancel(self) -> None:
        self._stop("cancelled")

    @Slot()
    def verify(self) -> None:
        self._start(VERIFY)

    @Slot()
    def repair(self) -> None:
        if not self.licences_accepted:
            self._show_error("Accept the licences above before repairing (it downloads files again).")
            return
        self._start(REPAIR, repair=tuple(sorted(self._bad_paths())))

    @Slot()
    def free_sources(self) -> None:
        self._start(FREE)

    def import_from(self, folder: Path) -> bool:
        """Convert the reference's files in ``folder`` into the bundle, or, for a FLUX.2 [klein]
        folder (the diffusers layout), add that model to the installed bundle."""
        return self._start(IMPORT, source=str(folder))

    def use_models_dir(self, folder: Path) -> None:
        """Manage (and have the app use) the models in ``folder`` from now on."""
        if self._job is not None or self.worker is None:
            return
        self.models_dir = Path(folder).expanduser()
        self.worker.dest = self.models_dir
        self.snapshot, self.verify_report = None, None
        self._show_where()
        self.models_dir_chosen.emit(self.models_dir)
        self.refresh()

    def _choose_dir(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        folder = QFileDialog.getExistingDirectory(self, "Models folder", str(self.models_dir))
        if folder:
            self.use_models_dir(Path(folder))

    def _choose_import(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        folder = QFileDialog.getExistingDirectory(
            self, "Folder with the reference's files (LLaVA-7B-v1, mgie_7b, …) or with FLUX.2 [klein]"
        )
        if folder:
            self.import_from(Path(folder))

    def _show_where(self) -> None:
        self.where_label.setText(f"Models directory: <b>{escape_html(str(self.models_dir))}</b>")

    def shutdown(self) -> None:
        """Cancel whatever runs and join the worker thread (blocks until it stops; a conversion
        in progress cannot be interrupted). The main window calls this when it closes."""
        if self._job is not None:
            self._stop_reason = self._stop_reason or "closed"
            self._job.cancel.set()
        if self.worker_thread.isRunning():
            self.worker_thread.quit()
            self.worker_thread.wait()

    def _start(self, op: str, repair: tuple[str, ...] = (), source: str = "") -> bool:
        if self.worker is None or self._job is not None:
            return False
        if not self.worker_thread.isRunning():
            self.worker_thread.start()
        self._job = Job(op, threading.Event(), repair, source)
        self._phase, self._stop_reason = "", ""
        if op != REFRESH:
            self._clear_error()
            self.progress_panel.set_bars(None, None)
            self.file_label.setText(" ")
            self.overall_label.setText(
                {
                    DOWNLOAD: "Starting the download…",
                    REPAIR: "Starting the repair…",
                    VERIFY: "Verifying…",
                    FREE: "Deleting the source files…",
                    IMPORT: "Importing…",
                }[op]
            )
        self._update_buttons()
        self._submit.emit(self._job)
        return True

    def _stop(self, reason: str) -> None:
        if self._job is None or self._phase == CONVERTING:
            return
        self._stop_reason = reason
        self._job.cancel.set()
        self.overall_label.setText("Pausing…" if reason == "paused" else "Cancelling…")
        self._update_buttons()

    def _bad_paths(self) -> set[str]:
        bad = set()
        if self.verify_report is not None:
            bad |= {rel for rel, line in self.verify_report.bad if rel and not line.startswith("missing:")}
        if self.snapshot is not None:
            bad |= {f.path for f in self.snapshot.files if f.status == CORRUPT}
        return bad

    # ---- worker signals (GUI thread) ------------------------------------------------------------
    @Slot(object)
    def _on_snapshot(self, snap: StoreSnapshot) -> None:
        self.snapshot = snap
        self.tree.show_snapshot(snap, self.manifest)
        self._update_summary()
        self._update_buttons()

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        f = p.file
        shown = describe_progress(p)
        if f.message:  # only phase changes carry one ("resuming at …", "verified", the failure)
            self._on_log(f"{f.path}: {f.message}" if f.phase != FAILED else f"failed: {f.message}")
        self.file_label.setText(shown.file_text)
        if f.phase == FAILED:
            self.tree.mark_bad(f.path, shown.file_state, f.message)
        else:
            self.tree.set_file_state(f.path, shown.file_state)
        self.overall_label.setText(shown.overall_text)
        self.progress_panel.set_bars(shown.file_frac, shown.overall_frac)

    @Slot(str, str, int, int)
    def _on_phase(self, phase: str, text: str, done: int, total: int) -> None:
        self._phase = phase
        if phase == CHECKING_FILES:
            self.file_label.setText(text)
            self.overall_label.setText(f"Verifying: {done} of {total - 1 if total else '?'} files checked")
            self.progress_panel.set_bars(None, done / total if total else None)
        elif phase in (CONVERTING, PLANNING, FREEING):
            self.file_label.setText(text)
            self.progress_panel.show_busy()
            if phase == CONVERTING:
                self.overall_label.setText("Download complete; converting…")
                self._on_log(text)
        self._update_buttons()

    @Slot(str)
    def _on_log(self, text: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    @Slot(object)
    def _on_job_done(self, outcome: JobOutcome) -> None:
        self._job, self._phase = None, ""
        # job_done is the worker's last act for a job: the thread stops at once, so an idle
        # dialog never holds a running thread (it starts again with the next job).
        self.worker_thread.quit()
        self.worker_thread.wait()
        op = outcome.op
        if outcome.status == CANCELLED:
            reason = self._stop_reason or "cancelled"
            if op in (DOWNLOAD, REPAIR):
                text = (
                    "Paused: partial files are kept; press Resume to continue."
                    if reason == "paused"
                    else "Download cancelled: partial files are kept; Download resumes them."
                )
            else:
                text = "Verification cancelled." if op == VERIFY else f"{op.capitalize()} cancelled."
            self.overall_label.setText(text)
            self.file_label.setText(" ")
            self.progress_panel.set_bars(0.0, 0.0)
            self._on_log(text)
        elif outcome.status == FAILED_JOB:
            self.progress_panel.set_bars(0.0, 0.0)
            self.overall_label.setText("Failed: see the message above.")
            self._show_error(outcome.message, outcome.details)
        elif op in (DOWNLOAD, REPAIR, IMPORT):
            self.progress_panel.set_bars(1.0, 1.0)
            if outcome.result is None:
                self.overall_label.setText("The models are already installed.")
            else:
                self.overall_label.setText("Done: the models are installed and ready.")
                self.file_label.setText(" ")
                self.verify_report = None
                self.installed.emit()
        elif op == VERIFY:
            self._verified(outcome.result)
        elif op == FREE:
            self.progress_panel.set_bars(1.0, 1.0)
            self.file_label.setText(" ")
            self.overall_label.setText(f"Freed {format_bytes(outcome.result)} of source files.")
        self._update_summary()
        self._update_buttons()
        if self._close_pending is not None:
            result, self._close_pending = self._close_pending, None
            if outcome.status != FAILED_JOB:  # a failed conversion stays on screen with its error
                self.done(result)

    def _verified(self, report: VerifyReport) -> None:
        self.verify_report = report
        self.progress_panel.set_bars(1.0, 1.0)
        self.file_label.setText(" ")
        if report.ok:
            self.overall_label.setText("All files verify.")
            self._on_log("all files verify")
            return
        for rel, line in report.bad:
            if not line.startswith("missing:"):
                self.tree.mark_bad(rel, CORRUPT, line)
        lines = [line for _, line in report.bad] + list(report.bundle_problems)
        self.overall_label.setText(f"{len(lines)} problem(s) found: Repair downloads and converts again.")
        self._show_error(
            f"Verification found {len(lines)} problem(s):\n"
            + "\n".join(lines[:8])
            + (f"\n… and {len(lines) - 8} more (see below)" if len(lines) > 8 else ""),
            log=False,
        )

    # ---- display ----------------------------------------------------------------------------------
    def _show_error(self, message: str, details: str = "", log: bool = True) -> None:
        message = (
            message if "\n" in message else sentence(message)
        )  # a message as the CLI writes it: a sentence
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.show()
        if log:
            self._on_log(f"error: {message}")
        if details:
            self.log_view.appendPlainText(details.rstrip())

    def _clear_error(self) -> None:
        self.last_error = ""
        self.error_label.clear()
        self.error_label.hide()

    def _update_summary(self) -> None:
        if self.snapshot is None or self.manifest is None:
            return
        self.summary_label.setText(summary_html(self.snapshot, self.manifest, self.models_dir))

    @Slot()
    def _update_buttons(self) -> None:
        ok = self.manifest is not None
        idle = ok and self._job is None
        snap = self.snapshot
        installed = snap is not None and snap.bundle_installed
        partial = snap is not None and any(f.status == PARTIAL for f in snap.files)
        stoppable = self._job is not None and self._phase != CONVERTING and not self._job.cancel.is_set()
        downloading = stoppable and self._job.op in (DOWNLOAD, REPAIR)
        self.download_button.setText(
            "Installed"
            if installed and idle and not snap.lacks_optional
            else "Resume"
            if (partial or self._stop_reason == "paused")
            else "Download"
        )
        wanted = snap is not None and (not installed or snap.lacks_optional)
        self.download_button.setEnabled(idle and wanted and self.licences_accepted)
        self.plain_box.setEnabled(idle)
        self.klein_box.setEnabled(idle)
        self.pause_button.setEnabled(downloading)
        self.cancel_button.setEnabled(stoppable and self._job.op != REFRESH)
        present = snap is not None and (installed or any(f.status != MISSING for f in snap.files))
        self.verify_button.setEnabled(idle and present)
        repairable = bool(self._bad_paths()) or bool(
            self.verify_report and self.verify_report.bundle_problems
        )
        self.repair_button.setEnabled(idle and repairable and self.licences_accepted)
        self.free_button.setEnabled(idle and installed and bool(snap.sources_bytes))
        self.free_button.setText(
            f"Free source files ({format_bytes(snap.sources_bytes)})"
            if installed and snap.sources_bytes
            else "Free source files"
        )
        self.refresh_button.setEnabled(idle)
        self.import_button.setEnabled(idle)
        self.choose_dir_button.setEnabled(idle)
        for box in self.license_boxes:
            box.setEnabled(idle or (self._job is not None and self._job.op not in (DOWNLOAD, REPAIR)))

    def include_plain(self, on: bool = True) -> None:
        """Tick (or untick) InstructPix2Pix's own model: the window's Compare offers it this way."""
        self.plain_box.setChecked(on)

    def include_klein(self, on: bool = True) -> None:
        """Tick (or untick) FLUX.2 [klein], the optional second engine."""
        self.klein_box.setChecked(on)

    def _klein_text(self) -> str:
        size, licence = "about 16 GB", "Apache-2.0"
        if self.full_manifest is not None and "klein" in self.full_manifest.optional_ids:
            model = self.full_manifest.model("klein")
            size, licence = f"about {format_bytes(model.expected_size)}", model.license.name.split(" (")[0]
        return (
            f"Also FLUX.2 [klein] 4B, a second engine (optional, {size}; licence: {licence}): "
            "edits from your words at about a megapixel"
        )

    @Slot(bool)
    def _choose_optional(self, _on: bool = False) -> None:
        """The ticked optional components join the download: the tree, the licences to accept
        and what the worker fetches follow."""
        if self.full_manifest is None or self._job is not None:
            return
        chosen = tuple(
            mid for mid, box in (("ip2p", self.plain_box), ("klein", self.klein_box)) if box.isChecked()
        )
        self.manifest = self.full_manifest.choose(chosen)
        if self.worker is not None:
            self.worker.manifest = self.manifest  # idle: the worker reads it when the next job runs
        self.tree.fill(self.manifest)
        self.licence_panel.set_manifest(self.manifest)
        self._update_buttons()
        self.refresh()

    # ---- lifetime ---------------------------------------------------------------------------------
    def showEvent(self, event):  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._job is None:
            self.refresh()

    def done(self, result: int) -> None:  # close, Esc and the Close button all end here
        if self._job is not None and self._phase == CONVERTING:
            # The converter cannot be interrupted: close as soon as it finishes.
            self._close_pending = result
            self._on_log("the conversion cannot be interrupted; this window closes when it is done")
            return
        self.shutdown()
        super().done(result)
