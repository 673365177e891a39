"""What a photographer tripped over in an afternoon of retouching (issue 17), each driven
through the real window with pytest-qt on tiny models."""

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QScrollArea
from test_ui import TIMEOUT, apply, make_window, open_photo

from mgie_desktop.ui.canvas import EMPTY_HINT
from mgie_desktop.ui.menus import shortcut_rows


def save_and_reopen(qtbot, window, folder, models):
    """Save the window's session, and open it in a second window (models not waited for)."""
    session = folder / "work.mgie"
    window.documents.save_session_to(session)
    qtbot.waitUntil(lambda: not window.document.modified, timeout=TIMEOUT)
    again = make_window(qtbot, folder / "again", models, ready=False)
    again.open_path(session)
    qtbot.waitUntil(lambda: again.document.history is not None, timeout=TIMEOUT)
    return again


def rendered(qtbot, window, count):
    qtbot.waitUntil(
        lambda: len(window.document.history) == count and window.document.running is None, timeout=TIMEOUT
    )


def test_ctrl_z_after_an_edit_undoes_the_edit_not_the_typing(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.activateWindow()
    box = window.panel.instruction
    box.setFocus()
    qtbot.keyClicks(box, "warmer")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    rendered(qtbot, window, 2)
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.history.current.is_root  # the edit was undone...
    assert box.toPlainText() == "warmer"  # ...and the typing kept
    qtbot.keyClick(box, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.document.history.current.instruction == "warmer"
    # Once the text is changed, Ctrl+Z in the box undoes the typing again.
    qtbot.keyClicks(box, "!")
    qtbot.keyClick(box, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert box.toPlainText() != "warmer!"  # the typing was undone (Qt merges it into one step)...
    assert window.document.history.current.instruction == "warmer"  # ...and the edit kept


def test_selecting_a_step_loads_its_settings_and_any_step_re_renders(
    qtbot, tmp_path, tiny_models, photo_path
):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.panel.steps.setValue(2)
    window.panel.seed.setValue(41)
    apply(qtbot, window, "first")
    first = window.document.history.current
    window.panel.steps.setValue(4)
    window.panel.seed.setValue(77)
    apply(qtbot, window, "second")
    again = save_and_reopen(qtbot, window, tmp_path, tiny_models)
    qtbot.waitUntil(lambda: again.model_state == "ready", timeout=TIMEOUT)
    again.history_panel.step_chosen.emit(first.id)  # as a click on its entry does
    assert again.panel.steps.value() == 2 and again.panel.seed.value() == 41
    assert again.panel.preset.currentText() == "custom"
    assert again.panel.rerender_button.isEnabled()
    again.panel.seed.setValue(42)
    again.panel.rerender_button.click()  # nothing cached in this window: the LLM half runs again
    rendered(qtbot, again, 4)
    redo = again.document.history.current
    assert redo.parent == first.parent and redo.instruction == "first"
    assert redo.params.render.seed == 42 and redo.params.render.steps == 2 and redo.timings["instruct_s"] > 0


def test_preset_says_custom_once_a_setting_differs(qtbot, tmp_path, tiny_models):
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    panel = window.panel
    panel.preset.setCurrentText("balanced")
    panel.steps.setValue(26)
    assert panel.preset.currentText() == "custom"
    panel.steps.setValue(25)
    assert panel.preset.currentText() == "balanced"
    panel.seed.setValue(5)  # a seed is not a quality setting
    assert panel.preset.currentText() == "balanced"
    assert panel.params().scheduler == "dpmpp_2m"


def test_variations_of_the_current_step_are_siblings_and_several_can_be_kept(
    qtbot, tmp_path, tiny_models, photo_path
):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "more contrast")
    edited = window.document.history.current
    window.panel.variation_count.setValue(3)
    window.panel.steps.setValue(2)
    window.panel.variations_button.click()  # the box still reads "more contrast": alternatives to it
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    picker = window.edits.variations_picker
    assert picker.canvas.has_image and picker.canvas.width() > 300  # shown large, not as a thumbnail
    qtbot.keyClick(picker, Qt.Key.Key_Right)
    assert picker.shown == 1
    qtbot.keyClick(picker, Qt.Key.Key_Space)
    qtbot.keyClick(picker, Qt.Key.Key_Right)
    qtbot.keyClick(picker, Qt.Key.Key_Space)
    qtbot.keyPress(picker, Qt.Key.Key_Backslash)
    assert picker.comparing
    qtbot.keyRelease(picker, Qt.Key.Key_Backslash)
    picker.keep_button.click()
    kept = [s for s in window.document.history.children(edited.parent) if s.id != edited.id]
    assert len(kept) == 2 and all(s.instruction == "more contrast" for s in kept)
    # Variations of a step start after its own seed (the first would repeat it): the 2nd and 3rd kept.
    assert {s.params.render.seed for s in kept} == {
        edited.params.render.seed + 2,
        edited.params.render.seed + 3,
    }
    assert (
        window.document.history.current.params.render.seed == edited.params.render.seed + 3
    )  # the one on screen when kept
    # A new instruction's variations start from the current step.
    window.panel.instruction.setPlainText("add snow")
    window.panel.variation_count.setValue(2)
    window.panel.variations_button.click()
    qtbot.waitUntil(
        lambda: window.edits.variations_picker is not None and window.edits.variations_picker.isVisible(),
        timeout=TIMEOUT,
    )
    current = window.document.history.current.id
    window.edits.variations_picker.keep_button.click()
    assert window.document.history.current.parent == current


def test_live_preview_draws_over_the_photo_at_its_zoom(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.canvas.actual_size()
    window.edits.worker.preview.disconnect()  # only the preview sent below reaches the window
    window.panel.steps.setValue(200)
    window.panel.instruction.setPlainText("slow edit")
    window.edits.apply_edit()
    qtbot.waitUntil(lambda: window.panel.progress.value() >= 1, timeout=TIMEOUT)
    from mgie_desktop.ui.images import to_qimage

    window.edits.on_preview(window.document.running.job_id, to_qimage(Image.new("RGB", (12, 8), "red")))
    assert window.canvas.zoom == 1.0 and window.zoom_label.text() == "100 %"
    assert window.canvas.showing_preview
    covered = window.canvas._preview.sceneBoundingRect()
    assert (round(covered.width()), round(covered.height())) == (96, 64)  # the photo's own size
    window.edits.cancel_edit()
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)
    assert not window.canvas.showing_preview and window.canvas.zoom == 1.0


def test_long_text_wraps_and_nothing_is_clipped(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    scroll = window.panel.parentWidget().parentWidget()
    assert isinstance(scroll, QScrollArea)
    width_before = scroll.width(), window.history_panel.width()
    long_word = "supercalifragilistic" * 12
    text = f"The sky will be a deep {long_word} orange with " + "very " * 60 + "warm light."
    window.document.history.push(
        window.document.history.image(), instruction=long_word, expressive_instruction=text
    )
    window.document.go_to(window.document.history.current.id)
    QApplication.processEvents()
    assert window.panel.expressive.text() == text
    assert not scroll.horizontalScrollBar().isVisible()
    assert not window.history_panel.horizontalScrollBar().isVisible()
    assert (scroll.width(), window.history_panel.width()) == width_before
    button = window.panel.rerender_button
    assert button.visibleRegion().boundingRect().size() == button.size()  # not clipped


def test_instruction_length_is_counted_and_a_too_long_one_refused(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    panel = window.panel
    assert panel.instruction_limit is not None and panel.instruction_limit.max_tokens > 100
    panel.instruction.setPlainText("a little warmer, " * 8)
    assert panel.meter.isVisibleTo(panel) and "short instructions" in panel.meter.text()
    panel.instruction.setPlainText("make the sky a sunset")
    assert not panel.meter.isVisibleTo(panel)
    panel.instruction.setPlainText("x" * 5000)
    assert "the model can read at most" in panel.meter.text()
    window.edits.apply_edit()
    assert (
        window.document.running is None and len(window.document.history) == 1
    )  # refused before anything ran
    assert "Shorten it" in panel.notice.text()


def test_title_hint_notice_and_help(qtbot, tmp_path, photo_path):
    window = make_window(qtbot, tmp_path, tmp_path / "no-models", ready=False)
    qtbot.waitUntil(lambda: window.model_state == "not installed", timeout=TIMEOUT)
    assert window.windowTitle() == "MGIE Desktop"
    notice = window.panel.notice.text()
    assert "models download" in notice and "about 17.8 GB" in notice
    assert notice.count("not installed") + notice.count("No MGIE models") == 1  # said once
    grab = window.canvas.grab().toImage()
    light = sum(
        QColor(grab.pixel(x, y)).lightness() > 100
        for x in range(0, grab.width(), 3)
        for y in range(0, grab.height(), 3)
    )
    assert light > 20, f"the empty canvas shows no hint ({EMPTY_HINT!r})"
    rows = dict((what, keys) for keys, what in shortcut_rows(window))
    assert "Ctrl+Z" in rows["Undo"] and "Ctrl+E" in rows["Export Image…"] and "Show the step before" in rows
    open_photo(qtbot, window, photo_path)
    grab = window.canvas.grab().toImage()
    assert grab.pixelColor(grab.width() // 2, grab.height() // 2) != QColor(24, 24, 24)


def test_export_keeps_the_caption_and_records_the_whole_chain(qtbot, tmp_path, tiny_models, photo):
    from mgie_desktop.core.edit_record import record_from_xmp
    from mgie_desktop.ui.document_actions import export_name

    exif = Image.Exif()
    exif[0x010E] = "Holiday, day one"
    source = tmp_path / "holiday.jpg"
    photo.save(source, exif=exif)
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, source)
    apply(qtbot, window, "warmer")
    window.panel.seed.setValue(7)
    apply(qtbot, window, "add snow")
    assert export_name(window.document.doc.source.name) == "holiday-edited.jpg"
    assert export_name("scan.heic") == "scan-edited.png"  # a format we cannot write: PNG
    out = tmp_path / "holiday-edited.jpg"
    window.documents.export_to(out)
    qtbot.waitUntil(lambda: window.documents.last_export == out, timeout=TIMEOUT)
    with Image.open(out) as im:
        assert im.getexif()[0x010E] == "Holiday, day one"
        record = record_from_xmp(im.info["xmp"])
    assert [s["instruction"] for s in record["steps"]] == ["warmer", "add snow"]
    assert record["steps"][1]["settings"]["seed"] == 7 and record["steps"][0]["expressive_instruction"]
    assert record["models"]["bundle"] and record["models"]["llava"] == "LLaVA-7B-v1"


def test_strength_blends_the_edit_with_its_source_live_and_is_kept(qtbot, tmp_path, tiny_models, photo_path):
    import numpy as np

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    assert not window.panel.strength.isEnabled()  # the original has no strength, and the slider says so
    assert "original photo" in window.panel.strength.toolTip()
    apply(qtbot, window, "more contrast")
    step, history = window.document.history.current, window.document.history
    assert window.panel.strength.isEnabled() and window.panel.strength.value() == 100
    window.canvas.actual_size()
    window.panel.strength.setValue(40)  # as a drag does: live on the canvas, no render
    assert window.canvas.blending and window.document.running is None
    assert window.canvas.zoom == 1.0
    qtbot.waitUntil(lambda: not window.canvas.blending, timeout=TIMEOUT)  # settles into the history
    assert history.strength(step.id) == 0.4 and window.panel.strength_label.text() == "Strength 40 %"
    source = np.asarray(history.image(step.parent), dtype=float)
    render = np.asarray(history.rendered(step.id), dtype=float)
    assert np.abs(np.asarray(history.image(), dtype=float) - (0.6 * source + 0.4 * render)).max() <= 1
    again = save_and_reopen(qtbot, window, tmp_path, tiny_models)
    assert again.document.history.strength(again.document.history.current.id) == 0.4
    assert again.panel.strength.value() == 40
    assert again.document.history.image().tobytes() == history.image().tobytes()
    again.close()  # its shortcuts would take the keys sent to the first window
    # A step with later edits keeps its strength: those edits were made from it as it was.
    apply(qtbot, window, "add snow")
    window.document.go_to(step.id)
    assert not window.panel.strength.isEnabled() and "Later edits" in window.panel.strength.toolTip()


def test_ctrl_z_undoes_a_strength_drag_before_it_undoes_the_edit(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "more contrast")
    step, history = window.document.history.current, window.document.history
    full = history.image().tobytes()
    for value in (80, 60, 30):  # one drag
        window.panel.strength.setValue(value)
    window.panel.strength.sliderReleased.emit()
    assert history.strength(step.id) == 0.3 and window.menu_actions.undo.isEnabled()
    window.menu_actions.undo.trigger()  # Ctrl+Z: the drag, not the edit
    assert history.current.id == step.id and history.strength(step.id) == 1.0
    assert window.panel.strength.value() == 100 and history.image().tobytes() == full
    qtbot.waitUntil(
        lambda: (
            window.canvas._item.pixmap().toImage().pixelColor(0, 0).name()
            == f"#{bytes(history.image().getpixel((0, 0))).hex()}"
        ),
        timeout=TIMEOUT,
    )  # the canvas follows
    window.menu_actions.redo.trigger()
    assert history.strength(step.id) == 0.3 and window.panel.strength.value() == 30
    window.menu_actions.undo.trigger()
    window.menu_actions.undo.trigger()  # then the edit itself
    assert history.current.is_root


def test_rotate_flip_and_crop_are_steps_at_full_resolution(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)  # 96x64
    original = window.document.history.image()
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)
    assert window.document.history.image().size == (64, 96)
    assert window.document.history.image().getpixel((63, 0)) == original.getpixel((0, 0))  # clockwise
    assert window.document.history.current.instruction == "Rotate 90° clockwise"
    assert not window.panel.rerender_button.isEnabled()  # nothing to render again
    window.adjustments.flip_horizontal()
    qtbot.waitUntil(lambda: len(window.document.history) == 3, timeout=TIMEOUT)
    window.document.undo()
    window.document.undo()
    assert window.document.history.image().size == (96, 64)
    # Crop: drag a rectangle on the canvas at a fixed ratio, Enter applies.
    window.canvas.actual_size()
    qtbot.keyClick(window, Qt.Key.Key_C)
    assert window.adjustments.cropping and window.panel.crop_bar.isVisible()
    window.panel.crop_ratio.setCurrentText("1:1")
    to_view = window.canvas.mapFromScene
    qtbot.mousePress(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=to_view(10, 10))
    qtbot.mouseMove(window.canvas.viewport(), pos=to_view(50, 40))
    qtbot.mouseRelease(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=to_view(50, 40))
    left, top, right, bottom = window.canvas.crop_box()
    assert right - left == bottom - top  # 1:1
    qtbot.keyClick(window, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (window.document.history.current.params.geometry or {}).get("op") == "crop",
        timeout=TIMEOUT,
    )
    assert window.document.history.image().size == (right - left, bottom - top)
    assert window.document.history.image().getpixel((0, 0)) == original.getpixel((left, top))
    assert not window.adjustments.cropping
    # Esc leaves a crop without changing anything.
    count = len(window.document.history)
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.adjustments.cropping and len(window.document.history) == count
    # Kept in sessions.
    again = save_and_reopen(qtbot, window, tmp_path, tiny_models)
    assert again.document.history.current.params.geometry["op"] == "crop"
    assert again.document.history.image().size == (right - left, bottom - top)


def test_export_turns_the_transparency_with_the_photo(qtbot, tmp_path, tiny_models):
    rgba = Image.new("RGBA", (40, 20), (200, 10, 10, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 10, 20))  # the left quarter transparent
    source = tmp_path / "cutout.png"
    rgba.save(source)
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    open_photo(qtbot, window, source)
    window.adjustments.rotate_right()
    qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)
    out = tmp_path / "cutout-edited.png"
    window.documents.export_to(out)
    qtbot.waitUntil(lambda: window.documents.last_export == out, timeout=TIMEOUT)
    with Image.open(out) as im:
        assert im.size == (20, 40)
        alpha = im.getchannel("A")
        assert alpha.getpixel((10, 2)) == 0 and alpha.getpixel((10, 30)) == 255  # the top quarter now


def test_an_edit_asked_for_while_the_models_load_waits_for_them(
    qtbot, tmp_path, tiny_models, photo_path, monkeypatch
):
    from mgie_desktop.ui.edit_panel import EditPanel

    shown = []
    original = EditPanel.show_loading
    monkeypatch.setattr(
        EditPanel,
        "show_loading",
        lambda self, part, done, total: (
            shown.append((part, done, total)),
            original(self, part, done, total),
        ),
    )
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    open_photo(qtbot, window, photo_path)
    assert window.model_state in ("starting", "loading")
    window.panel.instruction.setPlainText("warmer")
    window.edits.apply_edit()
    assert "Queued" in window.panel.notice.text() and window.panel.apply_button.isEnabled()
    qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)  # it started by itself
    assert window.document.history.current.instruction == "warmer"
    parts = [part for part, done, total in shown if total]
    assert "the language model" in parts and "the UNet" in parts
    assert [done for _, done, total in shown if total] == sorted(done for _, done, total in shown if total)


def test_loading_the_models_can_be_cancelled_and_started_again(qtbot, tmp_path, tiny_models, monkeypatch):
    import threading

    from mgie_desktop.core.errors import EditCancelled
    from mgie_desktop.engine.pipeline import MgieEngine

    held = threading.Event()

    def slow_warm_up(self, cancel=None):  # a load long enough to cancel, whatever the machine
        held.set()
        for _ in range(600):
            if cancel is not None and cancel.is_set():
                raise EditCancelled("stopped")
            threading.Event().wait(0.05)
        return 0.0

    monkeypatch.setattr(MgieEngine, "warm_up", slow_warm_up)
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    # The progress line arrives by a queued signal: wait for it, not only for the engine thread.
    qtbot.waitUntil(lambda: held.is_set() and "warm-up" in window.panel.progress_text.text(), timeout=TIMEOUT)
    assert window.panel.cancel_button.isVisible()
    window.panel.cancel_button.click()
    qtbot.waitUntil(lambda: window.model_state == "cancelled", timeout=TIMEOUT)
    assert "Load them" in window.panel.notice.text() and not window.panel.progress.isVisible()
    monkeypatch.setattr(MgieEngine, "warm_up", lambda self, cancel=None: 0.0)
    window.panel.notice.linkActivated.emit("#load")
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=TIMEOUT)
