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
from mgie_desktop.core.params import SEED, EditParams

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
    jobs alike: the window's step ids, the server's image digest). With ``job.compare`` the second
    engine (``job.versus``) renders the same words, seed and settings after the first."""
    started = time.perf_counter()
    guide, reused = None, False
    if "mgie" in (job.model, job.versus if job.compare else job.model):  # the LLM half is needed
        guide = guides.get(guide_key) if job.rerender else None
        reused = guide is not None
        if guide is None:
            guide = (
                engine.steer(job.image, job.instruction, job.expressive)
                if job.expressive
                else engine.instruct(job.image, job.instruction, cancel=cancel)
            )
            if cancel is not None and cancel.is_set():  # steering is one pass: it stops after it
                raise EditCancelled("the edit was cancelled")
            guides.put(guide_key, guide)
    render_started = time.perf_counter()
    renders = _Renders(engine, job, guide, render_started, progress, cancel)
    images, seeds, settings = renders.main()
    models = [job.model] * len(images)
    if job.compare:
        image, used = renders.one(job.versus, job.params, [job.params.seed], 0, 1)
        images, models = [*images, *image], [*models, job.versus]
        seeds, settings = [*seeds, job.params.seed], [*settings, used]
    timings = {
        "instruct_s": 0.0 if reused or guide is None else guide.seconds,
        "render_s": time.perf_counter() - render_started,
        "total_s": time.perf_counter() - started,
    }
    return EditResult(
        images,
        "" if guide is None else guide.text,  # MGIE's, on whichever side of a pair it rendered
        seeds,
        models,
        timings,
        steered=bool(guide and guide.steered),
        emitted_image_tokens=bool(guide is None or guide.emitted_image_tokens),
        params=settings,
    )


class _Renders:
    """The renders of one job, by whichever engine renders them."""

    def __init__(
        self,
        engine: MgieEngine,
        job: EditJob,
        guide: Instruction | None,
        started: float,
        progress: JobProgress | None,
        cancel: threading.Event | None,
    ):
        self.engine, self.job, self.guide = engine, job, guide
        self.started, self.progress, self.cancel = started, progress, cancel

    def main(self) -> tuple[list[Any], list[int], list[EditParams]]:
        """The job's own renders: one per sweep cell (one after another: the pipelines take one
        guidance at a time), or one per seed in a single batch."""
        job = self.job
        if job.sweep is not None:
            cells = job.sweep.cells(job.params)
            images, settings = [], []
            for index, cell in enumerate(cells):
                image, used = self.one(job.model, cell, [cell.seed], index, len(cells))
                images += image
                settings.append(used)
            return images, [cell.seed for cell in cells], settings
        seeds = [(job.params.seed + i) % (int(SEED.high) + 1) for i in range(max(1, job.variations))]
        images, used = self.one(job.model, job.params, seeds, 0, 1)
        return images, seeds, [replace(used, seed=seed) for seed in seeds]

    def one(
        self, model: str, params: EditParams, seeds: list[int], index: int, count: int
    ) -> tuple[list[Any], EditParams]:
        """``model``'s renders of ``params`` for each seed, and the settings they were made with."""
        job, engine = self.job, self.engine
        step = _counted(self.progress, self.started, index, count)
        if model == "klein":
            return engine.render_klein(
                job.image, job.instruction, params, seeds, step, self.cancel, finish=job.finish, mask=job.mask
            )
        plain = model == "ip2p"
        assert plain or self.guide is not None, "MGIE renders from the LLM half"
        images = engine.render_variations(
            job.image,
            None if plain or self.guide is None else self.guide.conditioning,
            params,
            seeds,
            step,
            self.cancel,
            finish=job.finish,
            mask=job.mask,
            plain_text=job.instruction.strip() if plain else None,
        )
        return images, params


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
