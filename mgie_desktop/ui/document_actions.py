"""The window's file work: open a photo or session, save the session, export the image, keep
the autosave current and offer to restore it after a crash.

Reading and writing run on file-work threads (``BackgroundTasks``); their results come back on
the GUI thread, where the window shows them. The window owns the open document; this object only
reads it, and hands a freshly opened one to ``MainWindow.show_document``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from mgie_desktop.core.deferred import load
from mgie_desktop.core.logs import log
from mgie_desktop.ui.images import thumbnail
from mgie_desktop.ui.tasks import BackgroundTasks

if TYPE_CHECKING:  # Pillow, numpy and the history load with the first photo, after the window is up
    from mgie_desktop.core.document import Document
    from mgie_desktop.ui.main_window import MainWindow

OPEN_FILTER = ("Photos and sessions (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.heic *.heif *.mgie);;"
               "MGIE sessions (*.mgie);;All files (*)")
SESSION_FILTER = "MGIE session (*.mgie)"
EXPORT_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff)"
EXPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
RECIPE_FILTER = "MGIE recipe (*.json)"


class DocumentActions:
    def __init__(self, window: MainWindow, autosave_folder: Path | None):
        self.window = window
        self.autosave_folder = autosave_folder
        self._autosaver = None  # made with the first autosave, so start-up never imports it
        self.autosaves = BackgroundTasks(window, workers=1)  # one at a time, in order
        self.recovery_box = None  # the last "restore?" question shown (tests read it)
        self.last_export: Path | None = None
        self.last_recipe: Path | None = None

    # ---- open -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        window = self.window
        start = window.settings.value("last_dir", "")
        path, _ = QFileDialog.getOpenFileName(window, "Open photo", start, OPEN_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> None:
        path = Path(path)
        self.window.statusBar().showMessage(f"Opening {path.name}…")
        self.window.tasks.run(_open_document, path, on_done=lambda opened: self._opened(*opened, path),
                              on_error=lambda exc: self.window.show_error(exc, f"Could not open {path}."))

    def _opened(self, doc: Document, thumbs: dict, path: Path) -> None:
        self.window.show_document(doc, thumbs)
        self.window.settings.setValue("last_dir", str(path.parent))
        self.window.recent.remember(path)

    def close(self, doc: Document) -> None:
        """Before another document replaces ``doc``, or the window closes."""
        # Saves and autosaves still reading this document's step images finish first.
        self.window.tasks.drain()
        self.autosaves.drain()
        if self._autosaver is not None:
            if doc.modified:
                self._autosaver.release()  # unsaved work stays on disk; the next start offers it
            else:
                self._autosaver.close()  # saved or untouched: nothing to recover
            self._autosaver = None
        doc.close()

    # ---- sessions ---------------------------------------------------------------------------
    def save_session(self) -> None:
        doc = self.window.doc
        if doc is None:
            return
        if doc.session_path is None:
            self.save_session_as()
        else:
            self.save_session_to(doc.session_path)

    def save_session_as(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        window = self.window
        if window.doc is None:
            return
        start = str(Path(window.settings.value("last_dir", "")) / (Path(window.doc.name).stem + ".mgie"))
        path, _ = QFileDialog.getSaveFileName(window, "Save session", start, SESSION_FILTER)
        if path:
            self.save_session_to(Path(path).with_suffix(".mgie"))

    def save_session_to(self, path: Path) -> None:
        save_document = load("mgie_desktop.core.document", "save_document")

        window = self.window
        doc, revision = window.doc, window.doc.revision
        window.statusBar().showMessage(f"Saving {path.name}…")
        window.tasks.run(save_document, doc, path, on_done=lambda _: self._session_saved(doc, path, revision),
                         on_error=window.show_error)

    def _session_saved(self, doc: Document, path: Path, revision: int) -> None:
        doc.session_path = path
        doc.modified = doc.revision != revision  # an edit that landed during the save is not in it
        self.window.recent.remember(path)
        self.window.update_title()
        self.window.statusBar().showMessage(f"Saved {path}", 5000)

    # ---- autosave and crash recovery ----------------------------------------------------------
    def autosave(self) -> None:
        """After every change: the autosave is complete on disk before the next edit can land."""
        Autosaver = load("mgie_desktop.core.autosave", "Autosaver")

        doc = self.window.doc
        if doc is None:
            return
        if self._autosaver is None:
            self._autosaver = Autosaver(self.autosave_folder)
        self.autosaves.run(self._autosaver.save, doc.history, doc.source,
                           on_done=lambda _: None, on_error=self._autosave_failed)

    def _autosave_failed(self, exc: Exception) -> None:
        self.window.statusBar().showMessage(f"Autosave failed: {exc}", 10000)

    def look_for_crashed_sessions(self) -> None:
        self.window.tasks.run(_find_recoverable, self.autosave_folder, on_done=self._offer_recovery,
                              on_error=_recovery_check_failed)

    def _offer_recovery(self, found: list) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        APP_TITLE = load("mgie_desktop.ui.main_window", "APP_TITLE")  # here: main_window imports this module

        usable = [r for r in found if not r.problem]
        if not usable:
            return
        latest = usable[0]
        box = QMessageBox(QMessageBox.Icon.Question, APP_TITLE,
                          f"MGIE Desktop did not close cleanly last time. Restore "
                          f"“{latest.source_name or 'the last session'}” with {latest.steps} step(s)?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard, self.window)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button: self._recovery_answer(latest, box.buttonRole(button)))
        box.finished.connect(self._recovery_closed)  # it deletes itself: let go of it first
        box.show()
        self.recovery_box = box

    def _recovery_closed(self) -> None:
        self.recovery_box = None

    def _recovery_answer(self, recoverable, role) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        if role == QMessageBox.ButtonRole.YesRole:
            self.restore(recoverable)
        else:
            self._discard(recoverable)

    def restore(self, recoverable) -> None:
        def reopen():
            Document = load("mgie_desktop.core.document", "Document")
            doc = Document.from_session(recoverable.open(), None)
            doc.modified = True
            return doc, _thumbnails(doc)

        def done(opened):
            self.window.show_document(*opened)
            self._discard(recoverable)

        self.window.tasks.run(reopen, on_done=done, on_error=self.window.show_error)

    def _discard(self, recoverable) -> None:
        self.window.tasks.run(recoverable.discard, on_done=lambda _: None, on_error=self.window.show_error)

    # ---- export -----------------------------------------------------------------------------
    def export_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        window = self.window
        if window.history is None:
            return
        start = str(Path(window.settings.value("last_dir", "")) / export_name(window.doc.source.name or window.doc.name))
        path, _ = QFileDialog.getSaveFileName(window, "Export", start, EXPORT_FILTER)
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        window = self.window
        record = load("mgie_desktop.core.edit_record", "edit_record")(window.history, models=self._models())
        doc, step = window.doc, window.history.current.id
        window.statusBar().showMessage(f"Exporting {path.name}…")
        quality = window.panel.export_quality.value()
        window.tasks.run(lambda: _save_photo(doc.photo_for_export(step), path, record=record, quality=quality),
                         on_done=lambda _: self._exported(path), on_error=window.show_error)

    def _models(self) -> dict:
        """The installed models' identity for the edit record ({} when it cannot be read)."""
        return self.window.edits.engine.models_identity(self.window.models_dir)

    def _exported(self, path: Path) -> None:
        self.last_export = path
        self.window.statusBar().showMessage(f"Exported {path}", 5000)

    # ---- recipe (core/recipe.py): the current chain of edits, for `mgie-desktop batch` ------------
    def export_recipe_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        window = self.window
        if window.history is None:
            return
        name = Path(window.doc.source.name or window.doc.name).stem or "photo"
        start = str(Path(window.settings.value("last_dir", "")) / f"{name}-recipe.json")
        path, _ = QFileDialog.getSaveFileName(window, "Export recipe", start, RECIPE_FILTER)
        if path:
            self.export_recipe_to(Path(path) if Path(path).suffix else Path(path).with_suffix(".json"))

    def export_recipe_to(self, path: Path) -> None:
        recipe_from_history, save_recipe = load("mgie_desktop.core.recipe", "recipe_from_history", "save_recipe")

        window = self.window
        history, step, photo = window.history, window.history.current.id, window.doc.source.name
        window.statusBar().showMessage(f"Exporting the recipe {path.name}…")
        window.tasks.run(lambda: save_recipe(recipe_from_history(history, step, photo_name=photo), path),
                         on_done=lambda _: self._recipe_exported(path), on_error=window.show_error)

    def _recipe_exported(self, path: Path) -> None:
        self.last_recipe = path
        self.window.statusBar().showMessage(f"Exported the recipe {path}; run it with mgie-desktop batch", 5000)

    def shutdown(self) -> None:
        """After the document is closed: let the last autosave finish, then stop."""
        self.autosaves.shutdown()


