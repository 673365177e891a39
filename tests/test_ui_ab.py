"""Compare two engines in the window (issue 13: MGIE and plain InstructPix2Pix; issue 29: any
two installed, tests/test_ui_klein.py)."""

import shutil

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QPushButton
from test_ui import TIMEOUT, entries, make_window, open_photo

from mgie_desktop.core.step_params import StepKind
from mgie_desktop.ui.ab_compare import ABCompare


def _compare(qtbot, window):
    qtbot.mouseClick(window.panel.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(window.edits.variations_picker, ABCompare), timeout=TIMEOUT)
    return window.edits.variations_picker


def _button(dialog, text):
    return next(b for b in dialog.findChildren(QPushButton) if b.text() == text)


def test_compare_shows_both_renders_and_keeps_the_one_chosen_with_its_model(
    qtbot, tmp_path, tiny_models, photo_path
):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    window.panel.instruction.setPlainText("add snow")
    dialog = _compare(qtbot, window)
    left, right = dialog.view.images
    assert left.size() == right.size() and left != right  # two models, one seed: two pictures
    qtbot.mouseClick(
        dialog.view,
        Qt.MouseButton.LeftButton,
        pos=QPoint(dialog.view.width() // 4, dialog.view.height() // 2),
    )
    assert dialog.view.split < 0.5  # the divider follows the mouse
    dialog.side_by_side.setChecked(True)
    assert dialog.view.side_by_side
    before = len(window.document.history)
    qtbot.mouseClick(_button(dialog, "Keep InstructPix2Pix's"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.document.history) == before + 1, timeout=TIMEOUT)
    step = window.document.history.current
    assert step.kind is StepKind.IP2P and step.expressive_instruction == "" and step.instruction == "add snow"
    assert any("(InstructPix2Pix alone)" in e for e in entries(window))
    assert window.panel.expressive.text_box.isReadOnly()  # nothing of MGIE's to steer on this step

    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:  # re-render: the same model
        qtbot.mouseClick(window.panel.rerender_button, Qt.MouseButton.LeftButton)
    assert sent.args[0].model == "ip2p" and not sent.args[0].compare
    qtbot.waitUntil(lambda: len(window.document.history) == before + 2, timeout=TIMEOUT)
    assert window.document.history.current.kind is StepKind.IP2P

    window.panel.instruction.clear()  # compare again from that step's parent, keep both
    dialog = _compare(qtbot, window)
    count = len(window.document.history)
    qtbot.mouseClick(_button(dialog, "Keep both"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.document.history) == count + 2, timeout=TIMEOUT)
    siblings = window.document.history.children(window.document.history.current.parent)
    assert {s.kind for s in siblings[-2:]} == {StepKind.MGIE, StepKind.IP2P}


def test_without_a_second_engine_compare_offers_to_download_one(qtbot, tmp_path, tiny_models, photo_path):
    import json

    models = tmp_path / "models"
    shutil.copytree(tiny_models / "bundle", models / "bundle")
    inventory_path = models / "bundle" / "bundle.json"
    inventory = json.loads(inventory_path.read_text())
    inventory["model"]["plain_ip2p"] = False
    inventory_path.write_text(json.dumps(inventory))
    window = make_window(qtbot, tmp_path, models)
    open_photo(qtbot, window, photo_path)
    window.panel.instruction.setPlainText("add snow")
    qtbot.mouseClick(window.panel.compare_button, Qt.MouseButton.LeftButton)
    notice = window.panel.notice.text()
    assert "Download it…" in notice and "#ip2p" in notice and window.document.running is None
    assert "#klein" in notice and "FLUX.2 [klein]" in notice  # either engine makes a second one
    assert not window.panel.engines.versus_box.isEnabled()
    assert window.panel.engines.versus_box.placeholderText() == "no second engine installed"
    window._notice_link("#klein")  # the model manager opens with FLUX.2 [klein] ticked
    assert window._model_manager.klein_box.isChecked() and not window._model_manager.plain_box.isChecked()
