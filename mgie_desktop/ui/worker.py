"""EngineWorker: one QObject on one QThread that owns all torch work.

The GUI thread sends jobs by queued signals and never waits; results, progress, previews
and errors come back as signals to slots on GUI-thread objects. Cancelling sets an Event
the engine checks between denoising steps (and during generation).
"""

from __future__ import annotations

import gc
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import EditCancelled, LoadCancelled, MgieError
from mgie_desktop.core.jobs import EditJob, EditResult
from mgie_desktop.engine.inventory import check_installed
from mgie_desktop.engine.jobs import GuideCache, failure_message, run_job
from mgie_desktop.ui.engine_state import KLEIN_FIRST_LOAD, EngineState
from mgie_desktop.ui.images import thumbnail, to_qimage

if TYPE_CHECKING:
    from PIL import Image

PREVIEW_INTERVAL_S = 0.15
# What the window and its file tasks import after start-up, imported on the engine's thread
# before torch holds the import gate for seconds (core/deferred.py): they then find it loaded
# and never wait for the engine.
WINDOW_MODULES = (
    "mgie_desktop.core.document",
    "mgie_desktop.core.autosave",
    "mgie_desktop.core.compare",
    "mgie_desktop.ui.variations",
    "mgie_desktop.ui.model_manager",
    "psutil",
)


@dataclass
class EditDone:
    """An EditResult for the window: with display copies and the job it answers."""

    job: EditJob
    image: Image.Image
    expressive_instruction: str
    timings: dict = field(default_factory=dict)
    images: list = field(default_factory=list)  # every variation, the first is ``image``
    seeds: list[int] = field(default_factory=list)
    # Display copies built here, off the GUI thread (a 24 MP result takes ~0.25 s to convert).
    views: list = field(default_factory=list)  # QImage per variation, full size
    thumbs: list = field(default_factory=list)  # QImage per variation, history-panel size
    picks: list = field(default_factory=list)  # QImage per variation, picker size (variations only)
    mask_text: str = ""  # the job's mask as its history step keeps it
    models: list = field(default_factory=list)  # per image: "mgie", "ip2p" or "klein" (core.step_params)
    unchanged: list = field(
        default_factory=list
    )  # per image: the edit barely changed the photo (core.change)
    params: list = field(default_factory=list)  # per image: the EditParams it rendered with (a sweep's cell)