# ---- on file-work threads ---------------------------------------------------------------------
def export_name(photo_name: str) -> str:
    """``holiday.jpg`` -> ``holiday-edited.jpg``: the photo's name, in its own format when we can
    write it (PNG otherwise, e.g. for a HEIC or BMP original)."""
    path = Path(photo_name)
    suffix = path.suffix.lower() if path.suffix.lower() in EXPORT_SUFFIXES else ".png"
    return f"{path.stem or 'photo'}-edited{suffix}"


def _open_document(path: Path) -> tuple[Document, dict]:
    """Read the document, its thumbnails and its current image."""
    open_document = load("mgie_desktop.core.document", "open_document")

    doc = open_document(path)
    return doc, _thumbnails(doc)


def _find_recoverable(folder: Path | None) -> list:
    return load("mgie_desktop.core.autosave", "find_recoverable")(folder)


def _recovery_check_failed(exc: Exception) -> None:
    """Nothing to offer the user: a damaged autosave folder must not spoil the start."""
    log.warning("the crash-recovery check failed", exc_info=exc)


def _thumbnails(doc: Document) -> dict:
    thumbs = {step.id: thumbnail(doc.history.image(step.id)) for step in doc.history.steps}
    doc.history.image()  # the current image, decoded and cached for the canvas
    return thumbs


def _save_photo(image, path: Path, **kwargs) -> None:
    save_photo = load("mgie_desktop.core.imaging", "save_photo")

    save_photo(image, path, **kwargs)
