"""Small window parts: the history panel's entries ("↳" on the first step of a branch only,
tooltips without empty lines) and the export dialog's name and format."""

from pathlib import Path

from PIL import Image

from mgie_desktop.core.document import Document
from mgie_desktop.core.history import History
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.session import SourceMeta
from mgie_desktop.core.step_params import StepKind, StepParams
from mgie_desktop.ui.history_panel import HistoryPanel


def _texts(panel: HistoryPanel) -> list[str]:
    return [panel.item(i).text() for i in range(panel.count())]


def test_only_the_first_step_of_a_branch_carries_the_arrow(qtbot):
    history = History()
    root = history.start(Image.new("RGB", (4, 4)))
    first = history.push(Image.new("RGB", (4, 4)), instruction="warmer")
    history.push(Image.new("RGB", (4, 4)), instruction="brighter")  # the line goes on
    branch = history.push(  # a branch, its entry two lines long
        Image.new("RGB", (4, 4)), instruction="cooler", parent=first.id, expressive_instruction="Cool."
    )
    history.push(Image.new("RGB", (4, 4)), instruction="darker", parent=branch.id)  # on in the branch
    history.push(Image.new("RGB", (4, 4)), instruction="sepia", parent=root.id)  # another branch
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.refresh(history)
    texts = [t.splitlines()[0] for t in _texts(panel)]
    assert texts == ["Original", "warmer", "brighter", "    ↳ cooler", "      darker", "    ↳ sepia"]
    assert sum("↳" in t for t in texts) == 2
    assert _texts(panel)[3] == "    ↳ cooler\n      “Cool.”"  # the arrow once, on its first line


def test_tooltips_say_what_each_kind_of_step_is_without_empty_lines(qtbot):
    history = History()
    history.start(Image.new("RGB", (4, 4)))
    history.push(
        Image.new("RGB", (4, 4)),
        instruction="warmer",
        expressive_instruction="Warm light.",
        params=StepParams.edit(EditParams(seed=1, steps=3)),
    )
    history.push(
        Image.new("RGB", (4, 4)),
        instruction="add snow",
        params=StepParams.edit(EditParams(seed=2), StepKind.IP2P),
    )
    history.push(
        Image.new("RGB", (2, 2)), instruction="Crop to 2×2", params=StepParams.of_geometry({"op": "crop"})
    )
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.refresh(history)
    tips = [panel.item(i).toolTip() for i in range(panel.count())]
    assert "MGIE: Warm light." in tips[1] and "seed 1 · 3 steps" in tips[1]
    assert "MGIE:" not in tips[2] and "InstructPix2Pix read the instruction itself" in tips[2]
    assert "seed" not in tips[3] and "Crop to 2×2" in tips[3]
    assert not any("\n\n" in tip or tip.rstrip().endswith("MGIE:") for tip in tips)


def test_the_export_dialog_s_filter_agrees_with_the_suggested_name():
    from mgie_desktop.ui.document_actions import EXPORT_FILTER, export_filter, export_name, export_path

    assert export_filter(export_name("holiday.jpg")).startswith("JPEG")
    assert export_filter(export_name("scan.TIFF")).startswith("TIFF")
    assert export_filter(export_name("raw.heic")).startswith("PNG")  # not writable: PNG, named .png
    assert export_name("raw.heic") == "raw-edited.png"
    assert all(export_filter(f"x{s}").split(" ")[0] in EXPORT_FILTER for s in (".png", ".webp", ".jpeg"))
    jpeg = export_filter("x.jpg")
    assert export_path(Path("/tmp/holiday"), jpeg) == Path("/tmp/holiday.jpg")  # typed without a suffix
    assert export_path(Path("/tmp/holiday.png"), jpeg) == Path("/tmp/holiday.png")  # the name says: PNG
    assert export_path(Path("/tmp/v1.2"), export_filter("x.webp")) == Path("/tmp/v1.2.webp")


def test_export_offers_the_format_of_its_suggested_name(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QFileDialog

    from mgie_desktop.ui.main_window import MainWindow

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: asked.append(args) or ("", ""))
    window = MainWindow(
        None,
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        autosave_folder=tmp_path / "autosave",
    )
    qtbot.addWidget(window)
    history = History()
    history.start(Image.new("RGB", (4, 4)))
    window.document.open(Document(history, SourceMeta(name="holiday.jpg")), {})
    window.documents.export_dialog()
    ((_parent, _caption, start, _filters, selected),) = asked
    assert start.endswith("holiday-edited.jpg") and selected.startswith("JPEG")


