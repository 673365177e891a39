"""The batch on Ray: the same recipe, results file and resume rules, spread over an actor pool.

Ray Data runs it as a stream: the list of photos still to do (from the driver, which knows what
the results file says is done) -> ``map(_read)``: photos read and decoded in parallel tasks ->
``map_batches(_Editor)``: a pool of actors, each loading the models once (one GPU each where the
cluster has GPUs) and editing one photo at a time; each actor saves its outputs and appends their
results lines itself. The driver only counts the lines as they come back, for the progress line.
Whatever fails for one photo in a worker becomes that photo's results line (``failure``), never a
task error: Ray Data would end the whole batch with it, and print its traceback.

Paths (the input and output folders, ``--models``) must mean the same on every node: on a
cluster, a shared file system. Ray is imported only here, inside functions: it is an optional
extra (``pip install 'mgie-desktop[cluster]'``).
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from pathlib import Path

from mgie_desktop.batch.failure import failure_text
from mgie_desktop.batch.folder import PhotoJob
from mgie_desktop.batch.local import StopAfterCurrent
from mgie_desktop.batch.photo import PhotoEditor, read_photo
from mgie_desktop.batch.progress import Progress
from mgie_desktop.batch.space import KEY as DISK_FULL
from mgie_desktop.batch.space import OutputDiskFull
from mgie_desktop.core.errors import InputError, MgieError

INSTALL_HINT = "--ray needs Ray: pip install 'mgie-desktop[cluster]'"
READ_CPUS = 0.25
FATAL = "fatal"  # a worker's row saying why the batch cannot go on (results unwritable, models broken)


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _read(row: dict) -> dict:
    """One photo read and decoded (a Ray task): the Photo pickled, or why it cannot be read."""
    started = time.perf_counter()
    photo, error = b"", ""
    if not row["clash"]:
        try:
            photo = pickle.dumps(read_photo(row["path"]), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 (recorded by the actor as this photo's failure)
            error = failure_text(exc)
    return {**row, "photo": photo, "error": error, "read_s": time.perf_counter() - started}


class _Editor:
    """One per actor: the models loaded once, then a photo per call."""

    def __init__(
        self,
        recipe_data: dict,
        models_dir: str,
        fmt: str,
        results_path: str,
        engine_options: dict,
        threads: int = 0,
        recipe_file: str = "",
    ):
        if threads:
            import torch

            torch.set_num_threads(threads)  # the actor's share of the node's cores
        self.editor = PhotoEditor(
            recipe_data, models_dir, fmt, results_path, engine_options, recipe_file=recipe_file
        )

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        lines = [json.dumps(self._one(batch, i)) for i in range(len(batch["name"]))]
        return {"entry": np.array(lines, dtype=object)}

    def _one(self, batch: dict, i: int) -> dict:
        """One photo's results line, or a fatal row. Nothing is raised: from here Ray Data would
        end the whole batch with its traceback."""
        job = PhotoJob.from_row({key: column[i] for key, column in batch.items() if key in PhotoJob.COLUMNS})
        started = time.perf_counter() - float(batch["read_s"][i])
        try:
            try:
                data = batch["photo"][i]
                return self.editor.edit(
                    job,
                    photo=pickle.loads(data) if data else None,
                    read_error=str(batch["error"][i] or ""),
                    read_s=float(batch["read_s"][i]),
                )
            except MgieError:
                raise
            except Exception as exc:  # noqa: BLE001 (outside the photo's own edit: still this photo's failure)
                return self.editor.record(job, started, error=failure_text(exc))
        except OutputDiskFull as exc:  # the driver rebuilds it, to say what room the rest need
            return {FATAL: str(exc), DISK_FULL: exc.row()}
        except MgieError as exc:  # the batch stops (results unwritable, models broken)
            return {FATAL: str(exc)}


def _connect(address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local Ray instance; True when this call
    started Ray (and so shuts it down). An instance already running in this process is used."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        # Ship this package to the workers, so every node edits with the driver's code
        # (torch and the other dependencies must be installed on the nodes).
        package = str(Path(__file__).resolve().parents[1])
        ray.init(
            address=address,
            runtime_env={"py_modules": [package]},
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    return True


def run_on_ray(
    address: str | None,
    jobs: list[PhotoJob],
    recipe_data: dict,
    models_dir: str,
    fmt: str,
    results_path: str,
    engine_options: dict,
    actors: int | None,
    progress: Progress,
    recipe_file: str = "",
) -> dict:
    """Edit ``jobs`` over a Ray actor pool. Returns {"interrupted", "entries", "actors", "gpus"}."""
    if not ray_available():
        raise InputError(INSTALL_HINT)
    import ray

    print(
        "starting Ray…" if not address else f"connecting to the Ray cluster at {address}…",
        file=sys.stderr,
        flush=True,
    )
    started_here = _connect(address)
    try:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        actors = actors or max(1, gpus)  # one engine per GPU; on CPUs one engine uses all the cores
        if gpus and actors > gpus:
            raise InputError(f"--actors {actors} needs {actors} GPUs; the cluster has {gpus}")
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts photos, with the time left
        context.print_on_execution_start = False
        # Its notes would break the progress line, and its errors repeat ours with a traceback.
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        # Reading a photo is light next to editing it: a quarter of a core each, two per actor at a
        # time (unbounded, Ray would start a worker process per photo). On CPUs an actor gets the
        # rest of its share of the cores, and as many torch threads.
        threads = 0 if gpus else max(1, round(cpus / actors))
        per_actor = {"num_gpus": 1} if gpus else {"num_cpus": max(0.5, cpus / actors - READ_CPUS)}
        rows = [job.row() for job in jobs]
        dataset = (
            ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
            .map(
                _read,
                num_cpus=READ_CPUS,
                compute=ray.data.TaskPoolStrategy(size=max(1, min(2 * actors, len(rows)))),
            )
            .map_batches(
                _Editor,
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2),
                fn_constructor_kwargs={
                    "recipe_data": recipe_data,
                    "models_dir": models_dir,
                    "fmt": fmt,
                    "results_path": results_path,
                    "engine_options": engine_options,
                    "threads": threads,
                    "recipe_file": recipe_file,
                },
                **per_actor,
            )
        )
        entries = []
        progress.start()
        try:
            with StopAfterCurrent() as stop:
                for row in dataset.iter_rows():
                    entry = json.loads(row["entry"])
                    if DISK_FULL in entry:
                        raise OutputDiskFull.from_row(entry[DISK_FULL])
                    if FATAL in entry:
                        raise InputError(entry[FATAL])
                    entries.append(entry)
                    progress.photo_done(entries[-1])
                    if stop.requested:
                        break
        except MgieError:
            raise
        except Exception as exc:  # noqa: BLE001 (Ray's own: no photo to pin it on, so the batch stops)
            raise InputError(
                f"the batch on Ray stopped: {failure_text(exc)} (finished photos are kept: rerun to go on)"
            ) from None
        finally:
            progress.finish()
        return {
            "interrupted": stop.requested and len(entries) < len(jobs),
            "entries": entries,
            "actors": actors,
            "gpus": gpus,
        }
    finally:
        if started_here:
            ray.shutdown()
