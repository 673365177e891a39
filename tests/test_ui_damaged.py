"""A session with a damaged step opens in the window: the damaged step stays in the history,
marked, without a thumbnail, and asking for it says why; the rest of the work is usable."""

from test_session_hostile import PNG, scrambled_idat, session_with_pngs, tiny_png
from test_ui import TIMEOUT, entries, make_window


def test_a_session_whose_current_step_is_damaged_opens_on_its_nearest_good_ancestor(
    qtbot, tmp_path, tiny_models
):
    steps = [
        {"id": 0, "parent": None},
        {"id": 1, "parent": 0, "instruction": "warmer"},
        {"id": 2, "parent": 1, "instruction": "cooler"},
    ]  # current: step 2, damaged
    path = session_with_pngs(
        tmp_path / "hurt.mgie", steps, {0: PNG, 1: tiny_png((9, 9, 9)), 2: scrambled_idat()}
    )
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    window.open_path(path)
    qtbot.waitUntil(lambda: window.document.history is not None, timeout=TIMEOUT)
    history = window.document.history
    assert history.current.id == 1 and window.canvas.has_image  # a picture, not a refusal
    assert len(history) == 3 and history.store.damaged.keys() == {2}
    shown = entries(window)
    assert "damaged" in shown[2] and "damaged" not in shown[1]
    assert window.history_panel.item(2).icon().isNull() and not window.history_panel.item(1).icon().isNull()

    window.history_panel.step_chosen.emit(2)  # a click on it: said, in one sentence
    qtbot.waitUntil(lambda: getattr(window, "last_error", None) is not None, timeout=TIMEOUT)
    assert window.last_error.startswith("The image of step 2 is damaged and cannot be shown")
    assert history.current.id == 1  # not made current: nothing to show, or to edit from
    window.document.go_to(1)
    assert history.image().getpixel((0, 0)) == (9, 9, 9)


def test_a_session_whose_photo_itself_is_damaged_is_refused_in_one_sentence(qtbot, tmp_path, tiny_models):
    steps = [{"id": 0, "parent": None}, {"id": 1, "parent": 0, "instruction": "warmer"}]
    path = session_with_pngs(tmp_path / "dead.mgie", steps, {0: scrambled_idat(), 1: scrambled_idat()})
    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    window.open_path(path)
    qtbot.waitUntil(lambda: getattr(window, "last_error", None) is not None, timeout=TIMEOUT)
    assert "step 0 is damaged" in window.last_error and window.document.doc is None
