"""``mgie-desktop batch RECIPE IN OUT --watch``: a watched folder. The models load once; then
the folder is looked at every quarter of ``settle`` seconds (at most every second: polling, no
dependency), and each photo that lands in it is edited once it is complete.

Complete: not empty, and its size and modification time the same at two looks ``settle``
seconds apart, and no partial download beside it (``NAME.part``, ``NAME.crdownload``...: a
browser can make an empty NAME first and fill NAME.part). Hidden names (``.NAME``), partial
names (``*.part``, ``*.crdownload``, ``*.download``, ``*.tmp``, ``~$*``...) and subfolders are
never read. A photo goes through what a batch does to it (``photo.PhotoEditor``, the same
results file and resume rules): one recorded as done for this recipe is not edited again, after
a restart too; a failed one is tried again when its file changes (copied again).

With ``move_done`` each original goes into ``IN/done/`` once its edit is saved and recorded, a
failed one into ``IN/failed/`` with the reason beside it in ``IN/failed/NAME.txt`` (a name
already there gets `` (2)``, `` (3)``... before its suffix).

Ctrl+C or SIGTERM stops once the photo under way is saved and recorded; a second one stops at
once, abandoning it (outputs are written whole or not at all, and results lines whole, so it
has neither; the next run edits it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mgie_desktop.batch.folder import PhotoJob, is_photo_name, output_for
from mgie_desktop.batch.results import OK, is_done, read_results

DEFAULT_SETTLE = 2.0
PARTIAL_SUFFIXES = (
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".opdownload",
    ".filepart",
    ".tmp",
    ".temp",
    ".!ut",
    ".!qb",
)
PARTIAL_PREFIXES = (".", "~$")
DONE_FOLDER, FAILED_FOLDER = "done", "failed"
MOST_SECONDS_BETWEEN_LOOKS = 1.0


def is_partial_name(name: str) -> bool:
    """A file still being written, or not a photo of the person's: hidden, a download or an
    editor's temporary."""
    return name.startswith(PARTIAL_PREFIXES) or name.lower().endswith(PARTIAL_SUFFIXES)


def looks_between(settle: float) -> float:
    """Seconds between two looks at the folder."""
    return min(max(settle / 4, 0.02), MOST_SECONDS_BETWEEN_LOOKS)


@dataclass
class _Seen:
    signature: tuple[int, int]  # size, modification time (ns)
    since: float  # when it was first seen so


@dataclass
class Arrivals:
    """The photos of ``folder`` that are complete and not yet handled, as each look finds them."""

    folder: Path
    settle: float
    clock: object = time.monotonic
    seen: dict[str, _Seen] = field(default_factory=dict)
    handled: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: its file when handled

    def look(self) -> list[tuple[str, tuple[int, int]]]:
        """(name, signature) of each photo complete at this look, in name order."""
        now = self.clock()
        try:
            names = {entry.name: entry for entry in os.scandir(self.folder)}
        except OSError:  # the folder gone or unreadable for a moment: look again later
            return []
        being_written = {
            name[: -len(suffix)]
            for name in names
            for suffix in PARTIAL_SUFFIXES
            if name.lower().endswith(suffix)
        }
        for name in list(self.seen):
            if name not in names:
                del self.seen[name]
        ready = []
        for name in sorted(names):
            if is_partial_name(name) or not is_photo_name(name):
                continue
            try:
                if not names[name].is_file(follow_symlinks=True):
                    continue  # a subfolder (done/, failed/) or something else
                st = names[name].stat(follow_symlinks=True)
            except OSError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            if self.handled.get(name) == signature:
                continue
            seen = self.seen.get(name)
            if seen is None or seen.signature != signature:
                self.seen[name] = _Seen(signature, now)
                continue
            if (
                signature[0] > 0
                and now - seen.since >= self.settle
                and name not in being_written
                and _readable(self.folder / name)
            ):
                ready.append((name, signature))
        return ready

    def handle(self, name: str, signature: tuple[int, int]) -> None:
        self.handled[name] = signature
        self.seen.pop(name, None)


def _readable(path: Path) -> bool:
    """Windows refuses to open a file another program is still writing."""
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


