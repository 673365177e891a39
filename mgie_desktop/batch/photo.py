"""Editing one photo of a batch: its chain from the recipe (seeds per the recipe's policy), run
through core.chain as ``edit`` runs it, saved as an export is (EXIF, ICC, transparency, the
edit record). The same ``PhotoEditor`` serves the local loop and each Ray actor."""

from __future__ import annotations

import contextlib
import errno
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mgie_desktop.batch.failure import failure_text
from mgie_desktop.batch.folder import PhotoJob, attempt_marker
from mgie_desktop.batch.results import FAILED, OK, append_result, recipe_digest
from mgie_desktop.batch.review import Rerender
from mgie_desktop.batch.space import OutputDiskFull, disk_full
from mgie_desktop.core.chain import ChainStep, run_chain
from mgie_desktop.core.errors import InputError, ModelFilesError
from mgie_desktop.core.recipe import Recipe, geometry_for, parse_recipe
from mgie_desktop.core.step_params import ENGINE_NAMES

if TYPE_CHECKING:  # torch: imported where photos are edited, not where the CLI parses its options
    from mgie_desktop.engine.loading import BundleParts

WORKER_STOPPED = (
    "its worker stopped while editing it (out of memory, or a crash): not tried again in this "
    "run; a rerun tries it again"
)


def chain_for(
    recipe: Recipe, masks: dict, photo_name: str, size: tuple[int, int], rerender: Rerender | None = None
) -> list[ChainStep]:
    """The recipe's steps for the photo called ``photo_name`` of ``size`` (crops in its pixels).
    ``rerender`` (a person's review): every edit step gets its seed, and its expressive
    instruction steers the last edit step."""
    steps = []
    last_edit = max((i for i, s in enumerate(recipe.steps) if s.geometry is None), default=-1)
    for index, step in enumerate(recipe.steps):
        if step.geometry is not None:
            op = geometry_for(step.geometry, size)
            size = _size_after(op, size)
            steps.append(ChainStep(geometry=op))
            continue
        params, expressive = step.params_for(photo_name), step.steered_instruction or None
        if rerender is not None and rerender.seed is not None:
            params = replace(params, seed=rerender.seed)
        if rerender is not None and rerender.expressive and index == last_edit:
            expressive = rerender.expressive
        steps.append(
            ChainStep(
                step.instruction,
                params,
                expressive=expressive,
                mask=masks.get(index),
                model=step.model,
                strength=step.strength,
            )
        )
    return steps


def check_rerender(recipe: Recipe, rerender: Rerender) -> None:
    """A person's expressive instruction steers MGIE: a recipe whose last edit is plain
    InstructPix2Pix or FLUX.2 [klein] (which read the instruction themselves) cannot take one."""
    edits = [s for s in recipe.steps if s.geometry is None]
    if rerender.expressive and (not edits or edits[-1].model != "mgie"):
        who = ENGINE_NAMES[edits[-1].model] if edits else "no engine"
        raise InputError(
            f"the recipe's last edit is {who}'s, which takes no expressive instruction: "
            "ask for another seed instead"
        )


def engines_of(recipe: Recipe) -> frozenset[str]:
    """The engines (core.step_params.MODEL_NAMES) a recipe's edit steps render with."""
    return frozenset(s.model for s in recipe.steps if s.geometry is None)


def bundle_parts(engines: frozenset[str]) -> BundleParts:
    """What a batch loads for ``engines``: MGIE's 7B LLM only when a step asks MGIE; plain
    InstructPix2Pix alone loads its own model and the shared VAE; FLUX.2 [klein] alone loads
    nothing of MGIE. The other engines join when first asked for (``MgieEngine.plain_pipeline``,
    ``MgieEngine.klein_model``)."""
    from mgie_desktop.engine.loading import BundleParts  # torch

    if "mgie" in engines:
        return BundleParts.MGIE
    return BundleParts.PLAIN if "ip2p" in engines else BundleParts.KLEIN


def _size_after(op: dict, size: tuple[int, int]) -> tuple[int, int]:
    if op["op"] == "rotate" and op["degrees"] in (90, 270):
        return size[1], size[0]
    if op["op"] == "crop":
        left, top, right, bottom = op["box"]
        return right - left, bottom - top
    return size


