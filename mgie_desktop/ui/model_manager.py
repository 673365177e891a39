"""The model manager: see which model files are installed, accept the licences, download
(pause, cancel, resume), convert into the app's bundle, verify, repair, free the sources.

All store work runs on one ``StoreWorker`` (a QObject on its own QThread): status refresh
(it stats the files), planning, downloading, hashing, conversion (the converter imports
torch; it is imported inside the worker's method, never on the GUI thread) and deleting.
The GUI thread only sends ``Job`` records by a queued signal and gets frozen records back
through signals connected to slots of this dialog. Pause and Cancel set the job's
``threading.Event``: the download stops at the next chunk and keeps its ``.part`` files,
which the next Download (shown as "Resume") continues.
"""

from __future__ import annotations

import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from mgie_desktop.core.errors import EditCancelled, MgieError
from mgie_desktop.store.download import RESERVE_BYTES
from mgie_desktop.store.hashing import check_cancel
from mgie_desktop.store.http import DEFAULT_POLICY, RetryPolicy
from mgie_desktop.store.manifest import Manifest, load_manifest
from mgie_desktop.store.progress import (
    DONE,
    DOWNLOADING,
    FAILED,
    SKIPPED,
    VERIFYING,
    Progress,
    format_bytes,
    format_seconds,
)
from mgie_desktop.store.verify import CORRUPT, INSTALLED, MISSING, PARTIAL, UNVERIFIED, FileStatus

# Jobs the worker runs, one at a time.
REFRESH, DOWNLOAD, VERIFY, REPAIR, FREE = "refresh", "download", "verify", "repair", "free"
# Outcomes of a job.
OK, FAILED_JOB, CANCELLED = "ok", "failed", "cancelled"
# Phases the worker reports while a job runs.
PLANNING, TRANSFER, CONVERTING, CHECKING_FILES, FREEING = "planning", "downloading", "converting", "verifying", "freeing"

_BAR_STEPS = 1000
_STATE_COLOURS = {INSTALLED: "#2e7d32", UNVERIFIED: "#8d6e00", PARTIAL: "#1565c0", MISSING: "#757575",
                  CORRUPT: "#c62828"}


@dataclass(frozen=True)
class Job:
    op: str                          # REFRESH | DOWNLOAD | VERIFY | REPAIR | FREE
    cancel: threading.Event          # set from the GUI thread (Pause, Cancel, closing)
    repair: tuple[str, ...] = ()     # REPAIR: manifest paths to delete before downloading again


@dataclass(frozen=True)
class StoreSnapshot:
    """The models directory as the worker last saw it (no hashing)."""

    files: tuple[FileStatus, ...]
    bundle_installed: bool
    bundle_detail: str               # why the bundle is not installed
    free_bytes: int | None           # free space on the models directory's disk
    free_where: str
    sources_bytes: int               # what "Free source files" would give back

    @property
    def by_path(self) -> dict[str, FileStatus]:
        return {f.path: f for f in self.files}

    @property
    def sources_freed(self) -> bool:
        return self.bundle_installed and all(f.status == MISSING for f in self.files)

    @property
    def need_bytes(self) -> int | None:
        """Bytes still to download (None when a size is unknown); 0 once the sources are freed."""
        if self.sources_freed:
            return 0
        need = 0
        for f in self.files:
            if f.status in (INSTALLED, UNVERIFIED):
                continue
            if f.expected_size is None:
                return None
            need += max(0, f.expected_size - (f.bytes_on_disk if f.status == PARTIAL else 0))
        return need


@dataclass(frozen=True)
class VerifyReport:
    bad: tuple[tuple[str, str], ...]     # (manifest path, what is wrong) for each bad source file
    bundle_problems: tuple[str, ...]     # what is wrong with the converted bundle

    @property
    def ok(self) -> bool:
        return not self.bad and not self.bundle_problems


@dataclass(frozen=True)
class JobOutcome:
    op: str
    status: str                      # OK | FAILED_JOB | CANCELLED
    message: str = ""
    details: str = ""
    result: object = None            # DOWNLOAD/REPAIR: the bundle inventory (None: nothing to do);
                                     # VERIFY: a VerifyReport; FREE: bytes freed


