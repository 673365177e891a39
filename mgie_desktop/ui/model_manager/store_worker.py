"""``StoreWorker``: every piece of store work the dialog starts, run off the GUI thread.

Status refresh (it stats the files), planning, downloading, hashing, conversion and deleting
all block for a long time, so they run on one QObject living on its own QThread. It reports
through signals only and never touches a widget. The converter imports torch: it is imported
inside ``_download``, on this thread, never at module level (the dialog must open fast).
"""

from __future__ import annotations

import shutil
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import EditCancelled, MgieError
from mgie_desktop.engine.inventory import INVENTORY, bundle_path, problems, read_inventory

# The same checks `models list` / `models download` make, shared rather than copied.
from mgie_desktop.store.commands import bundle_state, lacks_optional
from mgie_desktop.store.download import RESERVE_BYTES, Downloader, existing_ancestor
from mgie_desktop.store.hashing import check_cancel
from mgie_desktop.store.http import DEFAULT_POLICY, RetryPolicy
from mgie_desktop.store.install import (
    free_sources,
    install_klein,
    install_sources,
    klein_kept,
    looks_like_klein,
    sources_size,
)
from mgie_desktop.store.manifest import Manifest, target_path
from mgie_desktop.store.progress import format_bytes
from mgie_desktop.store.state import StoreState
from mgie_desktop.store.verify import statuses, verify_files
from mgie_desktop.ui.model_manager.jobs import (
    CANCELLED,
    CHECKING_FILES,
    CONVERTING,
    DOWNLOAD,
    FAILED_JOB,
    FREEING,
    OK,
    PLANNING,
    TRANSFER,
    Job,
    JobOutcome,
    StoreSnapshot,
    VerifyReport,
)


class StoreWorker(QObject):
    """Runs ``Job``s on its thread; reports through signals only (never touches widgets)."""

    snapshot_ready = Signal(object)  # StoreSnapshot
    progress = Signal(object)  # store.progress.Progress
    phase = Signal(str, str, int, int)  # phase, text, done, total (total 0: unknown)
    log = Signal(str)
    job_done = Signal(object)  # JobOutcome, always last for each job

    def __init__(
        self,
        manifest: Manifest,
        models_dir: Path,
        policy: RetryPolicy = DEFAULT_POLICY,
        reserve_bytes: int = RESERVE_BYTES,
    ):
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

        files = tuple(statuses(self.manifest, self.dest))
        bundle = bundle_state(self.dest)
        anchor = existing_ancestor(self.dest)
        try:
            free = shutil.disk_usage(anchor).free
        except OSError:
            free = None
        return StoreSnapshot(
            files,
            bundle["installed"],
            bundle["detail"],
            free,
            str(anchor),
            sources_size(self.manifest, self.dest),
            self._lacks_optional(bundle["installed"]),
        )

    def _lacks_optional(self, installed: bool) -> bool:
        """An optional component is chosen (InstructPix2Pix's own model, FLUX.2 [klein]: the
        manifest holds it) but not in the bundle."""
        return installed and lacks_optional(self.manifest, self.dest)

    # -- jobs (worker thread) ------------------------------------------------------------------

    def _refresh(self, job: Job) -> None:
        return None  # run() sends the snapshot after every job

    def _download(self, job: Job) -> dict | None:

        if job.op == DOWNLOAD and self.snapshot().sources_freed:
            self.log.emit(f"the models are already installed in {self.dest / 'bundle'}; nothing to do")
            return None
        downloader = Downloader(
            self.manifest,
            self.dest,
            progress=self.progress.emit,
            cancel=job.cancel,
            policy=self.policy,
            reserve_bytes=self.reserve_bytes,
        )
        self.phase.emit(PLANNING, "Checking what is already there…", 0, 0)
        plan = downloader.plan()
        unknown = f" (+{plan.unknown_sizes} of unknown size)" if plan.unknown_sizes else ""
        self.log.emit(
            f"{len(plan.todo)} of {len(plan.files)} files to fetch or check: "
            f"{format_bytes(plan.need_bytes)}{unknown} to download into {self.dest}"
        )
        self.phase.emit(TRANSFER, "Downloading…", 0, 0)
        result = downloader.run(plan)
        self.log.emit(
            f"sources complete: {len(result.downloaded)} downloaded, {len(result.reused)} from the "
            f"Hugging Face cache, {len(result.verified) + len(result.skipped)} already present "
            f"({format_bytes(result.bytes)} transferred)"
        )
        check_cancel(job.cancel)
        self.phase.emit(CONVERTING, "Converting into the app's bundle (this cannot be paused)…", 0, 0)
        # imports torch: worker thread only

        inventory = install_sources(
            self.dest,
            log=self.log.emit,
            with_klein=any(model.id == "klein" for model in self.manifest.models),
        )
        self.log.emit(f"models ready in {self.dest / 'bundle'} ({len(inventory['files'])} files)")
        return inventory

    def _import(self, job: Job) -> dict:
        """The reference's files from a folder (apple/ml-mgie's layout), converted into the bundle:
        the way to install without a network. A FLUX.2 [klein] folder (the diffusers layout) is
        copied into the installed bundle instead, as `models import-klein` does."""
        # engine.klein and engine.convert import torch: worker thread only
        if looks_like_klein(Path(job.source)):
            self.phase.emit(
                CONVERTING, f"Copying FLUX.2 [klein] from {job.source} (this cannot be paused)…", 0, 0
            )
            return install_klein(Path(job.source), self.dest, log=self.log.emit)
        convert, locate_reference = load("mgie_desktop.engine.convert", "convert", "locate_reference")

        self.phase.emit(CONVERTING, f"Importing the files in {job.source} (this cannot be paused)…", 0, 0)
        with klein_kept(self.dest, self.log.emit):  # the new bundle keeps an installed FLUX.2 [klein]
            convert(locate_reference(Path(job.source)), self.dest, log=self.log.emit)
        inventory = read_inventory(self.dest)
        self.log.emit(f"models ready in {self.dest / 'bundle'} ({len(inventory['files'])} files)")
        return inventory

    def _repair(self, job: Job) -> dict | None:

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

        self.phase.emit(FREEING, "Deleting the source files…", 0, 0)
        freed = free_sources(self.manifest, self.dest)
        self.log.emit(f"freed {format_bytes(freed)} of source files")
        return freed


def _line_path(line: str, paths: list[str]) -> str | None:
    """The manifest path a ``verify_files`` line names ("kind: PATH" or "kind: PATH (...)")."""
    _, _, rest = line.partition(": ")
    for path in sorted(paths, key=len, reverse=True):
        if rest == path or rest.startswith(path + " ("):
            return path
    return None
