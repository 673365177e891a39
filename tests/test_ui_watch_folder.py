"""File › Watch Folder… (ui/watch_folder.py): the command line's watcher run from the window as a
child process, its queue and results shown as they land, the window's models let go meanwhile."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings

from mgie_desktop.core.history import History
from mgie_desktop.core.params import PRESETS
from mgie_desktop.core.recipe import recipe_from_history, save_recipe
from mgie_desktop.core.step_params import StepParams
from mgie_desktop.ui.watch_dialog import WatchFolderDialog
from mgie_desktop.ui.watch_folder import WatchEvent, WatchFolder, WatchSettings, watch_arguments

WAIT = 120_000  # the child loads torch and the tiny models, then edits


def _photo(seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _recipe(folder: Path) -> Path:
    history = History()
    history.start(Image.new("RGB", (64, 48)))
    settings = replace(PRESETS["draft"], steps=1, pixel_budget=64 * 64)
    history.push(Image.new("RGB", (64, 48)), instruction="make it warmer", params=StepParams.edit(settings))
    try:
        path = folder / "warmer.json"
        save_recipe(recipe_from_history(history), path)
    finally:
        history.close()
    return path


def test_the_dialog_checks_what_it_is_given_and_remembers_it(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dialog = WatchFolderDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.chosen() is None and "recipe" in dialog.problem.text()
    dialog.recipe.setText(str(_recipe(tmp_path)))
    (tmp_path / "in").mkdir()
    dialog.input_dir.setText(str(tmp_path / "in"))
    dialog.output_dir.setText(str(tmp_path / "in"))
    assert dialog.chosen() is None and "not the one watched" in dialog.problem.text()
    dialog.output_dir.setText(str(tmp_path / "out"))
    dialog.move_done.setChecked(True)
    chosen = dialog.chosen()
    assert chosen == WatchSettings(tmp_path / "warmer.json", tmp_path / "in", tmp_path / "out", 2.0, True)
    again = WatchFolderDialog(settings)
    qtbot.addWidget(again)
    assert again.chosen() == chosen  # remembered for next time
    arguments = watch_arguments(chosen, tmp_path / "models", "cpu")
    assert arguments[:5] == [
        "batch",
        str(chosen.recipe),
        str(chosen.input_dir),
        str(chosen.output_dir),
        "--watch",
    ]
    assert "--json" in arguments and "--move-done" in arguments


def test_a_watched_folder_edits_what_lands_and_the_window_s_models_come_back(qtbot, tmp_path, tiny_models):
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    engine = []
    watch_folder = WatchFolder(
        settings,
        lambda: tiny_models,
        "cpu",
        lambda: engine.append("paused"),
        lambda: engine.append("resumed"),
        host,
    )
    inside, out = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    (inside / "first.png").write_bytes(_photo(1))
    heard = []
    watch_folder.watch.event.connect(lambda kind, data: heard.append((kind, data)))
    watch_folder.start(WatchSettings(_recipe(tmp_path), inside, out, settle=0.3, move_done=True))
    assert engine == ["paused"] and watch_folder.watch.running
    panel = watch_folder.panel
    qtbot.waitUntil(lambda: any(kind is WatchEvent.DONE for kind, _ in heard), timeout=WAIT)
    (inside / "second.png").write_bytes(_photo(2))  # lands while it watches
    qtbot.waitUntil(lambda: panel.counts[WatchEvent.DONE] == 2, timeout=WAIT)
    texts = [panel.photos.item(i).text() for i in range(panel.photos.count())]
    assert texts[0].startswith("✓ done  second.png") and texts[1].startswith("✓ done  first.png")
    qtbot.waitUntil(lambda: not panel.photos.item(0).icon().isNull(), timeout=WAIT)  # the result, small
    assert (out / "first.jpg").is_file() and (inside / "done" / "second.png").is_file()
    assert "Watching" in panel.heading.text()
    with qtbot.waitSignal(watch_folder.watch.ended, timeout=WAIT) as ended:
        panel.stop_button.click()
    assert ended.args == [""] and not watch_folder.watch.running  # asked to stop: no complaint
    assert engine == ["paused", "resumed"] and panel.heading.text() == "Stopped watching"


def test_a_watcher_that_cannot_run_says_why_and_gives_the_models_back(qtbot, tmp_path):
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    engine = []
    watch_folder = WatchFolder(
        QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        lambda: tmp_path / "no-models",
        "cpu",
        lambda: engine.append("paused"),
        lambda: engine.append("resumed"),
        host,
    )
    (tmp_path / "in").mkdir()
    recipe = tmp_path / "broken.json"
    recipe.write_text("{not json")
    with qtbot.waitSignal(watch_folder.watch.ended, timeout=WAIT) as ended:
        watch_folder.start(WatchSettings(recipe, tmp_path / "in", tmp_path / "out", 2.0))
    why = ended.args[0]
    assert "broken.json" in why and "Traceback" not in why
    assert engine == ["paused", "resumed"] and why in watch_folder.panel.heading.text()


def test_the_window_lends_its_models_to_the_watch_and_takes_them_back(
    qtbot, tmp_path, tiny_models, photo_path
):
    from test_ui import TIMEOUT, make_window, open_photo

    from mgie_desktop.ui.engine_state import EngineState

    window = make_window(qtbot, tmp_path, tiny_models)
    entries = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "&Watch Folder…" in entries
    open_photo(qtbot, window, photo_path)
    window.edits.pause_engine()  # what the watch does as it starts
    assert window.model_state is EngineState.PAUSED
    qtbot.waitUntil(lambda: window.edits.worker._engine is None, timeout=TIMEOUT)  # on the engine's thread
    window.panel.instruction.setPlainText("make it warmer")
    window.edits.apply_edit()
    assert "watched folder" in window.panel.notice.text() and window.document.running is None
    window.edits.resume_engine()  # the watch stopped
    qtbot.waitUntil(lambda: window.model_state is EngineState.READY, timeout=TIMEOUT)
    window.panel.instruction.setPlainText("make it warmer")
    window.edits.apply_edit()
    qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)


def test_batch_results_open_as_a_contact_sheet_from_the_file_menu(qtbot, tmp_path, tiny_models, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    from test_ui import TIMEOUT, make_window

    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_args: str(results))
    entry = next(a for a in window.menuBar().actions()[0].menu().actions() if "Batch Results" in a.text())
    entry.trigger()
    sheet = window.documents.batch_results
    qtbot.waitUntil(lambda: sheet.isVisible(), timeout=TIMEOUT)
    assert sheet.folder == results and sheet.windowTitle() == "Batch results: results"
    sheet.close()


def test_models_chosen_or_installed_during_a_watch_wait_for_it_to_end(qtbot, tmp_path, tiny_models):
    from test_ui import TIMEOUT, make_window

    from mgie_desktop.ui.engine_state import EngineState

    window = make_window(qtbot, tmp_path, tiny_models)
    window.edits.pause_engine()
    qtbot.waitUntil(lambda: window.edits.worker._engine is None, timeout=TIMEOUT)
    window.on_models_installed()  # the model manager finished meanwhile: not a second copy now
    assert window.model_state is EngineState.PAUSED
    qtbot.wait(300)
    assert window.edits.worker._engine is None
    window.edits.resume_engine()
    qtbot.waitUntil(lambda: window.model_state is EngineState.READY, timeout=TIMEOUT)


def test_a_watcher_killed_from_outside_is_said_so(qtbot, tmp_path, tiny_models):
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    engine = []
    watch_folder = WatchFolder(
        QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        lambda: tiny_models,
        "cpu",
        lambda: engine.append("paused"),
        lambda: engine.append("resumed"),
        host,
    )
    (tmp_path / "in").mkdir()
    watch_folder.start(WatchSettings(_recipe(tmp_path), tmp_path / "in", tmp_path / "out", 2.0))
    qtbot.waitUntil(lambda: watch_folder.watch.process.processId() > 0, timeout=WAIT)
    with qtbot.waitSignal(watch_folder.watch.ended, timeout=WAIT) as ended:
        watch_folder.watch.process.kill()  # as an out-of-memory killer would
    assert "ended unexpectedly" in ended.args[0] and engine == ["paused", "resumed"]


def test_settings_from_a_damaged_session_come_into_range_in_the_panel(qtbot):
    from mgie_desktop.core.params import EditParams
    from mgie_desktop.ui.edit_panel import EditPanel

    panel = EditPanel()
    qtbot.addWidget(panel)
    panel.load_params(EditParams(steps=2**40, seed=-5, text_guidance=1e9, image_guidance=0.0))
    assert (panel.steps.value(), panel.seed.value()) == (500, 0)
    assert (panel.text_guidance.value(), panel.image_guidance.value()) == (30.0, 1.0)
    assert not panel.steps.signalsBlocked() and panel.params().steps == 500
