"""The main window's menu bar: every menu entry and its keyboard shortcut, built in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from mgie_desktop import __version__
from mgie_desktop.ui.mask_brush import SIZE_STEP
from mgie_desktop.ui.recent import RecentFiles

if TYPE_CHECKING:
    from mgie_desktop.ui.main_window import MainWindow


# Keys that are not menu entries (the canvas, the compare view, the instruction box).
OTHER_KEYS = (
    ("Ctrl+Enter", "Apply the instruction"),
    ("Up / Down (instruction box)", "Recall recent instructions"),
    ("Hold \\", "Show the step before"),
    ("Hold Shift+\\", "Show the original photo"),
    ("Mouse wheel", "Zoom the photo"),
    ("Drag", "Pan the photo"),
    ("← / → (variations)", "Show the previous or next variation"),
    ("Space (variations)", "Mark the shown variation to keep"),
)


class MenuActions:
    """The entries whose enabled or checked state follows the document; the rest never change.
    (A plain class, not a dataclass: building one costs start-up time for nothing here.)"""

    def __init__(
        self,
        recent: RecentFiles,
        save: QAction,
        save_as: QAction,
        export: QAction,
        undo: QAction,
        redo: QAction,
        difference: QAction,
        image: tuple[QAction, ...],
    ):
        self.recent, self.save, self.save_as, self.export = recent, save, save_as, export
        self.undo, self.redo, self.difference = undo, redo, difference
        self.image = image  # crop, rotate, flip, the mask brush, export recipe: need an open photo


def build_menus(window: MainWindow) -> MenuActions:
    def act(menu, text, slot, *keys):
        action = QAction(text, window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    bar = window.menuBar()
    file = bar.addMenu("&File")
    act(file, "&Open…", window.documents.open_dialog, QKeySequence.StandardKey.Open)
    recent = window.documents.recent
    file.addMenu(recent.menu)
    save = act(file, "&Save Session", window.documents.save_session, "Ctrl+S")
    save_as = act(file, "Save Session &As…", window.documents.save_session_as, "Ctrl+Shift+S")
    export = act(file, "&Export Image…", window.documents.export_dialog, "Ctrl+E")
    recipe = act(file, "Export &Recipe…", window.documents.export_recipe_dialog)
    act(file, "&Watch Folder…", window.watch_folder.choose)
    act(file, "Open &Batch Results…", window.documents.open_batch_results_dialog)
    file.addSeparator()
    act(file, "&Quit", window.close, "Ctrl+Q")
    edit = bar.addMenu("&Edit")
    undo = act(edit, "&Undo", window.undo, "Ctrl+Z")
    redo = act(edit, "&Redo", window.redo, "Ctrl+Shift+Z", "Ctrl+Y")
    edit.addSeparator()
    act(edit, "Apply edit", window.edits.apply_edit, "Ctrl+Return")
    act(edit, "Compare two engines…", window.edits.compare_engines, "Ctrl+Shift+Return")
    act(edit, "Cancel edit or crop", window.escape, "Esc")
    image_menu = bar.addMenu("&Image")
    adjust = window.adjustments
    image = (
        act(image_menu, "&Crop…", adjust.start_crop, "C"),
        act(image_menu, "Rotate 90° &clockwise", adjust.rotate_right, "Ctrl+R"),
        act(image_menu, "Rotate 90° c&ounter-clockwise", adjust.rotate_left, "Ctrl+Shift+R"),
        act(image_menu, "Flip &horizontally", adjust.flip_horizontal),
        act(image_menu, "Flip &vertically", adjust.flip_vertical),
    )
    image_menu.addSeparator()
    brush = window.mask_brush
    image += (
        act(image_menu, "&Mask brush (limit the next edit)", brush.toggle, "B"),
        act(image_menu, "Larger brush", lambda: brush.resize_brush(SIZE_STEP), "]"),
        act(image_menu, "Smaller brush", lambda: brush.resize_brush(1 / SIZE_STEP), "["),
        act(image_menu, "Eraser", brush.bar.eraser.toggle, "E"),
        act(image_menu, "Show mask", brush.bar.overlay.toggle, "O"),
        act(image_menu, "&Invert mask", brush.invert, "Ctrl+I"),
        act(image_menu, "C&lear mask", brush.clear),
        act(image_menu, "&Reuse this step's mask", brush.reuse_step_mask, "Shift+B"),
    )
    image += (recipe,)  # like the image entries, it needs an open photo
    models = bar.addMenu("&Models")
    act(models, "&Manage models…", lambda: window.show_model_manager())
    act(models, "&Engine: this computer or a remote one…", window.engine_settings.choose)
    view = bar.addMenu("&View")
    canvas = window.canvas
    act(view, "&Fit to window", canvas.fit, "Ctrl+0")
    act(view, "&Actual size (100 %)", canvas.actual_size, "Ctrl+1")
    act(view, "Zoom &in", canvas.zoom_in, "Ctrl++", "Ctrl+=")
    act(view, "Zoom &out", canvas.zoom_out, "Ctrl+-")
    view.addSeparator()
    difference = window.compare_view.difference_action
    difference.setShortcut(QKeySequence("D"))
    view.addAction(difference)
    view.addAction(window.compare_view.split_action)
    view.addAction(window.compare_view.side_by_side_action)
    help_menu = bar.addMenu("&Help")
    act(
        help_menu,
        "&Keyboard shortcuts",
        lambda: show_shortcuts(window),
        QKeySequence.StandardKey.HelpContents,
    )
    act(help_menu, "&About MGIE Desktop", lambda: show_about(window))
    return MenuActions(recent, save, save_as, export, undo, redo, difference, image)


def shortcut_rows(window: MainWindow) -> list[tuple[str, str]]:
    """Every menu entry that has a shortcut (read from the menus, so the list cannot drift),
    then the keys that are not menu entries."""
    rows = []
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            keys = " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
            if keys:
                rows.append((keys, action.text().replace("&", "")))
    return rows + list(OTHER_KEYS)


def show_shortcuts(window: MainWindow) -> None:
    from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

    rows = "".join(
        f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for keys, what in shortcut_rows(window)
    )
    box = QMessageBox(
        QMessageBox.Icon.NoIcon,
        "Keyboard shortcuts",
        f"<table>{rows}</table>",
        QMessageBox.StandardButton.Close,
        window,
    )
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    window.shortcuts_box = box


def show_about(window: MainWindow) -> None:
    from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

    QMessageBox.about(
        window,
        "About MGIE Desktop",
        f"<b>MGIE Desktop {__version__}</b><p>Edit photos from plain instructions with Apple's "
        "MGIE (MLLM-Guided Image Editing, ICLR 2024), on your own machine.</p>",
    )
