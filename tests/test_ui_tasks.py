"""BackgroundTasks: file work off the GUI thread, results back on it, in order."""

import threading
import time

import pytest
from PySide6.QtCore import QThread

from mgie_desktop.ui.tasks import BackgroundTasks


def test_one_worker_runs_tasks_in_order_and_delivers_on_the_gui_thread(qtbot):
    tasks = BackgroundTasks(workers=1)
    gui = QThread.currentThread()
    ran, delivered = [], []

    def slow(n):
        time.sleep(0.02 if n == 0 else 0)  # the first is slowest: order must not depend on speed
        ran.append((n, threading.current_thread() is threading.main_thread()))
        return n * 10

    for n in range(4):
        tasks.run(
            slow,
            n,
            on_done=lambda r: delivered.append((r, QThread.currentThread() is gui)),
            on_error=pytest.fail,
        )
    qtbot.waitUntil(lambda: len(delivered) == 4, timeout=5000)
    assert ran == [(0, False), (1, False), (2, False), (3, False)]  # in order, off the GUI thread
    assert delivered == [(0, True), (10, True), (20, True), (30, True)]
    assert not tasks.busy
    tasks.shutdown()


def test_errors_reach_on_error_and_work_after_shutdown_is_refused(qtbot):
    tasks = BackgroundTasks(workers=2)
    errors = []

    def broken():
        raise OSError("disk unplugged")

    tasks.run(broken, on_done=pytest.fail, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], OSError) and "unplugged" in str(errors[0])
    tasks.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        tasks.run(broken, on_done=pytest.fail, on_error=pytest.fail)
