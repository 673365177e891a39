"""The mask brush in the window (issue 12): paint, and the next edit applies inside the mask only."""

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAction
from test_ui import TIMEOUT, apply, make_window, open_photo

from mgie_desktop.core.masks import fit_mask, mask_from_text


def _action(window, prefix):
    return next(a for a in window.findChildren(QAction) if a.text().replace("&", "").startswith(prefix))


def _stroke(qtbot, canvas, points):
    viewport = canvas.viewport()
    at = [canvas.mapFromScene(QPointF(*p)) for p in points]
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at[0])
    for point in at[1:]:
        qtbot.mouseMove(viewport, point)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at[-1])


def test_a_painted_mask_limits_the_edit_and_stays_with_its_step(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    brush = window.mask_brush
    assert brush.mask_image() is None and brush.bar.isHidden()
    _action(window, "Mask brush").trigger()
    assert brush.active and window.canvas.tool is brush and not brush.bar.isHidden()
    brush.radius = 10
    _stroke(qtbot, window.canvas, [(12, 32), (20, 32), (28, 32)])
    mask = brush.mask_image()
    assert mask is not None and mask.size == (96, 64)
    assert mask.getpixel((20, 32)) == 255 and mask.getpixel((80, 32)) == 0

    radius = brush.radius
    _action(window, "Larger brush").trigger()
    assert brush.radius > radius and brush.bar.size_label.text() == f"{2 * brush.radius:.0f} px"
    window.escape()  # Esc leaves the brush; the mask stays for the next edit
    assert not brush.active and window.canvas.tool is None and brush.mask_image() is not None

    apply(qtbot, window, "add snow")
    step = window.document.history.current
    assert step.mask and "Edited inside a painted mask" in window.history_panel.currentItem().toolTip()
    # The result shows unveiled, the brush is away, and the next edit applies everywhere unless asked.
    assert not brush.active and brush.mask_image() is None and brush.bar.reuse.isEnabled()
    weights = np.asarray(fit_mask(mask_from_text(step.mask), (96, 64)))
    result, original = (
        np.asarray(window.document.history.image()),
        np.asarray(Image.open(photo_path).convert("RGB")),
    )
    assert (result[weights == 0] == original[weights == 0]).all()
    assert (result[weights == 255] != original[weights == 255]).any()

    with qtbot.waitSignal(
        window.edits.submit_job, timeout=TIMEOUT
    ) as sent:  # a re-render keeps the step's mask
        qtbot.mouseClick(window.panel.rerender_button, Qt.MouseButton.LeftButton)
    assert sent.args[0].mask is not None and sent.args[0].mask.getpixel((20, 32)) == 255
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)

    _action(window, "Reuse this step's mask").trigger()  # one click: the same region for the next edit
    reused = brush.mask_image()
    assert brush.active and reused is not None
    assert reused.getpixel((20, 32)) == 255 and reused.getpixel((80, 32)) == 0
    window.escape()
    window.panel.instruction.setPlainText("add rain")
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        window.edits.apply_edit()
    assert sent.args[0].mask is not None and sent.args[0].mask.getpixel((20, 32)) == 255
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)
    assert brush.mask_image() is None  # put away again


def test_eraser_invert_and_clear(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    brush = window.mask_brush
    _action(window, "Mask brush").trigger()
    brush.radius, brush.softness = 8, 0.0
    _stroke(qtbot, window.canvas, [(20, 20), (40, 20)])
    assert brush.mask_image().getpixel((30, 20)) == 255
    _action(window, "Eraser").trigger()
    assert brush.eraser
    _stroke(qtbot, window.canvas, [(30, 20), (31, 20)])
    assert brush.mask_image().getpixel((30, 20)) == 0 and brush.mask_image().getpixel((20, 20)) == 255
    _action(window, "Invert mask").trigger()
    inverted = brush.mask_image()
    assert inverted.getpixel((30, 20)) == 255 and inverted.getpixel((20, 20)) == 0
    _action(window, "Clear mask").trigger()
    assert brush.mask_image() is None  # an empty mask: the next edit applies everywhere


def test_a_masked_edit_s_live_preview_changes_only_inside_the_mask(qtbot, tmp_path, tiny_models, photo_path):
    window = make_window(qtbot, tmp_path, tiny_models)
    open_photo(qtbot, window, photo_path)
    shown = []
    window.canvas.show_preview = lambda image: shown.append(image.copy())  # every preview the canvas is given
    _action(window, "Mask brush").trigger()
    window.mask_brush.radius = 10
    _stroke(qtbot, window.canvas, [(12, 32), (20, 32), (28, 32)])
    window.escape()
    apply(qtbot, window, "add snow")
    assert shown, "no live preview was shown"
    preview = shown[0]
    photo = (
        Image.open(photo_path)
        .convert("RGB")
        .resize((preview.width(), preview.height()), Image.Resampling.BILINEAR)
    )
    # Far from the painted stroke (left middle), the preview is the photo itself, not noise.
    x, y = preview.width() - 2, preview.height() // 2
    colour = preview.pixelColor(x, y)
    assert (colour.red(), colour.green(), colour.blue()) == photo.getpixel((x, y))
