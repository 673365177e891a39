"""The window, driven with pytest-qt on tiny models (offscreen)."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from mgie_desktop.ui.main_window import MainWindow

TIMEOUT = 60_000


def _no_question(window):
    """At a test's end the window closes as at logout: no "save the changes?" question to answer."""
    window.ask_to_save_on_quit = False


def make_window(qtbot, tmp_path, models, ready=True):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(models, "cpu", settings=settings, autosave_folder=tmp_path / "autosave")
    qtbot.addWidget(window, before_close_func=_no_question)
    window.show()
    if ready:
        qtbot.waitUntil(lambda: window.model_state == "ready", timeout=TIMEOUT)
    window.panel.preset.setCurrentText("draft")
    window.panel.steps.setValue(3)
    return window


def open_photo(qtbot, window, path):
    window.open_path(path)
    qtbot.waitUntil(lambda: window.document.history is not None, timeout=TIMEOUT)


def start_long_edit(qtbot, tmp_path, models, photo_path, steps=200):
    """A window with a long edit under way (its first step done)."""
    window = make_window(qtbot, tmp_path, models)
    open_photo(qtbot, window, photo_path)
    window.panel.steps.setValue(steps)
    window.panel.instruction.setPlainText("slow edit")
    window.edits.apply_edit()
    qtbot.waitUntil(lambda: window.panel.progress.value() >= 1, timeout=TIMEOUT)
    return window


def open_photo_named(qtbot, window, path):
    """Open ``path`` while another document is open (its unsaved work let go: Don't Save): wait for
    that one to be in place."""
    window.open_path(path)
    if window.documents.save_box is not None:
        window.documents.save_box.button(window.documents.save_box.StandardButton.Discard).click()
    qtbot.waitUntil(
        lambda: window.document.doc is not None and window.document.doc.name == path.name, timeout=TIMEOUT
    )


def apply(qtbot, window, text):
    window.panel.instruction.setPlainText(text)
    before = len(window.document.history)
    qtbot.keyClick(window.panel.instruction, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.document.history) == before + 1, timeout=TIMEOUT)


def entries(window):
    return [window.history_panel.item(i).text() for i in range(window.history_panel.count())]


def test_edit_shows_result_history_and_expressive_instruction(qtbot, tmp_path, emitting_models, photo_path):
    window = make_window(qtbot, tmp_path, emitting_models)
    open_photo(qtbot, window, photo_path)
    assert window.windowTitle() == "beach.png"  # Qt adds " — MGIE Desktop" (the display name) once
    assert window.panel.instruction.hasFocus() or window.panel.instruction.isVisible()
    apply(qtbot, window, "make the sky a sunset")
    assert window.panel.expressive.text() == "The sky will be orange."
    assert any("make the sky a sunset" in e and "The sky will be orange." in e for e in entries(window))
    assert window.document.history.image().size == (96, 64)
    assert window.windowTitle().endswith("•")
    step = window.document.history.current
    assert step.params.render.steps == 3 and step.params.render.scheduler == "dpmpp_2m"


def test_undo_redo_and_branching(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "first")
    apply(qtbot, window, "second")
    second = window.document.history.current.id
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.history.current.instruction == "first"
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.document.history.current.id == second
    window.document.go_to(0)  # back to the original, then edit: a new branch
    apply(qtbot, window, "other idea")
    assert [s.instruction for s in window.document.history.children(0)] == ["first", "other idea"]
    assert len(window.document.history) == 4 and window.history_panel.count() == 4
    window.document.go_to(second)  # every branch stays reachable
    assert window.document.history.current.instruction == "second"


def test_cancel_mid_edit_leaves_history_untouched(qtbot, tmp_path, tiny_models, photo_path):
    window = start_long_edit(qtbot, tmp_path, tiny_models, photo_path)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    # Wait for the window's own handling, not the worker's signal: qtbot's waitSignal callback
    # runs on the engine thread at once, before the queued slot has updated the window.
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)
    assert window.statusBar().currentMessage().startswith("Edit cancelled")
    assert len(window.document.history) == 1 and not window.panel.progress.isVisible()
    window.panel.steps.setValue(2)
    apply(qtbot, window, "quick edit")  # the engine is still usable
    assert window.document.history.current.instruction == "quick edit"


