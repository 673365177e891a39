"""The main window's menu bar: every menu entry and its keyboard shortcut, built in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

from mgie_desktop.ui.recent import RecentFiles

if TYPE_CHECKING:
    from mgie_desktop.ui.main_window import MainWindow


class MenuActions:
    """The entries whose enabled or checked state follows the document; the rest never change.
    (A plain class, not a dataclass: building one costs start-up time for nothing here.)"""

    def __init__(self, recent: RecentFiles, save: QAction, save_as: QAction, export: QAction,
                 undo: QAction, redo: QAction, difference: QAction):
        self.recent, self.save, self.save_as, self.export = recent, save, save_as, export
        self.undo, self.redo, self.difference = undo, redo, difference


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
    recent = RecentFiles(window.settings, file.addMenu("Open &Recent"), window.open_path)
    save = act(file, "&Save Session", window.documents.save_session, "Ctrl+S")
    save_as = act(file, "Save Session &As…", window.documents.save_session_as, "Ctrl+Shift+S")
    export = act(file, "&Export Image…", window.documents.export_dialog, "Ctrl+E")
    file.addSeparator()
    act(file, "&Quit", window.close, "Ctrl+Q")
    edit = bar.addMenu("&Edit")
    undo = act(edit, "&Undo", window.undo, "Ctrl+Z")
    redo = act(edit, "&Redo", window.redo, "Ctrl+Shift+Z", "Ctrl+Y")
    edit.addSeparator()
    act(edit, "Apply edit", window.apply_edit, "Ctrl+Return")
    act(edit, "Cancel edit", window.edits.cancel_edit, "Esc")
    models = bar.addMenu("&Models")
    act(models, "&Manage models…", window.show_model_manager)
    view = bar.addMenu("&View")
    canvas = window.canvas
    act(view, "&Fit to window", canvas.fit, "Ctrl+0")
    act(view, "&Actual size (100 %)", canvas.actual_size, "Ctrl+1")
    act(view, "Zoom &in", canvas.zoom_in, "Ctrl++", "Ctrl+=")
    act(view, "Zoom &out", canvas.zoom_out, "Ctrl+-")
    view.addSeparator()
    difference = act(view, "Show &difference from the step before", window.compare_view.toggle_difference,
                     "D")
    difference.setCheckable(True)
    return MenuActions(recent, save, save_as, export, undo, redo, difference)