def test_an_empty_expressive_box_is_tall_enough_for_its_placeholder(qtbot):
    from mgie_desktop.ui.expressive_box import ExpressiveBox

    box = ExpressiveBox()
    qtbot.addWidget(box)
    box.resize(260, 200)
    box.show()
    text = box.text_box
    qtbot.waitUntil(lambda: text.viewport().width() > 0)
    text._fit_height()
    line = text.fontMetrics().lineSpacing()
    needed = (
        text.fontMetrics()
        .boundingRect(
            0,
            0,
            text.viewport().width() - 8,
            10_000,
            0x1000,  # Qt.TextWordWrap
            text.placeholderText(),
        )
        .height()
    )
    assert needed > line  # it does wrap at this width
    assert text.height() >= needed + 2 * text.frameWidth()  # and every line of it shows
    text.setPlainText("The sky will be orange.")
    assert text.height() < needed + 10 + 2 * text.frameWidth()  # one line of text: one line high


def test_load_progress_words_wrap_above_a_bar_that_only_counts(qtbot):
    from mgie_desktop.ui.edit_panel import EditPanel

    panel = EditPanel()
    qtbot.addWidget(panel)
    panel.show_loading("the vision tower and edit head", 1, 7)
    assert panel.progress_text.wordWrap() and "the vision tower and edit head" in panel.progress_text.text()
    assert panel.progress.format() == "2/7"
    panel.hide_loading()
    assert panel.progress_text.isHidden() and panel.progress.isHidden()


def test_a_load_failure_says_why_once_and_its_notice_goes_when_the_engine_recovers(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from mgie_desktop.ui.main_window import MainWindow

    window = MainWindow(
        None,
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        autosave_folder=tmp_path / "autosave",
    )
    qtbot.addWidget(window)
    window.edits.on_model_state("error", "the server refused the token (401)")
    notice = window.panel.notice.text()
    assert "could not be loaded: the server refused the token (401)." in notice
    assert notice.lower().count("load") == 1  # said once, not "could not be loaded: could not load"
    assert window.model_label.text() == "Model: failed to load (the server refused the token (401))"
    window.edits.on_model_state("loading", "again")
    window.edits.on_model_state("ready", "cpu")
    assert window.panel.notice.text() == "" and window.model_label.text() == "Model: ready (cpu)"
    window.panel.show_notice("Type what the edit should do, then press Ctrl+Enter.")  # another notice
    window.edits.on_model_state("ready", "cpu")
    assert window.panel.notice.text().startswith("Type what")  # not the models': it stays


def test_side_by_side_names_sit_on_their_own_images(qtbot):
    from PySide6.QtGui import QImage

    from mgie_desktop.ui.ab_compare import SplitView

    wide = QImage(400, 100, QImage.Format.Format_RGB32)  # a wide photo: short boxes, far from the top
    view = SplitView(wide, wide, ("MGIE", "FLUX.2 [klein]"))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    for side_by_side in (True, False):
        view.set_side_by_side(side_by_side)
        boxes, labels = view.image_boxes(), view.label_boxes(view.fontMetrics())
        for box, label in zip(boxes, labels, strict=True):
            assert box.contains(label), (side_by_side, box, label)  # on its image, not above it
        if side_by_side:
            assert boxes[0].right() <= boxes[1].left() and boxes[0].top() > 150  # centred, well below the top
        else:
            assert labels[0].left() < labels[1].left()  # MGIE left of the divider, the other right
    view.grab()  # paints without error in both modes


def test_the_mask_brush_s_sliders_line_up(qtbot):
    from mgie_desktop.ui.canvas import Canvas
    from mgie_desktop.ui.mask_brush import MaskBrush

    canvas = Canvas()
    qtbot.addWidget(canvas)
    bar = MaskBrush(canvas).bar
    qtbot.addWidget(bar)
    bar.resize(300, 200)
    bar.show()
    qtbot.waitUntil(lambda: bar.size_slider.width() > 0)
    size, softness = bar.size_slider.geometry(), bar.softness.geometry()
    assert size.left() == softness.left()  # not after labels of different widths


def test_the_edit_panel_keeps_its_width_whichever_step_is_selected(qtbot, tmp_path):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from mgie_desktop.ui.main_window import MainWindow

    window = MainWindow(
        tmp_path / "no-models",
        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
        autosave_folder=tmp_path / "autosave",
    )
    qtbot.addWidget(window)
    window.show()
    history = History()
    history.start(Image.new("RGB", (40, 30)))
    history.push(
        Image.new("RGB", (40, 30)), instruction="warmer", expressive_instruction="The sky will be orange."
    )
    history.push(
        Image.new("RGB", (40, 30)),
        instruction="long",
        expressive_instruction="Long text " * 60,
        steered_instruction="My own words " * 30,
    )  # tall enough to need the panel's scroll bar
    window.document.open(Document(history, SourceMeta(name="a.png")), {})
    widths = set()
    for step_id in (0, 1, 2, 1, 0):
        window.document.go_to(step_id)
        for _ in range(5):
            QApplication.processEvents()
        widths.add(window.panel.width())
    assert len(widths) == 1, widths
    window.ask_to_save_on_quit = False


def test_an_edit_that_did_nothing_says_so_and_offers_variations_or_stronger_guidance(
    qtbot, tmp_path, tiny_models, photo_path, monkeypatch
):
    from test_ui import TIMEOUT, apply, make_window, open_photo

    from mgie_desktop.engine.pipeline import MgieEngine

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "make it autumn")  # the tiny models always change the picture
    assert "barely changed" not in window.panel.notice.text()

    monkeypatch.setattr(
        MgieEngine,
        "render_variations",  # an engine that hands the photo back
        lambda self, image, conditioning, params, seeds, *args, **kwargs: [image.copy() for _ in seeds],
    )
    window.panel.text_guidance.setValue(7.5)
    apply(qtbot, window, "add a rainbow")
    notice = window.panel.notice.text()
    assert "barely changed the photo" in notice and "#variations" in notice and "7.5 → 11.2" in notice
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        window.panel.notice.linkActivated.emit("#stronger")
    job = sent.args[0]
    assert job.rerender and job.params.text_guidance == 11.2 and job.instruction == "add a rainbow"
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        window.panel.notice.linkActivated.emit("#variations")
    assert sent.args[0].variations == 4
    qtbot.waitUntil(lambda: window.edits.variations_picker is not None, timeout=TIMEOUT)
    window.edits.variations_picker.reject()


