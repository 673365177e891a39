"""EngineWorker: one QObject on one QThread that owns all torch work.

The GUI thread sends jobs by queued signals and never waits; results, progress, previews
and errors come back as signals to slots on GUI-thread objects. Cancelling sets an Event
the engine checks between denoising steps (and during generation).
"""

from __future__ import annotations

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
from mgie_desktop.core.params import EditParams
from mgie_desktop.ui.images import thumbnail, to_qimage

if TYPE_CHECKING:
    from PIL import Image

PREVIEW_INTERVAL_S = 0.15
# What the window and its file tasks import after start-up, imported on the engine's thread
# before torch holds the import gate for seconds (core/deferred.py): they then find it loaded
# and never wait for the engine.
WINDOW_MODULES = ("mgie_desktop.core.document", "mgie_desktop.core.autosave", "mgie_desktop.core.compare",
                  "mgie_desktop.ui.variations", "mgie_desktop.ui.model_manager", "psutil")


@dataclass(frozen=True)
class EditJob:
    job_id: int
    document: int           # which open document (the window counts them); results for another are dropped
    source_step: int
    image: Image.Image
    instruction: str
    params: EditParams
    rerender: bool = False  # reuse the LLM half for this (step, instruction) if the engine still holds it
    variations: int = 1     # more than one: render that many seeds in one batch
    expressive: str = ""    # a person's expressive instruction: steer with it instead of generating
    mgie_text: str = ""     # with ``expressive``: what MGIE had written, kept beside it in the history
    mask: object = None     # a grey PIL image: edit only where it is white (None: everywhere)
    compare: bool = False   # also render plain InstructPix2Pix (same seed and settings): an A/B pair
    model: str = "mgie"     # "ip2p": plain InstructPix2Pix alone (re-rendering a step it made)


@dataclass
class EditDone:
    job: EditJob
    image: Image.Image
    expressive_instruction: str
    timings: dict = field(default_factory=dict)
    images: list = field(default_factory=list)  # every variation, the first is ``image``
    seeds: list[int] = field(default_factory=list)
    # Display copies built here, off the GUI thread (a 24 MP result takes ~0.25 s to convert).
    views: list = field(default_factory=list)   # QImage per variation, full size
    thumbs: list = field(default_factory=list)  # QImage per variation, history-panel size
    picks: list = field(default_factory=list)   # QImage per variation, picker size (variations only)
    mask_text: str = ""                         # the job's mask as its history step keeps it
    models: list = field(default_factory=list)  # per image: "mgie", or "ip2p" (plain InstructPix2Pix)


