"""Steering in the window (issue 12): edit MGIE's expressive instruction and re-render with it."""

from PySide6.QtCore import Qt
from test_ui import TIMEOUT, apply, entries, make_window, open_photo

MGIE_TEXT = "The sky will be orange."
MINE = "The sky will be a deep violet"


def _rerender(qtbot, window):
    before = len(window.document.history)
    qtbot.mouseClick(window.panel.rerender_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.document.history) == before + 1, timeout=TIMEOUT)
    return window.document.history.current


def test_an_edited_expressive_instruction_drives_the_rerender_and_is_kept_beside_mgies(
    qtbot, tmp_path, emitting_models, photo_path
):
    window = make_window(qtbot, tmp_path, emitting_models)
    open_photo(qtbot, window, photo_path)
    box, button = window.panel.expressive, window.panel.rerender_button
    assert box.text_box.isReadOnly()  # the original photo has no expressive instruction to steer
    apply(qtbot, window, "make the sky a sunset")
    first = window.document.history.current
    assert box.text() == MGIE_TEXT and not box.text_box.isReadOnly() and button.text() == "Re-render"

    box.text_box.setPlainText(MINE)
    assert button.text() == "Re-render with this text" and box.edited() == MINE
    assert not box.reset.isHidden()
    steered = _rerender(qtbot, window)
    assert steered.parent == first.parent  # a sibling, from the same source
    assert steered.steered_instruction == MINE and steered.expressive_instruction == MGIE_TEXT
    assert box.text() == MINE and box.edited() == "" and button.text() == "Re-render"
    assert "MGIE wrote: “The sky will be orange.”" in box.mgie_said.text() and not box.mgie_said.isHidden()
    assert any("✎ “The sky will be a deep violet”" in e for e in entries(window))
    tooltip = window.history_panel.currentItem().toolTip()
    assert f"MGIE: {MGIE_TEXT}" in tooltip and f"You: {MINE}" in tooltip
    # The steered text changed the render: the [IMG] states follow the last word, not "."
    assert (
        window.document.history.image(steered.id).tobytes()
        != window.document.history.image(first.id).tobytes()
    )

    again = _rerender(qtbot, window)  # Re-render of a steered step keeps the person's text
    assert again.steered_instruction == MINE

    assert window.document.go_to(first.id)  # back to MGIE's own step: its text, nothing steered
    assert box.text() == MGIE_TEXT and box.mgie_said.isHidden()


def test_variations_of_a_steered_step_are_steered_and_reset_restores_mgies_text(
    qtbot, tmp_path, emitting_models, photo_path
):
    window = make_window(qtbot, tmp_path, emitting_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "make the sky a sunset")
    box = window.panel.expressive
    box.text_box.setPlainText("something else entirely")
    qtbot.mouseClick(box.reset, Qt.MouseButton.LeftButton)
    assert box.text() == MGIE_TEXT and box.edited() == "" and box.reset.isHidden()

    box.text_box.setPlainText(MINE)
    _rerender(qtbot, window)
    window.panel.instruction.clear()
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        qtbot.mouseClick(window.panel.variations_button, Qt.MouseButton.LeftButton)
    job = sent.args[0]
    assert job.variations == window.panel.variation_count.value() and job.expressive == MINE
    assert job.mgie_text == MGIE_TEXT
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    window.edits.variations_picker.reject()