def test_rerender_reuses_the_instruction_with_new_settings(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "warmer")
    first = window.document.history.current
    window.panel.seed.setValue(99)
    window.panel.rerender_button.click()
    qtbot.waitUntil(lambda: len(window.document.history) == 3, timeout=TIMEOUT)
    again = window.document.history.current
    assert again.parent == first.parent and again.instruction == "warmer"
    assert again.params.render.seed == 99 and again.timings["instruct_s"] == 0.0
    assert (
        window.document.history.image(again.id).tobytes() != window.document.history.image(first.id).tobytes()
    )


def test_export_and_drag_and_drop(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_path))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.document.history is not None, timeout=TIMEOUT)
    apply(qtbot, window, "cooler")
    out, small = tmp_path / "export.jpg", tmp_path / "small.jpg"
    window.documents.export_to(out)
    qtbot.waitUntil(lambda: window.documents.last_export == out, timeout=TIMEOUT)
    assert Image.open(out).size == (96, 64)
    window.panel.export_quality.setValue(50)
    window.documents.export_to(small)
    qtbot.waitUntil(lambda: window.documents.last_export == small, timeout=TIMEOUT)
    assert small.stat().st_size < out.stat().st_size


def test_no_models_still_opens_photos_and_explains(qtbot, tmp_path, photo_path):
    window = make_window(qtbot, tmp_path, tmp_path / "no-models", ready=False)
    qtbot.waitUntil(lambda: window.model_state == "not installed", timeout=TIMEOUT)
    open_photo(qtbot, window, photo_path)
    apply_text = "make it pop"
    window.panel.instruction.setPlainText(apply_text)
    window.edits.apply_edit()
    assert "No MGIE models" in window.panel.notice.text() and window.panel.notice.isVisible()
    assert len(window.document.history) == 1
    window.panel.notice.linkActivated.emit("#models")  # the notice leads to the model manager
    assert window._model_manager.isVisible()


