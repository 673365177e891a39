"""FLUX.2 [klein] in the window (issue 29): the engine chosen in the edit panel among those
installed, its steps in the history, the expressive box saying what it did instead, and A/B with
any second engine. Real widgets on tiny models (offscreen)."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton
from test_ui import TIMEOUT, entries, make_window, open_photo

from mgie_desktop.core.params import PRESETS
from mgie_desktop.core.step_params import KLEIN_STEPS, StepKind
from mgie_desktop.ui.ab_compare import ABCompare
from mgie_desktop.ui.edit_panel import KLEIN_SETTINGS
from mgie_desktop.ui.expressive_box import no_expressive

NOTE = "FLUX.2 [klein] read your words directly: it writes no expressive instruction."


@pytest.fixture(autouse=True)
def _smaller_draft_renders(monkeypatch):
    """klein edits at four times the pixel budget: at the window tests' 128 x 128 that is 256 x 256
    (seconds per edit on the CPU); 64 x 64 keeps each edit near a second."""
    monkeypatch.setitem(PRESETS, "draft", replace(PRESETS["draft"], pixel_budget=64 * 64))


def _offered(box):
    return [box.itemData(i) for i in range(box.count())]


def _shown(box):
    return [box.itemText(i) for i in range(box.count())]


def _send(qtbot, window, button):
    """Click ``button`` and return the job it sends."""
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    return sent.args[0]


def _button(dialog, text):
    return next(b for b in dialog.findChildren(QPushButton) if b.text() == text)


def test_klein_is_offered_only_where_it_is_installed(qtbot, tmp_path, tiny_models, klein_models):
    without = make_window(qtbot, tmp_path / "a", tiny_models, ready=False)
    engines = without.panel.engines
    qtbot.waitUntil(lambda: engines.offered == ["mgie", "ip2p"], timeout=TIMEOUT)
    assert _shown(engines.engine_box) == ["MGIE", "InstructPix2Pix"]
    assert not engines.choose("klein") and engines.engine() == "mgie"
    assert _offered(engines.versus_box) == ["ip2p"]

    with_klein = make_window(qtbot, tmp_path / "b", klein_models, ready=False)
    engines = with_klein.panel.engines
    qtbot.waitUntil(lambda: engines.offered == ["mgie", "klein", "ip2p"], timeout=TIMEOUT)
    assert _shown(engines.engine_box) == ["MGIE", "FLUX.2 [klein]", "InstructPix2Pix"]
    assert engines.engine_box.isEnabled()
    assert _offered(engines.versus_box) == ["klein", "ip2p"]  # every other engine, not the one chosen
    assert engines.choose("klein") and _offered(engines.versus_box) == ["mgie", "ip2p"]


def test_a_klein_edit_is_sent_as_klein_and_lands_as_a_klein_step(qtbot, tmp_path, klein_models, photo_path):
    window = make_window(qtbot, tmp_path, klein_models)
    panel = window.panel
    open_photo(qtbot, window, photo_path)
    assert panel.engines.choose("klein")
    # Its own steps and no guidance: the boxes say they do not apply, rather than vanish.
    for box in (panel.steps, panel.text_guidance, panel.image_guidance):
        assert box.isVisible() and not box.isEnabled() and box.toolTip() == KLEIN_SETTINGS
    assert panel.settings_note.isVisible() and f"own {KLEIN_STEPS} steps" in panel.settings_note.text()
    assert not panel.varies.isEnabled() and panel.sweep() is None  # no guidance to sweep: seeds
    assert "FLUX.2 [klein] reads your words directly" in panel.expressive.text_box.placeholderText()

    labels = []
    window.edits.engine_label.connect(lambda shown, _detail: labels.append(shown))
    panel.instruction.setPlainText("add snow")
    job = _send(qtbot, window, panel.apply_button)
    assert job.model == "klein" and not job.compare
    qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)
    # Its first use reads klein's weights: the status bar says so rather than just "busy".
    assert "Model: loading FLUX.2 [klein] for its first edit…" in labels
    step = window.document.history.current
    assert step.kind is StepKind.KLEIN and step.instruction == "add snow"
    assert step.expressive_instruction == "" and step.steered_instruction == ""
    assert step.params.render.steps == KLEIN_STEPS and step.params.render.text_guidance == 1.0
    assert panel.steps.value() == 3  # the boxes keep MGIE's settings: klein's own are in its step
    # The expressive box says what klein did instead of standing empty.
    assert panel.expressive.note.isVisible() and panel.expressive.note.text() == NOTE
    assert not panel.expressive.text_box.isVisible() and not panel.expressive.edited()
    assert any("add snow" in e and "(FLUX.2 [klein])" in e for e in entries(window))
    tip = window.history_panel.item(1).toolTip()
    assert "FLUX.2 [klein] read the instruction itself" in tip and f"{KLEIN_STEPS} steps · no guidance" in tip

    # Another engine chosen, then the klein step again: the panel follows the step, and
    # Re-render renders it with klein.
    panel.engines.choose("mgie")
    assert panel.steps.isEnabled() and not panel.settings_note.isVisible()
    window.document.go_to(0)
    window.document.go_to(step.id)
    assert panel.engines.engine() == "klein"
    job = _send(qtbot, window, panel.rerender_button)
    assert job.model == "klein" and job.rerender and job.expressive == ""
    qtbot.waitUntil(lambda: len(window.document.history) == 3, timeout=TIMEOUT)
    assert window.document.history.current.kind is StepKind.KLEIN

    # Back to MGIE: its expressive instruction shows again, in its own box.
    panel.engines.choose("mgie")
    panel.instruction.setPlainText("make the sky a sunset")
    job = _send(qtbot, window, panel.apply_button)
    assert job.model == "mgie"
    qtbot.waitUntil(lambda: len(window.document.history) == 4, timeout=TIMEOUT)
    assert panel.expressive.text() == "The sky will be orange." and not panel.expressive.note.isVisible()


def test_ab_compares_the_engine_chosen_with_the_second_and_names_each_side(
    qtbot, tmp_path, klein_models, photo_path
):
    window = make_window(qtbot, tmp_path, klein_models)
    panel, history = window.panel, None
    open_photo(qtbot, window, photo_path)
    history = window.document.history
    assert panel.engines.engine() == "mgie" and panel.engines.choose_versus("klein")
    assert "FLUX.2 [klein]" in panel.compare_button.toolTip()
    panel.instruction.setPlainText("add snow")
    job = _send(qtbot, window, panel.compare_button)
    assert job.compare and (job.model, job.versus) == ("mgie", "klein")
    qtbot.waitUntil(lambda: isinstance(window.edits.variations_picker, ABCompare), timeout=TIMEOUT)
    dialog = window.edits.variations_picker
    assert (
        dialog.view.names == ("MGIE", "FLUX.2 [klein]") and dialog.windowTitle() == "MGIE or FLUX.2 [klein]?"
    )
    caption = next(label.text() for label in dialog.findChildren(QLabel) if "add snow" in label.text())
    assert f"FLUX.2 [klein] took its own {KLEIN_STEPS} steps and no guidance" in caption
    assert "MGIE read it as “The sky will be orange”" in caption
    dialog.view.grab()  # both names paint
    qtbot.mouseClick(_button(dialog, "Keep both"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(history) == 3, timeout=TIMEOUT)
    kinds = {s.kind: s for s in history.children(0)}
    assert set(kinds) == {StepKind.MGIE, StepKind.KLEIN}
    assert kinds[StepKind.MGIE].expressive_instruction == "The sky will be orange."
    assert kinds[StepKind.KLEIN].expressive_instruction == ""
    assert kinds[StepKind.KLEIN].params.render.steps == KLEIN_STEPS

    # klein chosen, InstructPix2Pix beside it: neither is MGIE, each side named by its engine.
    window.document.go_to(0)
    assert panel.engines.choose("klein") and panel.engines.choose_versus("ip2p")
    panel.instruction.setPlainText("add rain")
    job = _send(qtbot, window, panel.compare_button)
    assert (job.model, job.versus) == ("klein", "ip2p")
    qtbot.waitUntil(
        lambda: (
            isinstance(window.edits.variations_picker, ABCompare)
            and window.edits.variations_picker is not dialog
        ),
        timeout=TIMEOUT,
    )
    dialog = window.edits.variations_picker
    assert dialog.view.names == ("FLUX.2 [klein]", "InstructPix2Pix")
    qtbot.mouseClick(_button(dialog, "Keep InstructPix2Pix's"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(history) == 4, timeout=TIMEOUT)
    assert history.current.kind is StepKind.IP2P
    assert panel.expressive.note.text() == no_expressive("ip2p")


def test_a_pair_with_mgie_puts_mgie_first(qtbot, tmp_path, klein_models, photo_path):
    """The job's result carries MGIE's expressive instruction only when MGIE is its ``model``."""
    window = make_window(qtbot, tmp_path, klein_models, ready=False)
    panel = window.panel
    qtbot.waitUntil(lambda: "klein" in panel.engines.offered, timeout=TIMEOUT)
    panel.engines.choose("klein")
    panel.engines.choose_versus("mgie")
    assert window.edits._engines(compare=True) == {"model": "mgie", "compare": True, "versus": "klein"}
    assert window.edits._engines(compare=False) == {"model": "klein"}


def test_a_remote_engine_offers_what_its_server_reports(qtbot):
    from mgie_desktop.ui.remote_engine import RemoteEngine

    engine = RemoteEngine("http://127.0.0.1:9", None)
    assert engine.engines(None) == ["mgie", "ip2p"]  # not connected yet: klein is not offered on trust
    engine.info = {"models": {"plain_ip2p": False, "klein": True}}
    assert engine.engines(None) == ["mgie", "klein"]
    engine.info = {"models": {"plain_ip2p": True}}  # a server older than klein
    assert engine.engines(None) == ["mgie", "ip2p"]


def test_a_klein_step_where_klein_is_not_installed_says_so(qtbot, tmp_path, tiny_models):
    """A session made with klein, opened where it is not installed: the step still names its
    engine, the panel says klein is not here, and Re-render renders with the engine shown."""
    from PIL import Image

    from mgie_desktop.core.document import Document
    from mgie_desktop.core.history import History
    from mgie_desktop.core.params import EditParams
    from mgie_desktop.core.session import SourceMeta
    from mgie_desktop.core.step_params import StepParams

    window = make_window(qtbot, tmp_path, tiny_models)
    history = History()
    history.start(Image.new("RGB", (96, 64), (40, 90, 160)))
    step = history.push(
        Image.new("RGB", (96, 64), (200, 200, 220)),
        instruction="add snow",
        params=StepParams.edit(EditParams(seed=5, steps=KLEIN_STEPS, pixel_budget=64 * 64), StepKind.KLEIN),
    )
    window.document.open(Document(history, SourceMeta(name="snow.png")), {})
    panel = window.panel
    assert window.document.history.current.id == step.id and panel.engines.engine() == "mgie"
    notice = panel.notice.text()
    assert notice.startswith("FLUX.2 [klein] made this step and is not installed here") and "#klein" in notice
    assert panel.expressive.note.text() == NOTE and any("(FLUX.2 [klein])" in e for e in entries(window))
    window.document.go_to(0)
    assert not panel.notice.isVisible()  # the original's engine is no question
    window.document.go_to(step.id)
    job = _send(qtbot, window, panel.rerender_button)
    assert job.model == "mgie" and job.rerender
    qtbot.waitUntil(lambda: len(window.document.history) == 3, timeout=TIMEOUT)
    assert window.document.history.current.kind is StepKind.MGIE
