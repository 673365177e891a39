"""Run one EditJob on a loaded engine: the LLM half (or a cached one), then every render the
job asks for. Shared by the window's engine thread and the remote server, so an edit made
either way is the same computation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mgie_desktop.core.errors import EditCancelled
from mgie_desktop.core.jobs import EditJob, EditResult
from mgie_desktop.core.params import SEED

if TYPE_CHECKING:  # the pipeline imports torch: the window imports this module at start-up
    from mgie_desktop.engine.pipeline import Instruction, MgieEngine

# step, total, seconds left, a function making a preview image (called only when wanted)
JobProgress = Callable[[int, int, float, Callable[..., Any]], None]


class GuideCache:
    """The latest LLM half only: re-renders and variations of the same step reuse it."""

    def __init__(self) -> None:
        self._key: Hashable = None
        self._guide: Instruction | None = None

    def get(self, key: Hashable) -> Instruction | None:
        return self._guide if key == self._key and self._guide is not None else None

    def put(self, key: Hashable, guide: Instruction) -> None:
        self._key, self._guide = key, guide

    def clear(self) -> None:
        self._key, self._guide = None, None


def run_job(
    engine: MgieEngine,
    job: EditJob,
    guides: GuideCache,
    guide_key: Hashable,
    progress: JobProgress | None = None,
    cancel: threading.Event | None = None,
) -> EditResult:
    """``guide_key`` names the job's LLM half for the cache (the caller knows what makes two
    jobs alike: the window's step ids, the server's image digest)."""
    started = time.perf_counter()
    plain = job.model == "ip2p"  # InstructPix2Pix alone: no LLM half
    guide = guides.get(guide_key) if job.rerender and not plain else None
    reused = guide is not None
    if guide is None and not plain:
        guide = (
            engine.steer(job.image, job.instruction, job.expressive)
            if job.expressive
            else engine.instruct(job.image, job.instruction, cancel=cancel)
        )
        if cancel is not None and cancel.is_set():  # steering is one pass: it stops after it
            raise EditCancelled("the edit was cancelled")
        guides.put(guide_key, guide)
    render_started = time.perf_counter()
    assert plain or guide is not None  # the LLM half, computed or cached, unless InstructPix2Pix runs alone
    conditioning = None if guide is None else guide.conditioning
    plain_text = job.instruction if plain else None

    if job.sweep is not None:  # one render per cell, in turn: the pipeline takes one guidance at a time
        settings = job.sweep.cells(job.params)
        images = []
        for index, cell in enumerate(settings):
            images += engine.render_variations(
                job.image,
                conditioning,
                cell,
                [cell.seed],
                _counted(progress, render_started, index, len(settings)),
                cancel,
                finish=job.finish,
                mask=job.mask,
                plain_text=plain_text,
            )
        seeds = [cell.seed for cell in settings]
    else:
        seeds = [
            (job.params.seed + i) % (int(SEED.high) + 1) for i in range(max(1, job.variations))
        ]  # in range
        images = engine.render_variations(
            job.image,
            conditioning,
            job.params,
            seeds,
            _counted(progress, render_started, 0, 1),
            cancel,
            finish=job.finish,
            mask=job.mask,
            plain_text=plain_text,
        )
        settings = [replace(job.params, seed=seed) for seed in seeds]
    models = [job.model] * len(images)
    if job.compare:  # the same instruction, seed and settings, read by InstructPix2Pix itself
        images.append(
            engine.render_plain(
                job.image,
                job.instruction,
                job.params,
                _counted(progress, render_started, 0, 1),
                cancel,
                finish=job.finish,
                mask=job.mask,
            )
        )
        models.append("ip2p")
        seeds = [*seeds, job.params.seed]
        settings = [*settings, job.params]
    timings = {
        "instruct_s": 0.0 if reused or guide is None else guide.seconds,
        "render_s": time.perf_counter() - render_started,
        "total_s": time.perf_counter() - started,
    }
    return EditResult(
        images,
        "" if guide is None else guide.text,
        seeds,
        models,
        timings,
        steered=bool(guide and guide.steered),
        emitted_image_tokens=bool(guide is None or guide.emitted_image_tokens),
        params=settings,
    )


def _counted(
    progress: JobProgress | None, started: float, render: int, renders: int
) -> Callable[[int, int, Callable[..., Any]], None]:
    """A render's step callback, counting steps over all ``renders`` (a sweep's cells render one
    after another: the bar fills once, and the time left is for them all)."""

    def on_step(step: int, total: int, make_preview: Callable[..., Any]) -> None:
        if progress is not None:
            done, steps = render * total + step, renders * total
            elapsed = time.perf_counter() - started
            progress(done, steps, elapsed / done * (steps - done), make_preview)

    return on_step


def failure_message(exc: Exception) -> str:
    """One line for a person, from an unexpected failure of an edit, as the command line prints it
    (the window shows it as a sentence)."""
    text = str(exc)
    if "out of memory" in text.lower():
        return "the GPU ran out of memory: try a smaller pixel budget or close other GPU programs"
    return f"the edit failed: {text.splitlines()[0] if text else type(exc).__name__}"