class EngineWorker(QObject):
    # an EngineState (as text: "ready", "loading"...), and its detail line
    state_changed = Signal(str, str)
    load_progress = Signal(str, int, int)  # the part loading, steps done, steps in all
    progress = Signal(int, int, int, float)  # job id, step, total, seconds left
    preview = Signal(int, object)  # job id, QImage
    edit_finished = Signal(object)  # EditDone
    edit_failed = Signal(int, str, str)  # job id, message, details
    edit_cancelled = Signal(int)
    instruction_limit = Signal(object)  # core.instruction.InstructionLimit of the loaded models
    memory_report = Signal(str)  # GPU memory and how the models share it

    def __init__(
        self,
        models_dir: Path,
        device: str = "auto",
        memory: str = "auto",
        llm_quant: str = "auto",
        compile_unet: bool = False,
        precision: str = "auto",
    ):
        super().__init__()
        self.models_dir, self.device = Path(models_dir), device
        self.memory, self.llm_quant, self.compile_unet = memory, llm_quant, compile_unet
        self.precision = precision
        self.cancel_event = threading.Event()  # set from the GUI thread; Events are thread-safe
        self.stop_event = threading.Event()  # set once, when the window closes: stops a load too
        self.load_cancel = (
            threading.Event()
        )  # the user stopped this load (cleared by the window for the next)
        self._engine = None
        self._guides = GuideCache()
        self._ready_detail = ""  # the status bar's text while ready: the device, and why not the GPU

    @Slot()
    def load(self) -> None:
        for module in WINDOW_MODULES:
            load(module)

        self._engine = None  # a reload must not hold two models in memory
        self._guides.clear()
        try:
            check_installed(self.models_dir)
        except MgieError as exc:
            self.state_changed.emit(EngineState.NOT_INSTALLED, str(exc))
            return
        except Exception as exc:  # a damaged inventory: say so rather than stay "loading"
            self.state_changed.emit(EngineState.ERROR, f"the model inventory is damaged: {exc}")
            return
        self.state_changed.emit(EngineState.LOADING, str(self.models_dir))
        stop = _Either(self.stop_event, self.load_cancel)
        try:
            # Steps: the libraries, each part of the bundle, the warm-up render.
            self.load_progress.emit("the ML libraries", 0, 0)
            torch = load("torch")

            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core to the GUI
            MgieEngine = load("mgie_desktop.engine.pipeline", "MgieEngine")
            total = len(load("mgie_desktop.engine.loading", "LOAD_PARTS")) + 2
            if stop.is_set():
                raise LoadCancelled("loading the models was stopped")

            def part(name: str, done: int, _parts: int) -> None:
                self.load_progress.emit(name, done + 1, total)

            self._engine = MgieEngine(
                self.models_dir,
                device=self.device,
                memory=self.memory,
                llm_quant=self.llm_quant,
                compile_unet=self.compile_unet,
                cancel=stop,
                progress=part,
                precision=self.precision,
            )
            self.load_progress.emit("a first render (warm-up)", total - 1, total)
            self._engine.warm_up(cancel=stop)
            self._report_memory()
        except (LoadCancelled, EditCancelled):  # stopped by the user, or the window closed
            self._engine = None
            if not self.stop_event.is_set():  # quitting: nobody is left to tell
                self.state_changed.emit(EngineState.CANCELLED, "loading the models was cancelled")
            return
        except MgieError as exc:
            self.state_changed.emit(EngineState.ERROR, str(exc))
            return
        except Exception as exc:  # the app stays up; the status bar says why
            self.state_changed.emit(
                EngineState.ERROR, str(exc) or type(exc).__name__
            )  # the notice says what failed
            return
        self.instruction_limit.emit(self._engine.instruction_limit)  # counts with the tokenizer, no torch
        note = f" · {self._engine.device_note}" if self._engine.device_note else ""  # why not the GPU
        self._ready_detail = f"{self._engine.device} · loaded in {self._engine.load_seconds:.1f} s{note}"
        self.state_changed.emit(EngineState.READY, self._ready_detail)

    @Slot()
    def unload(self) -> None:
        """Another engine renders now: let go of the models and their memory."""
        self._engine = None
        self._guides.clear()
        gc.collect()

    @Slot(object)
    def run(self, job: EditJob) -> None:
        if self._engine is None:
            self.edit_failed.emit(job.job_id, "The models are not loaded.", "")
            return
        # cancel_event is cleared by the window when it submits, so an early Esc is not lost.
        engines = {job.model, job.versus} if job.compare else {job.model}
        if "klein" in engines and not self._engine.klein_loaded:  # its first use: 16 GB to read
            self.state_changed.emit(EngineState.BUSY, KLEIN_FIRST_LOAD)
        else:
            self.state_changed.emit(EngineState.BUSY, job.instruction)
        last_preview = 0.0
        outside: dict = {}  # a masked edit's photo and mask at the preview's size, made once

        def progress(step: int, total: int, seconds_left: float, make_preview) -> None:
            nonlocal last_preview
            self.progress.emit(job.job_id, step, total, seconds_left)
            now = time.perf_counter()
            if now - last_preview >= PREVIEW_INTERVAL_S and step < total:
                last_preview = now
                preview = make_preview()
                if job.mask is not None:
                    preview = inside_mask(preview, job, outside)
                self.preview.emit(job.job_id, to_qimage(preview))

        outcome: tuple = ()
        try:
            key = (job.document, job.source_step, job.instruction, job.expressive)
            result = run_job(self._engine, job, self._guides, key, progress, self.cancel_event)
            outcome = (self.edit_finished, edit_done(job, result))
        except EditCancelled:
            outcome = (self.edit_cancelled, job.job_id)
        except MgieError as exc:
            outcome = (self.edit_failed, job.job_id, str(exc), "")
        except Exception as exc:
            outcome = (self.edit_failed, job.job_id, failure_message(exc), traceback.format_exc())
        self._report_memory()
        # "ready" first, so the window can accept the next edit as soon as it sees the result.
        self.state_changed.emit(EngineState.READY, self._ready_detail)
        signal, *args = outcome
        signal.emit(*args)

    def _report_memory(self) -> None:
        self.memory_report.emit(gpu_memory_text(self._engine.memory_report()))


def gpu_memory_text(report: dict) -> str:
    """The status bar's GPU reading from an engine's memory report ("" where there is no GPU:
    on CPUs and MPS there is one memory, shown as "Memory" already)."""
    if "gpu_allocated_mb" not in report:
        return ""
    mode = report["placement"] + ("" if report["llm_quant"] == "none" else f", {report['llm_quant']} LLM")
    return f"GPU {report['gpu_allocated_mb'] / 1024:.1f}/{report['gpu_total_mb'] / 1024:.0f} GB · {mode}"


def edit_done(job: EditJob, result: EditResult) -> EditDone:
    """The result with its display copies, built here off the GUI thread."""
    images = result.images
    did_nothing = load("mgie_desktop.core.change", "did_nothing")  # numpy: not at the window's start
    return EditDone(
        job,
        images[0],
        result.expressive_instruction,
        result.timings,
        images,
        result.seeds,
        views=[to_qimage(im) for im in images],
        thumbs=[thumbnail(im) for im in images],
        picks=[thumbnail(im, 240) for im in images] if len(images) > 1 and not job.compare else [],
        mask_text=load("mgie_desktop.core.masks", "mask_to_text")(job.mask) if job.mask is not None else "",
        models=result.models,
        unchanged=[did_nothing(job.image, im, job.mask) for im in images],
        params=list(result.params),
    )


class _Either:
    """Set when either event is: a load stops for quitting and for the user's Cancel alike."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


def inside_mask(preview, job: EditJob, outside: dict):
    """A masked edit's live preview changes only where the edit may: outside the mask it shows
    the photo as it is (``outside`` keeps the photo and mask at the preview's size, made once)."""
    Image = load("PIL.Image")  # noqa: N806
    if outside.get("size") != preview.size:
        fit_mask = load("mgie_desktop.core.masks", "fit_mask")
        outside.update(
            size=preview.size,
            mask=fit_mask(job.mask, preview.size),
            photo=job.image.convert("RGB").resize(preview.size, Image.Resampling.BILINEAR),
        )
    return Image.composite(preview.convert("RGB"), outside["photo"], outside["mask"])
