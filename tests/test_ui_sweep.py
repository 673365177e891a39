"""A guidance sweep in the window: Variations over text × image guidance, the picker's labelled
grid, and the kept cell's guidance in its history step and the panel."""

from test_ui import TIMEOUT, make_window, open_photo

from mgie_desktop.core.sweep import Sweep, Varies


def test_a_sweep_of_both_shows_a_labelled_grid_and_keeps_the_cells_guidance(
    qtbot, tmp_path, tiny_models, photo_path
):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    panel = window.panel
    panel.steps.setValue(1)
    panel.text_guidance.setValue(7.5)
    panel.image_guidance.setValue(1.5)
    panel.choose_varies(Varies.BOTH)
    assert panel.grid_size.text() == "3 × 3" and not panel.variation_count.isVisible()
    panel.instruction.setPlainText("make it autumn")
    sent = []
    window.edits.submit_job.connect(sent.append)
    panel.variations_button.click()
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    assert sent[0].sweep == Sweep((5.0, 7.5, 10.0), (1.2, 1.5, 1.8)) and sent[0].variations == 1
    picker = window.edits.variations_picker
    assert len(picker.buttons) == 9 and picker.columns == 3
    assert [b.text() for b in picker.buttons[:3]] == [
        "text 5 · image 1.2",
        "text 5 · image 1.5",
        "text 5 · image 1.8",
    ]
    assert picker.buttons[7].text() == "text 10 · image 1.5"
    assert window.statusBar().currentMessage().startswith("9 cells of the guidance sweep rendered in")
    assert len(window.document.history) == 1  # nothing kept until the person picks
    picker.buttons[5].click()  # row 2, column 3
    assert picker.caption.text() == "Cell 6 of 9 · text 7.5 · image 1.8"
    picker.keep_button.click()
    assert len(window.document.history) == 2
    kept = window.document.history.current.params.render
    assert (kept.text_guidance, kept.image_guidance, kept.steps) == (7.5, 1.8, 1)
    # The panel shows the cell's settings: Re-render repeats them, and the grid centres on them.
    assert (panel.text_guidance.value(), panel.image_guidance.value()) == (7.5, 1.8)
    assert panel.sweep() == Sweep((5.0, 7.5, 10.0), (1.5, 1.8, 2.1))


def test_a_sweep_of_one_axis_is_a_row_and_seeds_stay_as_they_were(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    panel = window.panel
    panel.steps.setValue(1)
    panel.choose_varies(Varies.IMAGE)
    panel.instruction.setPlainText("make it autumn")
    panel.variations_button.click()
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    picker = window.edits.variations_picker
    assert picker.columns == 3 and len(picker.buttons) == 3
    picker.keep_box.toggle()
    assert picker.buttons[0].text().startswith("✓ text") and "border" in picker.buttons[0].styleSheet()
    picker.reject()
    qtbot.waitUntil(lambda: window.edits.variations_picker is None, timeout=TIMEOUT)
    panel.choose_varies(Varies.SEEDS)
    assert panel.sweep() is None and panel.variation_count.isVisible()