class StoreWorker(QObject):
    """Runs ``Job``s on its thread; reports through signals only (never touches widgets)."""

    snapshot_ready = Signal(object)      # StoreSnapshot
    progress = Signal(object)            # store.progress.Progress
    phase = Signal(str, str, int, int)   # phase, text, done, total (total 0: unknown)
    log = Signal(str)
    job_done = Signal(object)            # JobOutcome, always last for each job

    def __init__(self, manifest: Manifest, models_dir: Path, policy: RetryPolicy = DEFAULT_POLICY,
                 reserve_bytes: int = RESERVE_BYTES):
        super().__init__()
        self.manifest, self.dest = manifest, Path(models_dir)
        self.policy, self.reserve_bytes = policy, reserve_bytes

    @Slot(object)
    def run(self, job: Job) -> None:
        try:
            result = getattr(self, f"_{job.op}")(job)
            outcome = JobOutcome(job.op, OK, result=result)
        except EditCancelled as exc:
            outcome = JobOutcome(job.op, CANCELLED, str(exc))
        except MgieError as exc:
            outcome = JobOutcome(job.op, FAILED_JOB, str(exc))
        except Exception as exc:  # the dialog stays up and says why
            outcome = JobOutcome(job.op, FAILED_JOB, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            self.snapshot_ready.emit(self.snapshot())
        except Exception as exc:  # e.g. a manifest path that resolves outside the directory
            message = f"could not read the models directory {self.dest}: {exc}"
            if outcome.status == OK:
                outcome = JobOutcome(job.op, FAILED_JOB, message)
            else:
                self.log.emit(message)
        self.job_done.emit(outcome)

    def snapshot(self) -> StoreSnapshot:
        from mgie_desktop.engine.inventory import check_installed
        from mgie_desktop.store.install import sources_size
        from mgie_desktop.store.verify import statuses

        files = tuple(statuses(self.manifest, self.dest))
        try:
            check_installed(self.dest)
            installed, detail = True, ""
        except MgieError as exc:
            installed, detail = False, str(exc)
        anchor = _existing_ancestor(self.dest)
        try:
            free = shutil.disk_usage(anchor).free
        except OSError:
            free = None
        return StoreSnapshot(files, installed, detail, free, str(anchor), sources_size(self.manifest, self.dest))

    # -- jobs (worker thread) ------------------------------------------------------------------

    def _refresh(self, job: Job) -> None:
        return None  # run() sends the snapshot after every job

    def _download(self, job: Job) -> dict | None:
        from mgie_desktop.store.download import Downloader

        if job.op == DOWNLOAD and self.snapshot().sources_freed:
            self.log.emit(f"the models are already installed in {self.dest / 'bundle'}; nothing to do")
            return None
        downloader = Downloader(self.manifest, self.dest, progress=self.progress.emit, cancel=job.cancel,
                                policy=self.policy, reserve_bytes=self.reserve_bytes)
        self.phase.emit(PLANNING, "Checking what is already there…", 0, 0)
        plan = downloader.plan()
        unknown = f" (+{plan.unknown_sizes} of unknown size)" if plan.unknown_sizes else ""
        self.log.emit(f"{len(plan.todo)} of {len(plan.files)} files to fetch or check: "
                      f"{format_bytes(plan.need_bytes)}{unknown} to download into {self.dest}")
        self.phase.emit(TRANSFER, "Downloading…", 0, 0)
        result = downloader.run(plan)
        self.log.emit(f"sources complete: {len(result.downloaded)} downloaded, {len(result.reused)} from the "
                      f"Hugging Face cache, {len(result.verified) + len(result.skipped)} already present "
                      f"({format_bytes(result.bytes)} transferred)")
        check_cancel(job.cancel)
        self.phase.emit(CONVERTING, "Converting into the app's bundle (this cannot be paused)…", 0, 0)
        from mgie_desktop.store.install import convert_sources  # imports torch: worker thread only

        inventory = convert_sources(self.dest, log=self.log.emit)
        self.log.emit(f"models ready in {self.dest / 'bundle'} ({len(inventory['files'])} files)")
        return inventory

    def _repair(self, job: Job) -> dict | None:
        from mgie_desktop.store.manifest import target_path
        from mgie_desktop.store.state import StoreState

        state = StoreState(self.dest)
        for rel in job.repair:
            check_cancel(job.cancel)
            target = target_path(self.dest, rel)
            if target.is_file() or target.is_symlink():
                target.unlink()
                self.log.emit(f"removed the bad file {rel}")
            state.drop(rel)
        return self._download(job)

    def _verify(self, job: Job) -> VerifyReport:
        from mgie_desktop.engine.inventory import INVENTORY, bundle_path, problems
        from mgie_desktop.store.verify import verify_files

        files = self.manifest.files
        count = 0

        def on_file(rel: str) -> None:
            nonlocal count
            count += 1
            self.phase.emit(CHECKING_FILES, f"Verifying {rel}", count - 1, len(files) + 1)

        lines = verify_files(self.manifest, self.dest, cancel=job.cancel, on_file=on_file)
        snap = self.snapshot()
        bad = []
        for line in lines:
            rel = _line_path(line, [f.path for f in files])
            if line.startswith("missing:") and snap.bundle_installed:
                continue  # freed after conversion: not a problem
            bad.append((rel or "", line))
        bundle_problems: list[str] = []
        if (bundle_path(self.dest) / INVENTORY).is_file():
            check_cancel(job.cancel, "verification")
            self.phase.emit(CHECKING_FILES, "Verifying the converted bundle", len(files), len(files) + 1)
            bundle_problems = [f"bundle: {p}" for p in problems(self.dest, full_hash=True)]
        for _, line in bad:
            self.log.emit(line)
        for line in bundle_problems:
            self.log.emit(line)
        return VerifyReport(tuple(bad), tuple(bundle_problems))

    def _free(self, job: Job) -> int:
        from mgie_desktop.store.install import free_sources

        self.phase.emit(FREEING, "Deleting the source files…", 0, 0)
        freed = free_sources(self.manifest, self.dest)
        self.log.emit(f"freed {format_bytes(freed)} of source files")
        return freed


class ModelManagerDialog(QDialog):
    """Models › Manage: per-file state, licences, download/pause/resume, verify, repair, free."""

    installed = Signal()          # download (or repair) and conversion finished: the bundle is ready
    _submit = Signal(object)      # Job, to the worker (queued)

    def __init__(self, models_dir: Path, manifest: str | Path | Manifest | None = None, parent=None, *,
                 policy: RetryPolicy = DEFAULT_POLICY, reserve_bytes: int = RESERVE_BYTES):
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
        self._items: dict[str, QTreeWidgetItem] = {}
        self._model_items: dict[str, QTreeWidgetItem] = {}
        self.license_boxes: list[QCheckBox] = []

        manifest_error = ""
        try:
            self.manifest = load_manifest(manifest)  # a small JSON file
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
        where = QLabel(f"Models directory: <b>{_html(str(self.models_dir))}</b>")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(where)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { color: #c62828; font-weight: bold; }")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model / file", "State", "Size", "On disk", "Detail"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.tree, 3)
        self.summary_label = QLabel("Reading the models directory…")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)

        licences = QGroupBox("Licences")
        grid = QGridLayout(licences)
        if self.manifest is not None:
            self._fill_tree()
            for row, (lic, names) in enumerate(self.manifest.licenses()):
                box = QCheckBox(f"I accept the {lic.name} licence")
                box.setToolTip(f"covers: {', '.join(names)}")
                box.toggled.connect(self._update_buttons)
                link = QLabel(f'<a href="{_html(lic.url)}">{_html(lic.url)}</a> — covers {_html(", ".join(names))}')
                link.setOpenExternalLinks(True)
                link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
                link.setWordWrap(True)
                grid.addWidget(box, row, 0)
                grid.addWidget(link, row, 1)
                self.license_boxes.append(box)
        layout.addWidget(licences)

        progress = QGroupBox("Progress")
        pl = QVBoxLayout(progress)
        self.file_label, self.file_bar = QLabel(" "), QProgressBar()
        self.overall_label, self.overall_bar = QLabel(" "), QProgressBar()
        for label, bar in ((self.file_label, self.file_bar), (self.overall_label, self.overall_bar)):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            bar.setRange(0, _BAR_STEPS)
            bar.setValue(0)
            bar.setTextVisible(False)
            pl.addWidget(label)
            pl.addWidget(bar)
        layout.addWidget(progress)

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
        self.download_button.setToolTip("Download the files listed above (resumes partial downloads), "
                                        "then convert them into the app's bundle")
        self.pause_button.setToolTip("Stop now; partial files are kept and Resume continues them")
        self.cancel_button.setToolTip("Stop now; partial files are kept (Download resumes them)")
        self.verify_button.setToolTip("Re-hash every file and list the bad ones")
        self.repair_button.setToolTip("Delete the bad files, download them again and convert")
        self.free_button.setToolTip("Delete the downloaded source files: the converted bundle does not need them")
        for button, slot in ((self.download_button, self.download), (self.pause_button, self.pause),
                             (self.cancel_button, self.cancel), (self.verify_button, self.verify),
                             (self.repair_button, self.repair), (self.free_button, self.free_sources),
                             (self.refresh_button, self.refresh), (self.close_button, self.close)):
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

    def _fill_tree(self) -> None:
        for model in self.manifest.models:
            sizes = [f.size for f in model.files]
            size = format_bytes(sum(sizes)) if None not in sizes else f"≥ {format_bytes(model.known_size)}"
            top = QTreeWidgetItem([model.name, "…", size, "", f"{model.license.name}"])
            top.setToolTip(0, model.id + (f"\n{model.revision_note}" if model.revision_note else ""))
            self.tree.addTopLevelItem(top)
            self._model_items[model.id] = top
            for entry in model.files:
                item = QTreeWidgetItem([entry.path, "…", format_bytes(entry.size), "", ""])
                item.setToolTip(0, entry.source.describe())
                top.addChild(item)
                self._items[entry.path] = item
            top.setExpanded(True)

    # ---- public state ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def licences_accepted(self) -> bool:
        return bool(self.license_boxes) and all(box.isChecked() for box in self.license_boxes)

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

    def shutdown(self) -> None:
        """Cancel whatever runs and join the worker thread (blocks until it stops; a conversion
        in progress cannot be interrupted). The main window calls this when it closes."""
        if self._job is not None:
            self._stop_reason = self._stop_reason or "closed"
            self._job.cancel.set()
        if self.worker_thread.isRunning():
            self.worker_thread.quit()
            self.worker_thread.wait()

    def _start(self, op: str, repair: tuple[str, ...] = ()) -> bool:
        if self.worker is None or self._job is not None:
            return False
        if not self.worker_thread.isRunning():
            self.worker_thread.start()
        self._job = Job(op, threading.Event(), repair)
        self._phase, self._stop_reason = "", ""
        if op != REFRESH:
            self._clear_error()
            self._set_bars(None, None)
            self.file_label.setText(" ")
            self.overall_label.setText({DOWNLOAD: "Starting the download…", REPAIR: "Starting the repair…",
                                        VERIFY: "Verifying…", FREE: "Deleting the source files…"}[op])
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
        by_path = snap.by_path
        for rel, item in self._items.items():
            st = by_path.get(rel)
            if st is None:
                continue
            shown = "freed" if snap.sources_freed else st.status
            item.setText(1, shown)
            item.setForeground(1, _brush(_STATE_COLOURS.get(st.status, "#000000")))
            item.setText(3, format_bytes(st.bytes_on_disk) if st.bytes_on_disk else "")
            item.setText(4, "not needed after conversion" if snap.sources_freed else st.detail)
        for model in self.manifest.models:
            states = [by_path[f.path].status for f in model.files if f.path in by_path]
            top = self._model_items[model.id]
            top.setText(1, "installed (sources freed)" if snap.sources_freed else _model_state(states))
            top.setText(3, format_bytes(sum(by_path[f.path].bytes_on_disk for f in model.files if f.path in by_path)))
        self._update_summary()
        self._update_buttons()

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        f = p.file
        item = self._items.get(f.path)
        if f.phase == DOWNLOADING:
            pct = f" {100 * f.done / f.total:.0f} %" if f.total else ""
            text = (f"[{p.index}/{p.files_total}] {f.path}: {format_bytes(f.done)} of {format_bytes(f.total)} · "
                    f"{format_bytes(f.speed)}/s · {format_seconds(f.eta)} left")
            state = f"downloading{pct}"
        elif f.phase == VERIFYING:
            text = f"[{p.index}/{p.files_total}] {f.path}: checking {format_bytes(f.done)} of {format_bytes(f.total)}"
            state = "verifying"
        else:
            text = f"[{p.index}/{p.files_total}] {f.path}: {f.phase}" + (f" — {f.message}" if f.message else "")
            state = {DONE: INSTALLED, SKIPPED: INSTALLED, FAILED: "failed"}.get(f.phase, f.phase)
        if f.message:  # only phase changes carry one ("resuming at …", "verified", the failure)
            self._on_log(f"{f.path}: {f.message}" if f.phase != FAILED else f"failed: {f.message}")
        self.file_label.setText(text)
        if item is not None:
            item.setText(1, state)
            if f.phase == FAILED:
                item.setForeground(1, _brush(_STATE_COLOURS[CORRUPT]))
                item.setText(4, f.message)
        file_frac = 1.0 if f.phase in (DONE, SKIPPED) else (f.done / f.total if f.total else None)
        overall = (f"All files: {format_bytes(p.done)} of {format_bytes(p.total)} · {format_bytes(p.speed)}/s · "
                   f"{format_seconds(p.eta)} left · file {p.index} of {p.files_total}")
        self.overall_label.setText(overall)
        self._set_bars(file_frac, p.fraction if p.total else (p.index - 1) / max(1, p.files_total))

    @Slot(str, str, int, int)
    def _on_phase(self, phase: str, text: str, done: int, total: int) -> None:
        self._phase = phase
        if phase == CHECKING_FILES:
            self.file_label.setText(text)
            self.overall_label.setText(f"Verifying: {done} of {total - 1 if total else '?'} files checked")
            self._set_bars(None, done / total if total else None)
        elif phase in (CONVERTING, PLANNING, FREEING):
            self.file_label.setText(text)
            self.file_bar.setRange(0, 0)  # busy indicator
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
                text = ("Paused: partial files are kept; press Resume to continue." if reason == "paused" else
                        "Download cancelled: partial files are kept; Download resumes them.")
            else:
                text = "Verification cancelled." if op == VERIFY else f"{op.capitalize()} cancelled."
            self.overall_label.setText(text)
            self.file_label.setText(" ")
            self._set_bars(0.0, 0.0)
            self._on_log(text)
        elif outcome.status == FAILED_JOB:
            self._set_bars(0.0, 0.0)
            self.overall_label.setText("Failed: see the message above.")
            self._show_error(outcome.message, outcome.details)
        elif op in (DOWNLOAD, REPAIR):
            self._set_bars(1.0, 1.0)
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
            self._set_bars(1.0, 1.0)
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
        self._set_bars(1.0, 1.0)
        self.file_label.setText(" ")
        if report.ok:
            self.overall_label.setText("All files verify.")
            self._on_log("all files verify")
            return
        for rel, line in report.bad:
            item = self._items.get(rel)
            if item is not None and not line.startswith("missing:"):
                item.setText(1, CORRUPT)
                item.setForeground(1, _brush(_STATE_COLOURS[CORRUPT]))
                item.setText(4, line)
        lines = [line for _, line in report.bad] + list(report.bundle_problems)
        self.overall_label.setText(f"{len(lines)} problem(s) found: Repair downloads and converts again.")
        self._show_error(f"Verification found {len(lines)} problem(s):\n" + "\n".join(lines[:8])
                         + (f"\n… and {len(lines) - 8} more (see below)" if len(lines) > 8 else ""), log=False)

    # ---- display ----------------------------------------------------------------------------------
    def _show_error(self, message: str, details: str = "", log: bool = True) -> None:
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

    def _set_bars(self, file_frac: float | None, overall_frac: float | None) -> None:
        for bar, frac in ((self.file_bar, file_frac), (self.overall_bar, overall_frac)):
            if bar.maximum() == 0:
                bar.setRange(0, _BAR_STEPS)
            bar.setValue(0 if frac is None else int(max(0.0, min(1.0, frac)) * _BAR_STEPS))

    def _update_summary(self) -> None:
        snap = self.snapshot
        if snap is None or self.manifest is None:
            return
        sizes = [f.size for f in self.manifest.files]
        everything = format_bytes(sum(sizes)) if None not in sizes else "?"
        if snap.bundle_installed:
            bundle = f"installed in {_html(str(self.models_dir / 'bundle'))}"
        else:
            bundle = "not installed"
        need = snap.need_bytes
        parts = [f"Bundle: <b>{bundle}</b>",
                 f"To download: <b>{format_bytes(need)}</b> of {everything} in all"]
        if snap.free_bytes is not None:
            short = need is not None and need > 0 and need > snap.free_bytes
            free = f"Free space: {format_bytes(snap.free_bytes)} on {_html(snap.free_where)}"
            parts.append(f'<span style="color:#c62828"><b>{free} — not enough</b></span>' if short else free)
        if snap.sources_bytes and snap.bundle_installed:
            parts.append(f"Source files: {format_bytes(snap.sources_bytes)} (can be freed)")
        self.summary_label.setText(" · ".join(parts))

    @Slot()
    def _update_buttons(self) -> None:
        ok = self.manifest is not None
        idle = ok and self._job is None
        snap = self.snapshot
        installed = snap is not None and snap.bundle_installed
        partial = snap is not None and any(f.status == PARTIAL for f in snap.files)
        stoppable = self._job is not None and self._phase != CONVERTING and not self._job.cancel.is_set()
        downloading = stoppable and self._job.op in (DOWNLOAD, REPAIR)
        self.download_button.setText("Installed" if installed and idle else
                                     "Resume" if (partial or self._stop_reason == "paused") else "Download")
        self.download_button.setEnabled(idle and snap is not None and not installed and self.licences_accepted)
        self.pause_button.setEnabled(downloading)
        self.cancel_button.setEnabled(stoppable and self._job.op != REFRESH)
        present = snap is not None and (installed or any(f.status != MISSING for f in snap.files))
        self.verify_button.setEnabled(idle and present)
        repairable = bool(self._bad_paths()) or bool(self.verify_report and self.verify_report.bundle_problems)
        self.repair_button.setEnabled(idle and repairable and self.licences_accepted)
        self.free_button.setEnabled(idle and installed and bool(snap.sources_bytes))
        self.free_button.setText(f"Free source files ({format_bytes(snap.sources_bytes)})"
                                 if installed and snap.sources_bytes else "Free source files")
        self.refresh_button.setEnabled(idle)
        for box in self.license_boxes:
            box.setEnabled(idle or (self._job is not None and self._job.op not in (DOWNLOAD, REPAIR)))

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


def _model_state(states: list[str]) -> str:
    if CORRUPT in states:
        return CORRUPT
    if all(s == MISSING for s in states):
        return MISSING
    if any(s in (MISSING, PARTIAL) for s in states):
        return "incomplete"
    return UNVERIFIED if UNVERIFIED in states else INSTALLED


def _line_path(line: str, paths: list[str]) -> str | None:
    """The manifest path a ``verify_files`` line names ("kind: PATH" or "kind: PATH (...)")."""
    _, _, rest = line.partition(": ")
    for path in sorted(paths, key=len, reverse=True):
        if rest == path or rest.startswith(path + " ("):
            return path
    return None


def _existing_ancestor(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _brush(colour: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(colour))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


__all__ = ["JobOutcome", "ModelManagerDialog", "StoreSnapshot", "StoreWorker", "VerifyReport"]