def test_before_and_after_split_on_the_canvas_follows_the_step_and_outlines_its_mask(
    qtbot, tmp_path, tiny_models, photo_path
):
    from PySide6.QtCore import QPointF
    from test_ui import TIMEOUT, apply, make_window, open_photo

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)  # 96x64
    split, action = window.compare_view.split, window.compare_view.split_action
    action.trigger()
    assert not split.shown  # the original has nothing before it
    apply(qtbot, window, "warmer")
    qtbot.waitUntil(lambda: split.shown, timeout=TIMEOUT)  # follows the new step
    assert split._before.pixmap().size().width() == 96 and window.canvas.tool is split
    parent = window.document.history.image(window.document.history.current.parent)
    assert (
        split._before.pixmap().toImage().pixelColor(5, 5).name() == f"#{bytes(parent.getpixel((5, 5))).hex()}"
    )
    split.press(QPointF(24, 10))  # a drag moves the divider: before on its left only
    assert split.split == 0.25 and split.before_visible_at(20) and not split.before_visible_at(30)
    window.canvas.zoom_in()
    assert split.shown and split.before_visible_at(20)  # at any zoom
    assert split._outline.path().isEmpty()  # no mask, no outline

    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (48, 0, 96, 64))  # the right half
    window.edits.mask_brush.reset(96, 64)
    window.document.history.push(
        window.document.history.image(),
        instruction="masked",
        mask=__import__("mgie_desktop.core.masks", fromlist=["mask_to_text"]).mask_to_text(mask),
    )
    window.document.go_to(window.document.history.current.id)
    qtbot.waitUntil(lambda: not split._outline.path().isEmpty(), timeout=TIMEOUT)
    bounds = split._outline.path().boundingRect()
    assert 40 <= bounds.left() <= 56 and bounds.right() >= 90  # around the right half
    window.document.go_to(0)
    qtbot.waitUntil(lambda: not split.shown, timeout=TIMEOUT)
    action.trigger()
    assert window.canvas.tool is None


def test_before_and_after_side_by_side_on_the_canvas(qtbot, tmp_path, tiny_models, photo_path):
    from test_ui import TIMEOUT, apply, make_window, open_photo

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)  # 96x64
    apply(qtbot, window, "warmer")
    window.compare_view.side_by_side_action.trigger()  # turns the split on, side by side
    split = window.compare_view.split
    qtbot.waitUntil(lambda: split.shown, timeout=TIMEOUT)
    rect = window.canvas.scene().sceneRect()
    assert rect.left() < -96 and round(rect.right()) == 96  # the step before whole, left of the photo
    assert split.before_visible_at(-50) and not split.before_visible_at(50)
    assert window.canvas.mapFromScene(rect.topLeft()).x() >= 0  # both fit the view
    window.compare_view.side_by_side_action.trigger()
    assert split.shown and window.canvas.scene().sceneRect().left() == 0  # back to the divider
    window.compare_view.split_action.trigger()
    assert not split.shown and window.canvas.scene().sceneRect().width() == 96


