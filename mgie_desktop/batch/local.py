"""The batch on this machine: the engine loaded once, the photos one after another."""

from __future__ import annotations

import signal
import sys
import threading
import time

from mgie_desktop.batch.folder import PhotoJob
from mgie_desktop.batch.photo import PhotoEditor
from mgie_desktop.batch.progress import Progress


class StopAfterCurrent:
    """Ctrl+C asks to stop once the photo being edited is saved and recorded (a half-edited
    photo is worth nothing; the finished ones are kept); a second Ctrl+C stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopAfterCurrent:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, _signum, _frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after the current photo (Ctrl+C again stops now)", file=sys.stderr, flush=True)

    def __exit__(self, *_exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run_local(
    jobs: list[PhotoJob],
    recipe_data: dict,
    models_dir: str,
    fmt: str,
    results_path: str,
    engine_options: dict,
    progress: Progress,
    recipe_file: str = "",
) -> dict:
    """Edit ``jobs`` in order. Returns {"load_s", "interrupted", "entries"}."""
    begun = time.perf_counter()
    print(f"loading the models from {models_dir}…", file=sys.stderr, flush=True)
    editor = PhotoEditor(recipe_data, models_dir, fmt, results_path, engine_options, recipe_file=recipe_file)
    load_s = time.perf_counter() - begun
    entries = []
    progress.start()
    try:
        with StopAfterCurrent() as stop:
            for job in jobs:
                if stop.requested:
                    break
                entries.append(editor.edit(job))
                progress.photo_done(entries[-1])
    finally:
        progress.finish()
    return {
        "load_s": load_s,
        "interrupted": stop.requested and len(entries) < len(jobs),
        "entries": entries,
        "device": str(editor.engine.device),
    }
