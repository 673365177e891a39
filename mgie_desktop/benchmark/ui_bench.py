"""Window start-up against a bare PySide6 window, and the event loop's longest stall while an
edit runs. Each measurement runs in a fresh interpreter (offscreen) so imports count."""

from __future__ import annotations

import json
import os
import statistics
import time

from mgie_desktop.benchmark.fresh_python import run_script

BARE = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1]); w = QMainWindow(); w.resize(1400, 880); w.show()
QTimer.singleShot(0, lambda: (print(time.time(), flush=True), app.quit()))
app.exec()
"""

OURS = """
import sys, time
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from mgie_desktop.ui.main_window import MainWindow
from mgie_desktop.ui.theme import apply_theme
app = QApplication(sys.argv[:1]); apply_theme(app)
w = MainWindow(Path(sys.argv[1]), "cpu"); w.show()
QTimer.singleShot(0, lambda: (print(time.time(), flush=True), w.close(), app.quit()))
app.exec()
"""

STALL = """
import sys, time
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from mgie_desktop.ui.main_window import MainWindow
app = QApplication(sys.argv[:1])
w = MainWindow(Path(sys.argv[1]), "cpu"); w.show()
gaps, last, state = [], [time.perf_counter()], {"measuring": False}
def tick():
    now = time.perf_counter()
    if state["measuring"]:
        gaps.append(now - last[0])
    last[0] = now
timer = QTimer(interval=5); timer.timeout.connect(tick); timer.start()
def start():
    if w.model_state != "ready" or w.document.history is None:
        return QTimer.singleShot(50, start)
    w.panel.steps.setValue(int(sys.argv[3]))
    w.panel.instruction.setPlainText("make the sky a sunset")
    state["measuring"] = True
    w.edits.apply_edit()
    poll()
def poll():  # on the GUI thread: a lambda on the worker's signal would run in the worker
    if len(w.document.history) < 2:
        return QTimer.singleShot(20, poll)
    print(json.dumps({"max_stall_ms": max(gaps) * 1000, "ticks": len(gaps)}), flush=True)
    w.ask_to_save_on_quit = False  # the edit is unsaved: closing would ask
    w.close(); app.quit()
import json
w.open_path(Path(sys.argv[2]))
QTimer.singleShot(0, start)
app.exec()
"""


def _env() -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed app runs from compiled bytecode
    return env


def _time_to_window(script: str, *args: str) -> float:
    started = time.time()
    out = run_script(script, *args, timeout=300, env=_env())
    return float(out.strip().splitlines()[-1]) - started


def window_ratio(models_dir: str, runs: int = 5) -> dict:
    _time_to_window(BARE), _time_to_window(OURS, models_dir)  # unmeasured: compiles bytecode, warms caches
    bare = statistics.median(_time_to_window(BARE) for _ in range(runs))
    ours = statistics.median(_time_to_window(OURS, models_dir) for _ in range(runs))
    return {"bare_s": bare, "ours_s": ours, "ratio": ours / bare}


def max_stall(models_dir: str, photo: str, steps: int = 10) -> dict:
    out = run_script(STALL, models_dir, photo, str(steps), timeout=600, env=_env())
    return json.loads(out.strip().splitlines()[-1])