def test_the_difference_view_is_a_heat_map_with_its_key(qtbot, tmp_path, tiny_models, photo_path):
    from PySide6.QtGui import QColor, QImage
    from test_ui import TIMEOUT, apply, make_window, open_photo

    from mgie_desktop.ui.heat_map import GAIN, HEAT_TABLE, HeatScale, heat_image

    grey = QImage(3, 1, QImage.Format.Format_RGB888)
    for x, level in enumerate((0, 128, 255)):
        grey.setPixelColor(x, 0, QColor(level, level, level))
    heat = heat_image(grey)
    assert heat.pixelColor(0, 0) == QColor(0, 0, 0) and heat.pixelColor(2, 0) == QColor(255, 255, 255)
    middle = heat.pixelColor(1, 0)
    assert middle.red() > 150 and middle.blue() < 100  # changed by 32 levels: red, not grey
    assert len(set(HEAT_TABLE)) > 200  # a smooth scale
    assert [label for _, label in HeatScale(None).ticks()] == ["0", "16", "32", "48", f"{round(255 / GAIN)}+"]

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "sharper")
    window.compare_view.difference_action.trigger()
    qtbot.waitUntil(lambda: window.compare_view.showing_difference, timeout=TIMEOUT)
    assert (
        window.compare_view.heat_scale.isVisible() and "levels of 255" in window.statusBar().currentMessage()
    )
    window.compare_view.difference_action.trigger()
    assert not window.compare_view.heat_scale.isVisible()


def test_saving_keeps_the_view_and_the_painted_mask(qtbot, tmp_path, tiny_models, photo_path):
    from test_ui import TIMEOUT, apply, make_window, open_photo

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "warmer")
    brush = window.mask_brush
    brush.set_active(True)
    brush.press(__import__("PySide6.QtCore", fromlist=["QPointF"]).QPointF(20, 20))
    brush.release(None)
    window.canvas.zoom_in()
    zoom = window.canvas.zoom
    window.documents.save_session_to(tmp_path / "kept.mgie")
    qtbot.waitUntil(lambda: not window.document.modified, timeout=TIMEOUT)
    assert window.windowTitle() == "kept.mgie"
    assert window.canvas.zoom == zoom and brush.mask_image() is not None  # a save is not a reopen


def test_the_split_keeps_side_by_side_through_a_strength_change_and_leaves_rotations_alone(
    qtbot, tmp_path, tiny_models, photo_path
):
    from test_ui import TIMEOUT, apply, make_window, open_photo

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    apply(qtbot, window, "warmer")
    window.compare_view.side_by_side_action.trigger()
    split = window.compare_view.split
    qtbot.waitUntil(lambda: split.shown, timeout=TIMEOUT)
    window.panel.strength.setValue(50)
    window.adjustments.commit_strength()  # the canvas redraws the blend: the step before stays beside it
    assert window.canvas.scene().sceneRect().left() < 0 and split.before_visible_at(-50)
    window.adjustments.rotate_right()
    qtbot.waitUntil(lambda: window.document.history.current.params.geometry, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not split.shown, timeout=TIMEOUT)  # a turn has no 'before' of its shape
    assert window.canvas.scene().sceneRect() == window.canvas.scene_rect() and window.canvas.tool is None


def test_the_split_compares_any_two_steps_chosen_in_the_history(qtbot, tmp_path, tiny_models, photo_path):
    from test_ui import TIMEOUT, apply, make_window, open_photo

    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)  # 96x64
    apply(qtbot, window, "warmer")
    apply(qtbot, window, "add snow")
    history, panel, split = window.document.history, window.history_panel, window.compare_view.split
    original = panel.item(0)
    rect = panel.visualItemRect(original)
    panel.customContextMenuRequested.emit(rect.center())  # right-click on the Original
    (compare,) = panel.context_menu.actions()
    assert compare.isEnabled() and compare.text() == "Compare with the current step"
    compare.trigger()
    qtbot.waitUntil(lambda: split.shown, timeout=TIMEOUT)
    assert window.compare_view.split_action.isChecked()
    assert [name.text() for name in split._names] == ["Original", "add snow"]
    first = history.image(0)
    shown = split._before.pixmap().toImage().pixelColor(5, 5).name()
    assert shown == f"#{bytes(first.getpixel((5, 5))).hex()}"  # the original, not the step before
    window.undo()  # the reference stays while the history moves
    qtbot.waitUntil(lambda: [n.text() for n in split._names] == ["Original", "warmer"], timeout=TIMEOUT)
    window.undo()  # at the reference itself: nothing to split against, so the step before (none)
    qtbot.waitUntil(lambda: not split.shown, timeout=TIMEOUT)
    window.redo()
    qtbot.waitUntil(lambda: split.shown, timeout=TIMEOUT)
    window.adjustments.rotate_right()  # another shape: said, not split
    qtbot.waitUntil(lambda: history.current.params.geometry is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not split.shown, timeout=TIMEOUT)
    assert "cannot be split" in window.statusBar().currentMessage()
    window.compare_view.split_action.trigger()  # leaving the split forgets the reference
    assert window.compare_view.reference is None and not split.shown