class PhotoEditor:
    """One engine (loaded once) and one recipe; ``edit`` does a photo and appends its results line."""

    recipe_file = ""  # the recipe's path, recorded in each line for the review window's rerun command

    def __init__(
        self,
        recipe_data: dict,
        models_dir: str,
        fmt: str,
        results_path: str,
        engine_options: dict,
        recipe_file: str = "",
    ):
        from mgie_desktop.core.masks import mask_from_text
        from mgie_desktop.engine.inventory import bundle_identity
        from mgie_desktop.engine.pipeline import MgieEngine  # torch: only where photos are edited

        self.recipe = parse_recipe(recipe_data)
        self.masks = {i: mask_from_text(s.mask) for i, s in enumerate(self.recipe.steps) if s.mask}
        self.digest = recipe_digest(recipe_data, fmt)
        self.results_path = Path(results_path)
        self.recipe_file = recipe_file
        self.models = bundle_identity(Path(models_dir))
        self.engine = MgieEngine(
            Path(models_dir), **engine_options, parts=bundle_parts(engines_of(self.recipe))
        )

    def edit(self, job: PhotoJob, photo=None, read_error: str = "", read_s: float = 0.0) -> dict:
        """Edit ``job``'s photo (``photo``: already read; ``read_error``: reading it failed) and
        record the outcome. A photo that fails is recorded as failed; the models being broken, or
        the disk under the outputs full, is no one photo's fault and is raised. A photo whose
        last attempt took its worker down (Ray restarts the worker, reloading the models, and
        tries the photo again) is recorded as failed, not edited again only to take the worker
        down again."""
        marker = attempt_marker(job)
        try:
            return self._edit_and_record(job, photo, read_error, read_s, marker)
        finally:  # skipped only when the worker dies: then the marker tells the next attempt
            with contextlib.suppress(OSError):
                marker.unlink(missing_ok=True)

    def _edit_and_record(self, job: PhotoJob, photo, read_error: str, read_s: float, marker: Path) -> dict:
        started = time.perf_counter() - read_s
        try:
            done = self._attempt(job, photo, read_error, marker)
        except (ModelFilesError, OutputDiskFull):
            raise  # unrecorded: a rerun does this photo again
        except Exception as exc:  # noqa: BLE001 (this photo failed; the batch goes on)
            return self.record(job, started, error=failure_text(exc))
        return self.record(job, started, **done)

    def record(self, job: PhotoJob, started: float, error: str | None = None, **done) -> dict:
        """Append ``job``'s results line: done (``done``: what its edit adds) or failed for
        ``error`` (also for a failure outside its edit, such as a Ray worker's)."""
        entry = {
            "photo": job.name,
            "status": OK if error is None else FAILED,
            "output": job.output,
            "seconds": round(time.perf_counter() - started, 3),
            "expressive_instructions": [],
            "seeds": [],
            "error": error,
            "recipe": self.digest,
            "source": job.path,
            "recipe_file": self.recipe_file,
            **done,
        }
        if job.rerender is not None:  # review.settle knows the request made by this
            entry["rerender"] = job.rerender.to_json()
        entry["finished"] = round(time.time(), 3)  # when: throughput over a run, across workers
        append_result(self.results_path, entry)
        return entry

    def _attempt(self, job: PhotoJob, photo, read_error: str, marker: Path) -> dict:
        """The photo edited and saved, marked as being edited meanwhile (a worker that dies
        leaves the marker behind); what its results line adds."""
        if job.clash:
            raise ValueError(
                f"{job.clash} in the same folder has the same name and writes {Path(job.output).name}"
            )
        if marker.exists():
            raise RuntimeError(WORKER_STOPPED)
        marker.touch()
        if read_error:
            raise ValueError(read_error)
        return self._edit(job, photo if photo is not None else read_photo(job.path))

    def _edit(self, job: PhotoJob, photo) -> dict:
        from mgie_desktop.core.document import chain_photo
        from mgie_desktop.core.edit_record import edit_record

        if job.rerender is not None:
            check_rerender(self.recipe, job.rerender)
        steps = chain_for(self.recipe, self.masks, job.name, photo.rgb.size, job.rerender)
        history, _image, records = run_chain(self.engine, photo.rgb, steps, finish=self.recipe.finish)
        try:  # as the window exports: transparency turned as the steps turned, own space and depth
            _save(job, chain_photo(photo, history), record=edit_record(history, models=self.models))
        finally:
            history.close()
        edits = [s for s in steps if s.geometry is None]
        return {
            "expressive_instructions": [r["expressive_instruction"] for r in records],
            "seeds": [s.params.seed for s in edits],
            "models": [s.model for s in edits],  # the engine of each edit (the contact sheet says it)
        }


def _save(job: PhotoJob, photo, **kwargs) -> None:
    """Write the output; a full disk or quota becomes OutputDiskFull, which stops the batch."""
    from mgie_desktop.core import imaging

    try:
        imaging.save_photo(photo, Path(job.output), **kwargs)
    except Exception as exc:
        full = disk_full(exc)
        if full is None:
            raise
        pixels = photo.rgb.width * photo.rgb.height * (4 if photo.alpha is not None else 3)
        raise OutputDiskFull(job.name, job.output, full.errno != errno.ENOSPC, pixels) from None


def read_photo(path: str):
    """The photo as ``edit`` reads it (core.imaging.load_photo; InputError when it cannot be used)."""
    from mgie_desktop.core.imaging import load_photo

    photo = load_photo(Path(path))
    return replace(photo, path=None)  # travels between Ray workers: no local path inside