class EngineWorker(QObject):
    # "not installed" | "loading" | "ready" | "busy" | "error" | "cancelled" (a load stopped by the user), detail
    state_changed = Signal(str, str)
    load_progress = Signal(str, int, int)    # the part loading, steps done, steps in all
    progress = Signal(int, int, int, float)  # job id, step, total, seconds left
    preview = Signal(int, object)            # job id, QImage
    edit_finished = Signal(object)           # EditDone
    edit_failed = Signal(int, str, str)      # job id, message, details
    edit_cancelled = Signal(int)
    instruction_limit = Signal(object)       # core.instruction.InstructionLimit of the loaded models
    memory_report = Signal(str)              # GPU memory and how the models share it

    def __init__(self, models_dir: Path, device: str = "auto", memory: str = "auto", llm_quant: str = "auto",
                 compile_unet: bool = False, precision: str = "auto"):
        super().__init__()
        self.models_dir, self.device = Path(models_dir), device
        self.memory, self.llm_quant, self.compile_unet = memory, llm_quant, compile_unet
        self.precision = precision
        self.cancel_event = threading.Event()  # set from the GUI thread; Events are thread-safe
        self.stop_event = threading.Event()    # set once, when the window closes: stops a load too
        self.load_cancel = threading.Event()   # the user stopped this load (cleared by the window for the next)
        self._engine = None
        self._guides: dict[tuple[int, str], object] = {}

    @Slot()
    def load(self) -> None:
        for module in WINDOW_MODULES:
            load(module)
        check_installed = load("mgie_desktop.engine.inventory", "check_installed")

        self._engine, self._guides = None, {}  # a reload must not hold two models in memory
        try:
            check_installed(self.models_dir)
        except MgieError as exc:
            self.state_changed.emit("not installed", str(exc))
            return
        except Exception as exc:  # a damaged inventory: say so rather than stay "loading"
            self.state_changed.emit("error", f"the model inventory is damaged: {exc}")
            return
        self.state_changed.emit("loading", str(self.models_dir))
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

            self._engine = MgieEngine(self.models_dir, device=self.device, memory=self.memory,
                                      llm_quant=self.llm_quant, compile_unet=self.compile_unet,
                                      cancel=stop, progress=part, precision=self.precision)
            self.load_progress.emit("a first render (warm-up)", total - 1, total)
            self._engine.warm_up(cancel=stop)
            self._report_memory()
        except (LoadCancelled, EditCancelled):  # stopped by the user, or the window closed
            self._engine = None
            if not self.stop_event.is_set():  # quitting: nobody is left to tell
                self.state_changed.emit("cancelled", "loading the models was cancelled")
            return
        except MgieError as exc:
            self.state_changed.emit("error", str(exc))
            return
        except Exception as exc:  # the app stays up; the status bar says why
            self.state_changed.emit("error", f"could not load the models: {exc}")
            return
        self.instruction_limit.emit(self._engine.instruction_limit)  # counts with the tokenizer, no torch
        self.state_changed.emit("ready", f"{self._engine.device} · loaded in {self._engine.load_seconds:.1f} s")

    @Slot(object)
    def run(self, job: EditJob) -> None:
        if self._engine is None:
            self.edit_failed.emit(job.job_id, "The models are not loaded.", "")
            return
        # cancel_event is cleared by the window when it submits, so an early Esc is not lost.
        self.state_changed.emit("busy", job.instruction)
        started = time.perf_counter()
        last_preview = 0.0

        def progress(step: int, total: int, make_preview) -> None:
            nonlocal last_preview
            elapsed = time.perf_counter() - render_started
            self.progress.emit(job.job_id, step, total, elapsed / step * (total - step))
            now = time.perf_counter()
            if now - last_preview >= PREVIEW_INTERVAL_S and step < total:
                last_preview = now
                self.preview.emit(job.job_id, to_qimage(make_preview()))

        outcome: tuple = ()
        try:
            plain = job.model == "ip2p"  # InstructPix2Pix alone: no LLM half
            key = (job.document, job.source_step, job.instruction, job.expressive)
            guide = self._guides.get(key) if job.rerender and not plain else None
            reused = guide is not None
            if guide is None and not plain:
                guide = (self._engine.steer(job.image, job.instruction, job.expressive) if job.expressive else
                         self._engine.instruct(job.image, job.instruction, cancel=self.cancel_event))
                if self.cancel_event.is_set():  # steering is one pass: it stops after it
                    raise EditCancelled("the edit was cancelled")
                self._guides = {key: guide}  # the latest only: re-render and variations reuse it
            render_started = time.perf_counter()
            seeds = [job.params.seed + i for i in range(max(1, job.variations))]
            images = self._engine.render_variations(job.image, None if plain else guide.conditioning, job.params,
                                                    seeds, progress, self.cancel_event, mask=job.mask,
                                                    plain_text=job.instruction if plain else None)
            models = [job.model] * len(images)
            if job.compare:  # the same instruction, seed and settings, read by InstructPix2Pix itself
                images.append(self._engine.render_plain(job.image, job.instruction, job.params, progress,
                                                        self.cancel_event, mask=job.mask))
                models.append("ip2p")
                seeds = [*seeds, job.params.seed]
            timings = {"instruct_s": 0.0 if reused or plain else guide.seconds,
                       "render_s": time.perf_counter() - render_started,
                       "total_s": time.perf_counter() - started}
            outcome = (self.edit_finished, EditDone(
                job, images[0], "" if plain else guide.text, timings, images, seeds, views=[to_qimage(im) for im in images],
                thumbs=[thumbnail(im) for im in images],
                picks=[thumbnail(im, 240) for im in images] if len(images) > 1 and not job.compare else [],
                mask_text=load("mgie_desktop.core.masks", "mask_to_text")(job.mask) if job.mask is not None else "",
                models=models))
        except EditCancelled:
            outcome = (self.edit_cancelled, job.job_id)
        except MgieError as exc:
            outcome = (self.edit_failed, job.job_id, str(exc), "")
        except Exception as exc:
            outcome = (self.edit_failed, job.job_id, _friendly(exc), traceback.format_exc())
        self._report_memory()
        # "ready" first, so the window can accept the next edit as soon as it sees the result.
        self.state_changed.emit("ready", str(self._engine.device))
        signal, *args = outcome
        signal.emit(*args)


    def _report_memory(self) -> None:
        report = self._engine.memory_report()
        if "gpu_allocated_mb" not in report:  # CPU and MPS: one memory, shown as "Memory" already
            self.memory_report.emit("")
            return
        mode = report["placement"] + ("" if report["llm_quant"] == "none" else f", {report['llm_quant']} LLM")
        self.memory_report.emit(f"GPU {report['gpu_allocated_mb'] / 1024:.1f}/{report['gpu_total_mb'] / 1024:.0f} GB"
                                f" · {mode}")


class _Either:
    """Set when either event is: a load stops for quitting and for the user's Cancel alike."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


def _friendly(exc: Exception) -> str:
    text = str(exc)
    if "out of memory" in text.lower():
        return "The GPU ran out of memory. Try a smaller pixel budget or close other GPU programs."
    return f"The edit failed: {text.splitlines()[0] if text else type(exc).__name__}"
