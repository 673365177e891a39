"""File work off the GUI thread: run a function on a pool thread, get the result back on
the GUI thread through a queued signal (never a callback run from the pool thread)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot


class BackgroundTasks(QObject):
    _done = Signal(int, object, object)  # task id, result, exception

    def __init__(self, parent=None, workers: int = 2):
        super().__init__(parent)
        # A pool of its own, not the global one: drain() and shutdown() wait for this work only.
        # Its queue runs first in, first out, so with one worker tasks run one at a time, in order.
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(workers)
        # Qt's default thread stack is 512 KiB on macOS; decoders and deep pickles want what
        # Python's own threads get there.
        self._pool.setStackSize(16 * 2**20)
        self._callbacks: dict[int, tuple[Callable, Callable]] = {}
        self._ids = itertools.count()
        self._closed = False
        self._done.connect(self._deliver)

    def run(self, fn: Callable, *args, on_done: Callable, on_error: Callable) -> None:
        if self._closed:  # work after shutdown() would run with nobody to deliver its result to
            raise RuntimeError("background tasks were shut down")
        task = next(self._ids)
        self._callbacks[task] = (on_done, on_error)

        def work():
            try:
                self._done.emit(task, fn(*args), None)
            except Exception as exc:  # delivered to on_error on the GUI thread
                self._done.emit(task, None, exc)

        self._pool.start(work)

    @property
    def busy(self) -> bool:
        return bool(self._callbacks)

    def drain(self) -> None:
        """Wait until every submitted task has run (their callbacks follow as queued events)."""
        self._pool.waitForDone()

    @Slot(int, object, object)
    def _deliver(self, task: int, result, error) -> None:
        on_done, on_error = self._callbacks.pop(task)
        if self._closed:  # the window is gone: nothing left to show the result in
            return
        if error is None:
            on_done(result)
        else:
            on_error(error)

    def shutdown(self) -> None:
        """Finish queued work (a save the user asked for must not be dropped), then stop."""
        self._closed = True
        self._pool.waitForDone()
