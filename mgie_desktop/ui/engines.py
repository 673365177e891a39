"""The one interface the window uses to edit: submit, cancel, load, and answers as signals.

Two engines implement it: ``LocalEngine`` (this computer: the EngineWorker on its own QThread)
and ``ui.remote_engine.RemoteEngine`` (a server running ``mgie-desktop serve``). EditRunner
talks only to this interface, so re-render, variations, cancel, history and sessions behave
the same whichever computer renders."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from mgie_desktop.core.errors import MgieError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.engine.inventory import bundle_identity, has_klein, has_plain_ip2p
from mgie_desktop.ui.worker import EngineWorker


class EngineClient(QObject):
    # an EngineState (as text: "ready", "loading"...), and its detail line
    state_changed = Signal(str, str)
    load_progress = Signal(str, int, int)  # the part loading, steps done, steps in all
    progress = Signal(int, int, int, float)  # job id, step, total, seconds left
    preview = Signal(int, object)  # job id, QImage
    edit_finished = Signal(object)  # ui.worker.EditDone
    edit_failed = Signal(int, str, str)  # job id, message, details
    edit_cancelled = Signal(int)
    instruction_limit = Signal(object)  # core.instruction.InstructionLimit of the loaded models
    memory_report = Signal(str)  # GPU memory and how the models share it
    notice = Signal(str)  # a passing word: queue position, connection lost or back

    where = "this computer"  # named in the status bar

    def load(self, models_dir: Path) -> None:
        raise NotImplementedError

    def has_plain_ip2p(self, models_dir: Path) -> bool:
        """Can it render plain InstructPix2Pix (the optional comparison model)?"""
        raise NotImplementedError

    def has_klein(self, models_dir: Path) -> bool:
        """Can it render FLUX.2 [klein] (the optional second engine)?"""
        raise NotImplementedError

    def engines(self, models_dir: Path) -> list[str]:
        """The engines it can edit with, by model name (core.step_params.MODEL_NAMES): MGIE
        always, then each optional one it holds."""
        return [
            "mgie",
            *(["klein"] if self.has_klein(models_dir) else []),
            *(["ip2p"] if self.has_plain_ip2p(models_dir) else []),
        ]

    def models_identity(self, models_dir: Path) -> dict:
        """Which models edit, for the record an export carries ({} when unknown)."""
        raise NotImplementedError

    def cancel_load(self) -> None:
        raise NotImplementedError

    def load_cancelled(self) -> bool:
        return False

    def submit(self, job: EditJob) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Another engine takes over, or the window closes: stop work and free memory, never block."""

    def join(self) -> None:
        """At exit only: wait for the engine's own thread, if it has one."""


class LocalEngine(EngineClient):
    """The models on this computer, loaded and run on the engine's own thread."""

    _start_loading = Signal()
    _run = Signal(object)
    _unload = Signal()

    def __init__(self, device: str, options: dict, parent: QObject | None = None):
        super().__init__(parent)
        self._device, self._options = device, options
        self.thread = QThread(parent)
        self.thread.setObjectName("mgie-engine")
        self.worker: EngineWorker | None = None  # made at the first load, a moment after start-up

    def _make_worker(self, models_dir: Path) -> EngineWorker:
        worker = EngineWorker(models_dir, self._device, **self._options)
        worker.moveToThread(self.thread)
        self.thread.finished.connect(worker.deleteLater)
        self._start_loading.connect(worker.load)
        self._run.connect(worker.run)
        self._unload.connect(worker.unload)
        # Signal to signal: queued onto this object's (the GUI) thread.
        for name in (
            "state_changed",
            "load_progress",
            "progress",
            "preview",
            "edit_finished",
            "edit_failed",
            "edit_cancelled",
            "instruction_limit",
            "memory_report",
        ):
            getattr(worker, name).connect(getattr(self, name))
        self.thread.start()
        return worker

    def load(self, models_dir: Path) -> None:
        if self.worker is None:
            self.worker = self._make_worker(models_dir)
        self.worker.models_dir = Path(models_dir)  # read by load(), queued behind any edit running now
        self.worker.load_cancel.clear()
        self._start_loading.emit()

    def has_plain_ip2p(self, models_dir: Path) -> bool:
        try:  # a few kB of JSON: fine on the GUI thread
            return has_plain_ip2p(models_dir)
        except MgieError:
            return True  # no models at all: the edit's own checks say so

    def has_klein(self, models_dir: Path) -> bool:
        try:  # the same few kB of JSON
            return has_klein(models_dir)
        except MgieError:
            return False  # no models at all: nothing to offer beside what the edit's checks say

    def models_identity(self, models_dir: Path) -> dict:
        try:
            return bundle_identity(models_dir)
        except Exception:  # noqa: BLE001 (an export goes on without it)
            return {}

    def cancel_load(self) -> None:
        if self.worker is not None:
            self.worker.load_cancel.set()

    def load_cancelled(self) -> bool:
        return self.worker is not None and self.worker.load_cancel.is_set()

    def submit(self, job: EditJob) -> None:
        self.worker.cancel_event.clear()  # here, not in the worker: an Esc right after this still counts
        self._run.emit(job)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel_event.set()

    def release(self) -> None:
        """The models go (a remote engine took over); the thread stays for a switch back."""
        if self.worker is not None:
            self.worker.cancel_event.set()
            self.worker.load_cancel.set()
            self._unload.emit()

    def stop(self) -> None:
        """Closing: a running edit stops within one step, a load after the part it is reading."""
        if self.worker is not None:
            self.worker.cancel_event.set()
            self.worker.stop_event.set()
        self.thread.quit()

    def join(self) -> None:
        self.thread.wait()