def test_bad_file_gives_a_message_and_keeps_the_work(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    window.open_path(bad)
    qtbot.waitUntil(lambda: getattr(window, "last_error", None) is not None, timeout=TIMEOUT)
    assert "broken.jpg" in window.last_error
    assert window.document.doc.name == photo_path.name and len(window.document.history) == 1


def test_quit_during_an_edit_joins_the_thread(qtbot, tmp_path, tiny_models, photo_path):
    window = start_long_edit(qtbot, tmp_path, tiny_models, photo_path)
    window.close()
    assert window.edits.engine_thread.isFinished()
    assert not [t for t in threading.enumerate() if t.name.startswith("history-writer")]


def test_quit_while_the_models_load_stops_the_load(qtbot, tmp_path, tiny_models, monkeypatch):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPVisionModel

    reading_vision, unet_reads = threading.Event(), []
    real_vision = CLIPVisionModel.from_pretrained.__func__

    def slow_vision(cls, *args, **kwargs):  # a part that takes a while, as 13 GB would
        reading_vision.set()
        time.sleep(0.5)
        return real_vision(cls, *args, **kwargs)

    monkeypatch.setattr(CLIPVisionModel, "from_pretrained", classmethod(slow_vision))
    monkeypatch.setattr(
        UNet2DConditionModel, "from_pretrained", classmethod(lambda cls, *a, **k: unet_reads.append(a))
    )
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    qtbot.waitUntil(reading_vision.is_set, timeout=TIMEOUT)
    window.close()
    assert window.edits.engine_thread.isFinished()
    assert unet_reads == []  # the parts after the one being read were never started


def test_session_save_reopen_and_autosave(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.panel.seed.setValue(4242)
    apply(qtbot, window, "warmer")
    window.panel.seed.setValue(7)
    apply(qtbot, window, "brighter")
    window.document.undo()
    assert window.panel.seed.value() == 4242  # the settings follow the step: Re-render repeats it
    qtbot.waitUntil(
        lambda: (tmp_path / "autosave").exists() and any((tmp_path / "autosave").rglob("session.json")),
        timeout=TIMEOUT,
    )
    session = tmp_path / "work.mgie"
    window.documents.save_session_to(session)
    qtbot.waitUntil(lambda: session.exists() and not window.document.modified, timeout=TIMEOUT)
    assert window.windowTitle() == "work.mgie"
    window.close()

    again = make_window(qtbot, tmp_path / "second", tiny_models)
    again.open_path(session)
    qtbot.waitUntil(lambda: again.document.history is not None, timeout=TIMEOUT)
    assert [s.instruction for s in again.document.history.steps] == ["", "warmer", "brighter"]
    assert again.document.history.current.instruction == "warmer" and again.document.history.can_redo
    assert again.history_panel.count() == 3
    assert again.recent.paths()[0] == str(session)
    assert again.panel.seed.value() == 4242 and again.panel.steps.value() == 3  # the reopened step's settings


CRASHING_APP = """
import os, sys
from PIL import Image
from mgie_desktop.core.history import History
from mgie_desktop.core.autosave import Autosaver
from mgie_desktop.core.session import SourceMeta
history = History(); history.start(Image.new("RGB", (32, 24), (10, 20, 30)))
history.push(Image.new("RGB", (32, 24), (200, 20, 30)), instruction="make it red", expressive_instruction="Red.")
Autosaver(sys.argv[1]).save(history, SourceMeta(name="crashed.jpg"))
os._exit(9)  # no clean close: like a crash or kill -9
"""


def test_a_crashed_session_is_offered_and_restored(qtbot, tmp_path, tiny_models):
    folder = tmp_path / "autosave"
    subprocess.run([sys.executable, "-c", CRASHING_APP, str(folder)], check=False, timeout=120)
    window = make_window(qtbot, tmp_path, tiny_models)
    qtbot.waitUntil(lambda: window.documents.recovery_box is not None, timeout=TIMEOUT)
    assert "crashed.jpg" in window.documents.recovery_box.text()
    window.documents.recovery_box.button(window.documents.recovery_box.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: window.document.history is not None, timeout=TIMEOUT)
    assert window.document.history.current.instruction == "make it red"
    assert window.document.history.image().getpixel((0, 0)) == (200, 20, 30)
    assert window.panel.expressive.text() == "Red."


def test_discarding_recovered_work_asks_once_more_before_deleting_it(qtbot, tmp_path, tiny_models):
    from PySide6.QtWidgets import QMessageBox

    from mgie_desktop.core.autosave import find_recoverable

    folder = tmp_path / "autosave"
    subprocess.run([sys.executable, "-c", CRASHING_APP, str(folder)], check=False, timeout=120)
    for answer in ("Cancel", "Delete"):
        window = make_window(qtbot, tmp_path, tiny_models, ready=False)
        qtbot.waitUntil(lambda w=window: w.documents.recovery_box is not None, timeout=TIMEOUT)
        assert "with 1 edit." in window.documents.recovery_box.text()  # the original photo is not an edit
        box = window.documents.recovery_box
        box.button(QMessageBox.StandardButton.Discard).click()
        qtbot.waitUntil(lambda w=window: w.documents.discard_box is not None, timeout=TIMEOUT)
        confirm = window.documents.discard_box
        assert "for good" in confirm.text()
        [button] = [b for b in confirm.buttons() if b.text() == answer]
        button.click()
        if answer == "Cancel":  # kept: offered again at the next start
            assert len(find_recoverable(folder)) == 1
        else:
            qtbot.waitUntil(lambda: find_recoverable(folder) == [], timeout=TIMEOUT)
        window.close()


def test_variations_render_several_seeds_and_keep_the_chosen_one(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.panel.instruction.setPlainText("make it autumn")
    window.panel.seed.setValue(100)
    window.panel.variation_count.setValue(3)
    window.panel.variations_button.click()
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    picker = window.edits.variations_picker
    assert [b.text() for b in picker.buttons] == ["seed 100", "seed 101", "seed 102"]
    assert len(window.document.history) == 1  # nothing kept until the user picks
    assert window.statusBar().currentMessage().startswith("3 variations rendered in")
    picker.buttons[2].click()  # shows it large; keeping is a separate choice
    assert picker.shown == 2 and len(window.document.history) == 1
    picker.keep_button.click()
    assert len(window.document.history) == 2
    assert window.document.history.current.params.render.seed == 102
    assert window.panel.seed.value() == 102  # the kept variation's settings: Re-render repeats it
    assert window.document.history.current.instruction == "make it autumn"
    # The picker is gone (it deletes itself on close): opening the next photo must not touch it.
    qtbot.waitUntil(lambda: window.edits.variations_picker is None, timeout=TIMEOUT)
    second = tmp_path / "second.png"
    Image.new("RGB", (40, 30), "navy").save(second)
    open_photo_named(qtbot, window, second)
    assert window.document.doc.name == "second.png" and len(window.document.history) == 1


def test_variations_of_a_step_never_repeat_its_own_seed_and_marked_ones_show(
    qtbot, tmp_path, tiny_models, photo_path
):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.panel.seed.setValue(50)
    apply(qtbot, window, "make it autumn")
    assert window.panel.seed.value() == 50
    window.panel.instruction.setPlainText("")  # variations of the current step, from its parent
    window.panel.variation_count.setValue(2)
    window.panel.variations_button.click()
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    picker = window.edits.variations_picker
    assert picker.seeds == [51, 52]  # seed 50 is the step itself: a variation would repeat it
    picker.keep_box.toggle()
    assert picker.buttons[0].text().startswith("✓ keep") and "border" in picker.buttons[0].styleSheet()
    assert picker.buttons[1].styleSheet() == ""
    picker.reject()


def test_re_render_leaves_the_focus_in_the_instruction_box_not_on_the_variation_count(
    qtbot, tmp_path, tiny_models, photo_path
):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "warmer")
    window.activateWindow()
    window.panel.rerender_button.setFocus()
    qtbot.waitUntil(window.panel.rerender_button.hasFocus, timeout=TIMEOUT)
    window.panel.rerender_button.click()
    qtbot.waitUntil(lambda: window.document.running is not None, timeout=TIMEOUT)
    assert not window.panel.variation_count.hasFocus() and window.panel.instruction.hasFocus()
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)


def test_difference_view_and_hold_to_compare(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "sharper")
    window.difference_action.trigger()
    qtbot.waitUntil(lambda: window.compare_view.showing_difference, timeout=TIMEOUT)
    qtbot.keyPress(window, Qt.Key.Key_Backslash)
    assert window.compare_view.comparing and window.statusBar().currentMessage().startswith("Before")
    qtbot.keyRelease(window, Qt.Key.Key_Backslash)
    assert not window.compare_view.comparing
    qtbot.keyPress(window, Qt.Key.Key_Backslash, Qt.KeyboardModifier.ShiftModifier)
    assert window.statusBar().currentMessage().startswith("Original")
    qtbot.keyRelease(window, Qt.Key.Key_Backslash, Qt.KeyboardModifier.ShiftModifier)


def test_opening_another_photo_mid_edit_keeps_the_edit_out_of_it(qtbot, tmp_path, tiny_models, photo_path):
    window = start_long_edit(qtbot, tmp_path, tiny_models, photo_path, steps=60)
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 30), (10, 200, 10)).save(other)
    open_photo_named(qtbot, window, other)
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=TIMEOUT)
    assert len(window.document.history) == 1 and not window.panel.progress.isVisible()
    window.panel.steps.setValue(2)
    apply(qtbot, window, "edit of the second photo")
    assert [s.instruction for s in window.document.history.steps] == ["", "edit of the second photo"]
    assert window.document.history.image().size == (40, 30)