class StopSignals:
    """Ctrl+C or SIGTERM sets ``event``: stop once the photo under way is saved and recorded. A
    second one stops at once (KeyboardInterrupt), abandoning it."""

    def __init__(self, event: threading.Event):
        self.event = event
        self.under_way = lambda: None  # the photo being edited, if any: what the stop waits for
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, _signum, _frame) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        name = self.under_way()
        print(
            f"\nstopping once {name} is saved and recorded (Ctrl+C again stops now, abandoning it)"
            if name
            else "\nstopping",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *_exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


@dataclass
class WatchOptions:
    input_dir: Path
    output_dir: Path
    results: Path
    fmt: str
    digest: str
    settle: float = DEFAULT_SETTLE
    move_done: bool = False
    json: bool = False


class Watcher:
    """Edits what lands in ``options.input_dir`` with ``editor`` (a loaded PhotoEditor) until
    ``stop`` is set. ``run`` returns the counts: {"done", "failed", "skipped", "outputs"}."""

    def __init__(self, editor, options: WatchOptions, stop: threading.Event, out=None):
        self.editor, self.options, self.stop = editor, options, stop
        self.out = out or sys.stdout
        self.arrivals = Arrivals(options.input_dir, options.settle)
        self.latest = read_results(options.results)
        # output name: the photo that made it (first come, first served; never overwritten by another)
        self.taken = {
            Path(e["output"]).name: name
            for name, e in self.latest.items()
            if e.get("status") == OK and isinstance(e.get("output"), str)
        }
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self.outputs: list[str] = []
        self.waiting = 0  # photos complete at the last look, not yet handled
        self.under_way: str | None = None  # the photo being edited

    def run(self) -> dict:
        o = self.options
        self.tell(
            {
                "event": "watching",
                "input_dir": str(o.input_dir),
                "output_dir": str(o.output_dir),
                "results": str(o.results),
                "settle": o.settle,
                "move_done": o.move_done,
            },
            f"watching {o.input_dir} for photos (complete once unchanged for {o.settle:g} s); outputs in "
            f"{o.output_dir}; Ctrl+C stops",
        )
        while not self.stop.is_set():
            ready = self.arrivals.look()
            self.waiting = len(ready)
            for name, signature in ready:
                if self.stop.is_set():
                    break
                self.arrivals.handle(name, signature)
                self.waiting -= 1
                self._one(name, signature)
            self.stop.wait(looks_between(o.settle))
        return {**self.counts, "outputs": list(self.outputs)}

    def _one(self, name: str, signature: tuple[int, int]) -> None:
        o = self.options
        path = o.input_dir / name
        if not path.is_file():
            return  # taken away again before its turn
        output = output_for(path, o.output_dir, o.fmt)
        owner = self.taken.get(output.name, name)
        job = PhotoJob(name, str(path), str(output), owner if owner != name else "")
        if is_done(self.latest.get(name), job.output, o.digest):
            self.counts["skipped"] += 1
            moved = self._move(path, DONE_FOLDER) if o.move_done else None
            self.tell(
                {"event": "skipped", "photo": name, "output": job.output, "moved_to": moved},
                f"skipped: {name}: already done (results file){_moved(moved)}",
            )
            return
        self.tell(
            {"event": "landed", "photo": name, "bytes": signature[0]},
            f"landed: {name} ({_size(signature[0])})",
        )
        self.under_way = name
        try:  # a photo's failure is its results line; the disk full or the models broken stop the watch
            entry = self.editor.edit(job)
        finally:
            self.under_way = None
        self.latest[name] = entry
        ok = entry["status"] == OK
        if ok:
            self.counts["done"] += 1
            self.taken[output.name] = name
            self.outputs.append(job.output)
        else:
            self.counts["failed"] += 1
        moved = reason = None
        if o.move_done:
            moved = self._move(path, DONE_FOLDER if ok else FAILED_FOLDER)
            if not ok and moved is not None:
                reason = self._write_reason(Path(moved), entry["error"])
        event = {"event": "done" if ok else "failed", **entry, "moved_to": moved}
        if not ok:
            event["reason_file"] = reason
        line = (
            f"done: {name} -> {job.output} ({entry['seconds']:.1f} s){_moved(moved)}"
            if ok
            else f"failed: {name}: {entry['error']}{_moved(moved)}"
        )
        self.tell(event, line)

    def _move(self, path: Path, folder: str) -> str | None:
        """``path`` into ``IN/folder/`` under a name not taken there; None (and a warning) if it
        cannot be moved (the results file still says what happened to it)."""
        target_dir = path.parent / folder
        try:
            target_dir.mkdir(exist_ok=True)
            target, number = target_dir / path.name, 2
            while target.exists():
                target, number = target_dir / f"{path.stem} ({number}){path.suffix}", number + 1
            os.rename(path, target)  # the same file system: a subfolder of the photo's
        except OSError as exc:
            from mgie_desktop.core.files import os_reason

            print(
                f"warning: cannot move {path.name} into {target_dir}: {os_reason(exc)}",
                file=sys.stderr,
                flush=True,
            )
            return None
        return str(target)

    def _write_reason(self, moved: Path, error: str) -> str | None:
        from mgie_desktop.core.errors import InputError
        from mgie_desktop.core.files import atomic_write

        reason = moved.with_name(f"{moved.name}.txt")
        text = f"{error}\n".encode()
        try:
            atomic_write(reason, lambda fh: fh.write(text), f"the reason {reason}")
        except InputError as exc:
            print(f"warning: {exc}", file=sys.stderr, flush=True)
            return None
        return str(reason)

    def tell(self, event: dict, line: str) -> None:
        print(json.dumps(event, ensure_ascii=False) if self.options.json else line, file=self.out, flush=True)


def _moved(moved: str | None) -> str:
    return f"; moved to {moved}" if moved else ""


def _size(size: int) -> str:
    return f"{size / 1024:,.1f} KB" if size < 1024**2 else f"{size / 1024**2:,.1f} MB"


def run_watch(
    options: WatchOptions,
    recipe_data: dict,
    models_dir: str,
    engine_options: dict,
    stop: threading.Event | None = None,
) -> dict:
    """Load the models, then watch until Ctrl+C, SIGTERM or ``stop``. Returns the Watcher's
    counts. A full disk under the outputs stops it with one line (InputError), as it stops a batch."""
    from mgie_desktop.batch.photo import PhotoEditor
    from mgie_desktop.batch.space import OutputDiskFull, stop_line
    from mgie_desktop.core.errors import InputError

    stop = stop or threading.Event()
    with StopSignals(stop) as signals:  # before the models load: Ctrl+C while they load stops cleanly too
        print(f"loading the models from {models_dir}…", file=sys.stderr, flush=True)
        editor = PhotoEditor(recipe_data, models_dir, options.fmt, str(options.results), engine_options)
        watcher = Watcher(editor, options, stop)
        signals.under_way = lambda: watcher.under_way
        if stop.is_set():
            return {**watcher.counts, "outputs": []}
        try:
            return watcher.run()
        except OutputDiskFull as exc:  # no one photo's fault: the photos left would all fail the same way
            raise InputError(stop_line(exc, watcher.outputs, watcher.waiting + 1)) from None
