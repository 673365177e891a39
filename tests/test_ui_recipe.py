"""File > Export Recipe… writes the recipe of the open document's chain (issue 15)."""

import json

from PySide6.QtWidgets import QFileDialog
from test_ui import TIMEOUT, make_window, open_photo

from mgie_desktop.core.masks import mask_to_text
from mgie_desktop.core.params import params_for
from mgie_desktop.core.recipe import load_recipe
from mgie_desktop.core.step_params import StepParams


def _menu_entry(window, text):
    for menu in window.menuBar().actions():
        for action in menu.menu().actions():
            if action.text().replace("&", "") == text:
                return action
    raise AssertionError(f"no menu entry {text!r}")


def test_export_recipe_writes_the_current_chain(qtbot, tmp_path, tiny_models, photo_path, monkeypatch):
    from PIL import Image

    window = make_window(qtbot, tmp_path, tiny_models, ready=False)  # no edit is run: no models needed
    open_photo(qtbot, window, photo_path)
    target = tmp_path / "look"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "MGIE recipe (*.json)"))
    entry = _menu_entry(window, "Export Recipe…")
    entry.trigger()  # only the original so far: nothing to make a recipe of
    qtbot.waitUntil(
        lambda: "make an edit first" in (getattr(window, "last_error", "") or ""), timeout=TIMEOUT
    )

    # An edit as the window keeps it (its settings, a person's steering, a mask), then a turn.
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (0, 0, 48, 64))
    history = window.document.history
    history.push(
        history.image(),
        instruction="make it autumn",
        params=StepParams.edit(params_for("draft", seed=7)),
        steered_instruction="The leaves turn red.",
        expressive_instruction="Autumn colours.",
        mask=mask_to_text(mask),
    )
    window.adjustments.rotate_right()
    qtbot.waitUntil(lambda: len(window.document.history) == 3, timeout=TIMEOUT)
    entry.trigger()
    written = target.with_suffix(".json")
    qtbot.waitUntil(lambda: window.documents.last_recipe == written, timeout=TIMEOUT)
    recipe = load_recipe(written)
    edit, turn = recipe.steps
    assert (edit.instruction, edit.steered_instruction, edit.preset) == (
        "make it autumn",
        "The leaves turn red.",
        "draft",
    )
    assert edit.mask and (edit.seed_policy, edit.params.seed) == ("fixed", 7)
    assert turn.geometry == {"op": "rotate", "degrees": 90}
    assert json.loads(written.read_text())["source"] == {"photo": "beach.png"}