def test_unsaved_work_stays_recoverable_after_closing(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "never saved")
    window.quit_keeping_work()  # logout or SIGTERM: no question, the autosave keeps the work
    from mgie_desktop.core.autosave import find_recoverable

    found = find_recoverable(tmp_path / "autosave")
    assert len(found) == 1 and found[0].current_instruction == "never saved"


def test_opening_another_photo_over_unsaved_work_asks_first(qtbot, tmp_path, tiny_models, photo_path):
    from PySide6.QtWidgets import QMessageBox

    from mgie_desktop.core.autosave import find_recoverable

    buttons = QMessageBox.StandardButton
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "warmer")
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 30), (10, 200, 10)).save(other)
    window.open_path(other)
    box = window.documents.save_box
    assert box is not None and "before opening other.png" in box.text()
    box.button(buttons.Cancel).click()
    assert window.document.doc.name == photo_path.name and window.document.modified  # nothing happened
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    window.open_path(broken)
    window.documents.save_box.button(buttons.Discard).click()
    qtbot.waitUntil(lambda: getattr(window, "last_error", None) is not None, timeout=TIMEOUT)
    assert window.document.doc.name == photo_path.name and not window.documents.discard_on_close  # work kept
    open_photo_named(qtbot, window, other)  # Don't Save: the other photo, and the old work let go
    qtbot.waitUntil(lambda: find_recoverable(tmp_path / "autosave") == [], timeout=TIMEOUT)


def _answer_quit(qtbot, window, button):
    window.close()
    qtbot.waitUntil(lambda: window.documents.save_box is not None, timeout=TIMEOUT)
    window.documents.save_box.button(button).click()


def test_quit_with_unsaved_work_asks_and_each_answer_does_what_it_says(
    qtbot, tmp_path, tiny_models, photo_path
):
    from PySide6.QtWidgets import QMessageBox

    from mgie_desktop.core.autosave import find_recoverable
    from mgie_desktop.core.session import open_session

    buttons = QMessageBox.StandardButton
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "warmer")
    assert "beach.png" in window.windowTitle()
    _answer_quit(qtbot, window, buttons.Cancel)
    assert window.isVisible() and window.document.modified  # nothing happened
    assert window.documents.save_box is None or not window.documents.save_box.isVisible()

    session = tmp_path / "kept.mgie"  # Save: saved where the session lives, then closed, nothing left over
    window.document.doc.session_path = session
    _answer_quit(qtbot, window, buttons.Save)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    opened = open_session(session, tmp_path / "work")
    assert [s.instruction for s in opened.history.steps] == ["", "warmer"]
    opened.history.close()
    assert find_recoverable(tmp_path / "autosave") == []

    again = make_window(qtbot, tmp_path, tiny_models)  # Don't Save: closed, and nothing offered next time
    open_photo(qtbot, again, photo_path)
    apply(qtbot, again, "cooler")
    _answer_quit(qtbot, again, buttons.Discard)
    qtbot.waitUntil(lambda: not again.isVisible(), timeout=TIMEOUT)
    assert find_recoverable(tmp_path / "autosave") == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_sigterm_closes_the_app_cleanly(tmp_path, tiny_models, photo_path):
    """Logout or `kill` close the window as the user would: a clean exit, and an untouched
    photo leaves no autosave behind (a killed app would leave one and offer recovery)."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mgie_desktop",
            "--models",
            str(tiny_models),
            "--device",
            "cpu",
            str(photo_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    autosaves = tmp_path / "data" / "mgie-desktop" / "autosave"
    deadline = time.monotonic() + 60
    while not list(autosaves.glob("*/session.json")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the photo is open once its autosave exists
    assert list(autosaves.glob("*/session.json")), (
        app.stderr.read() if app.poll() is not None else "no autosave"
    )
    app.send_signal(signal.SIGTERM)
    _out, err = app.communicate(timeout=60)
    assert app.returncode == 0, err
    assert not list(autosaves.glob("*/session.json"))  # closed cleanly: nothing to recover


def test_the_status_bar_says_why_the_engine_edits_on_the_cpu(
    qtbot, tmp_path, tiny_models, photo_path, monkeypatch
):
    """auto without a usable GPU: the model label says so in one line, and keeps saying it after an edit."""
    import torch

    from mgie_desktop.engine.devices import gpu_status

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # any machine, a GPU or not
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(tiny_models, "auto", settings=settings, autosave_folder=tmp_path / "autosave")
    qtbot.addWidget(window, before_close_func=_no_question)
    window.show()
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=TIMEOUT)
    why = f"editing on the CPU: {gpu_status().text}"
    assert why in window.model_label.text() and why in window.model_label.toolTip()
    assert "\n" not in window.model_label.text()
    window.panel.preset.setCurrentText("draft")
    window.panel.steps.setValue(2)
    open_photo(qtbot, window, photo_path)
    window.panel.instruction.setPlainText("make it pop")
    window.edits.apply_edit()
    qtbot.waitUntil(
        lambda: len(window.document.history) == 2 and window.model_state == "ready", timeout=TIMEOUT
    )
    assert why in window.model_label.text()
