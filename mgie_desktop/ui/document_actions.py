"""The window's file work: open a photo or session, save the session, export the image, keep
the autosave current and offer to restore it after a crash.

Reading and writing run on file-work threads (``BackgroundTasks``); their results come back on
the GUI thread. A freshly opened document goes to the document model, which owns it; the autosave
follows the model's ``changed``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMenu, QSpinBox, QWidget

from mgie_desktop import APP_NAME
from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.edit_record import edit_record
from mgie_desktop.core.logs import log
from mgie_desktop.ui.document_model import DocumentModel
from mgie_desktop.ui.images import thumbnail
from mgie_desktop.ui.recent import RecentFiles
from mgie_desktop.ui.tasks import BackgroundTasks

if TYPE_CHECKING:  # Pillow, numpy and the history load with the first photo, after the window is up
    from mgie_desktop.core.document import Document

OPEN_FILTER = (
    "Photos and sessions (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.heic *.heif *.mgie {raw});;"
    "MGIE sessions (*.mgie);;Camera RAW ({raw});;All files (*)"
)
SESSION_FILTER = "MGIE session (*.mgie)"
EXPORT_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff)"
# A photo opened with 16 bits per channel keeps them in PNG and TIFF (core/master.py).
DEEP_EXPORT_FILTER = "PNG, 16 bits (*.png);;TIFF, 16 bits (*.tif *.tiff);;JPEG (*.jpg *.jpeg);;WebP (*.webp)"
EXPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
RECIPE_FILTER = "MGIE recipe (*.json)"


class DocumentActions:
    def __init__(
        self,
        document: DocumentModel,
        tasks: BackgroundTasks,
        settings: QSettings,
        export_quality: QSpinBox,
        models_identity: Callable[[], dict],
        canvas: QWidget,
        autosave_folder: Path | None,
    ):
        self.document, self.tasks, self.settings = document, tasks, settings
        self.recent = RecentFiles(settings, QMenu("Open &Recent", canvas), self.open_path)  # File's submenu
        self.export_quality = export_quality
        self.models_identity = models_identity  # the installed models, for an export's edit record
        self.canvas = canvas  # its dialogs and questions open over the photo
        self.autosave_folder = autosave_folder
        self._autosaver = None  # made with the first autosave, so start-up never imports it
        self.autosaves = BackgroundTasks(canvas, workers=1)  # one at a time, in order
        document.closing.connect(self.close)
        document.changed.connect(self.autosave)
        self.recovery_box = None  # the last "restore?" question shown (tests read it)
        self.discard_box = None  # the "delete it for good?" question after Discard
        self.discard_on_close = False  # Don't Save: the unsaved work goes with the document
        self.save_box = None  # the "save the changes?" question, while it is open
        self.last_export: Path | None = None
        self.batch_results = None  # the last batch results window opened (tests read it)
        self.last_recipe: Path | None = None

    # ---- open -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        start = self.settings.value("last_dir", "")
        path, _ = QFileDialog.getOpenFileName(self.canvas, "Open photo", start, open_filter())
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> None:
        """Open ``path`` in place of the open document, asking first to save unsaved work."""
        self.ask_to_save(f"opening {Path(path).name}", then=lambda: self._open(Path(path)))

    def ask_to_save(self, before: str, then: Callable[[], None]) -> None:
        """Unsaved work: Save, Don't Save or Cancel, as every editor asks, before ``then`` (quitting,
        opening another photo). Save runs ``then`` once saved; Don't Save at once, the work let go;
        Cancel not at all. Nothing unsaved: ``then`` at once."""
        if not self.document.modified:
            then()
            return
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        buttons = QMessageBox.StandardButton
        box = QMessageBox(
            QMessageBox.Icon.Question,
            APP_NAME,
            f"Save the changes to “{self.document.name}” before {before}?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            self.canvas,
        )
        box.setInformativeText("If you don't save, the edits made since the last save are lost.")
        box.button(buttons.Discard).setText("Don't Save")
        box.setDefaultButton(buttons.Save)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: setattr(self, "save_box", None))
        box.buttonClicked.connect(lambda button: self._save_answer(box.standardButton(button), then))
        box.setModal(True)
        box.show()
        self.save_box = box

    def _save_answer(self, button, then: Callable[[], None]) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        if button == QMessageBox.StandardButton.Save:
            self.save_session(then=then)  # saved: nothing left unsaved to keep
        elif button == QMessageBox.StandardButton.Discard:
            self.discard_on_close = True
            then()

    def _open(self, path: Path) -> None:
        self.document.status.emit(f"Opening {path.name}…", 0)
        self.tasks.run(
            _open_document,
            path,
            on_done=lambda opened: self._opened(*opened, path),
            on_error=lambda exc: self._not_opened(exc, path),
        )

    def _not_opened(self, exc: BaseException, path: Path) -> None:
        self.discard_on_close = False  # the open document stays, and so does the promise to keep its work
        self.document.fail(exc, f"Could not open {path}.")

    def _opened(self, doc: Document, thumbs: dict, path: Path) -> None:
        self.document.open(doc, thumbs)
        current = doc.history.image()
        depth = ", 16 bits per channel" if doc.deep else ""
        space = doc.colour
        shown = (
            f", {display_text(space.name, width=40)}: edited as sRGB, exported in its own" if space else ""
        )
        self.document.status.emit(f"Opened {doc.name} ({current.width}×{current.height}{depth}{shown})", 5000)
        self.settings.setValue("last_dir", str(path.parent))
        self.recent.remember(path)

    def close(self, doc: Document) -> None:
        """Before another document replaces ``doc``, or the window closes (the model's ``closing``)."""
        # Saves and autosaves still reading this document's step images finish first.
        self.tasks.drain()
        self.autosaves.drain()
        if self._autosaver is not None:
            if doc.modified and not self.discard_on_close:
                self._autosaver.release()  # unsaved work stays on disk; the next start offers it
            else:
                self._autosaver.close()  # saved, untouched or let go: nothing to recover
            self._autosaver = None
        self.discard_on_close = False  # said of that document only

    # ---- sessions ---------------------------------------------------------------------------
    def save_session(self, then: Callable[[], None] | None = None) -> None:
        """File › Save Session; ``then`` runs once it is saved (not if the person cancels or it fails)."""
        doc = self.document.doc
        if doc is None:
            return
        if doc.session_path is None:
            self.save_session_as(then)
        else:
            self.save_session_to(doc.session_path, then)

    def save_session_as(self, then: Callable[[], None] | None = None) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        doc = self.document.doc
        if doc is None:
            return
        start = str(Path(self.settings.value("last_dir", "")) / (Path(doc.name).stem + ".mgie"))
        path, _ = QFileDialog.getSaveFileName(self.canvas, "Save session", start, SESSION_FILTER)
        if path:
            self.save_session_to(Path(path).with_suffix(".mgie"), then)

    def save_session_to(self, path: Path, then: Callable[[], None] | None = None) -> None:
        save_document = load("mgie_desktop.core.document", "save_document")

        doc = self.document.doc
        revision = doc.revision
        self.document.status.emit(f"Saving {path.name}…", 0)
        self.tasks.run(
            save_document,
            doc,
            path,
            on_done=lambda _: self._session_saved(doc, path, revision, then),
            on_error=self.document.fail,
        )

    def _session_saved(
        self, doc: Document, path: Path, revision: int, then: Callable[[], None] | None
    ) -> None:
        self.document.saved(doc, path, revision)
        self.recent.remember(path)
        self.document.status.emit(f"Saved {path}", 5000)
        if then is not None:
            then()

    # ---- autosave and crash recovery ----------------------------------------------------------
    def autosave(self) -> None:
        """After every change: the autosave is complete on disk before the next edit can land."""
        Autosaver = load("mgie_desktop.core.autosave", "Autosaver")

        doc = self.document.doc
        if doc is None:
            return
        if self._autosaver is None:
            self._autosaver = Autosaver(self.autosave_folder)
        self.autosaves.run(
            self._autosaver.save,
            doc.history,
            doc.source,
            on_done=lambda _: None,
            on_error=self._autosave_failed,
        )

    def _autosave_failed(self, exc: Exception) -> None:
        self.document.status.emit(f"Autosave failed: {exc}", 10000)

    def look_for_crashed_sessions(self) -> None:
        self.tasks.run(
            _find_recoverable,
            self.autosave_folder,
            on_done=self._offer_recovery,
            on_error=_recovery_check_failed,
        )

    def _offer_recovery(self, found: list) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        usable = [r for r in found if not r.problem]
        if not usable:
            return
        latest = usable[0]
        edits = max(0, latest.steps - 1)  # the steps less the original photo
        box = QMessageBox(
            QMessageBox.Icon.Question,
            APP_NAME,
            f"Unsaved work from last time was kept: “{latest.source_name or 'a photo'}” with "
            f"{edits} edit{'' if edits == 1 else 's'}. Restore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard,
            self.canvas,
        )
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
            self._confirm_discard(recoverable)

    def _confirm_discard(self, recoverable) -> None:
        """Discard deletes work: asked once more. Keeping it offers it again at the next start."""
        from PySide6.QtWidgets import QMessageBox  # dialogs load when first used

        box = QMessageBox(
            QMessageBox.Icon.Warning,
            APP_NAME,
            f"Delete the unsaved work on “{recoverable.source_name or 'a photo'}” for good? "
            "This cannot be undone.",
            QMessageBox.StandardButton.Cancel,
            self.canvas,
        )
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button: self._discard(recoverable) if button is delete else None)
        box.finished.connect(self._discard_box_closed)
        box.show()
        self.discard_box = box

    def _discard_box_closed(self) -> None:
        self.discard_box = None

    def restore(self, recoverable) -> None:
        """Open the recovered work in place of the open document (asking first to save that one)."""
        self.ask_to_save("restoring the unsaved work", then=lambda: self._restore(recoverable))

    def _restore(self, recoverable) -> None:
        def reopen():
            Document = load("mgie_desktop.core.document", "Document")
            doc = Document.from_session(recoverable.open(), None)
            doc.modified = True
            try:
                return doc, _thumbnails(doc)
            except BaseException:
                doc.close()
                raise

        def done(opened):
            self.document.open(*opened)
            self._discard(recoverable)

        self.tasks.run(reopen, on_done=done, on_error=self.document.fail)

    def _discard(self, recoverable) -> None:
        self.tasks.run(recoverable.discard, on_done=lambda _: None, on_error=self.document.fail)

    # ---- a batch's results: reviewed in their own window (ui/contact_sheet.py) -----------------
    def open_batch_results_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        start = str(self.settings.value("batch_results_dir", self.settings.value("last_dir", "")))
        folder = QFileDialog.getExistingDirectory(self.canvas, "Open a batch's results folder", start)
        if folder:
            self.settings.setValue("batch_results_dir", folder)
            self.open_batch_results(Path(folder))

    def open_batch_results(self, folder: Path) -> None:
        """The batch's before/after pairs to approve, reject or render again, in a window of their own."""
        ContactSheet = load(
            "mgie_desktop.ui.contact_sheet", "ContactSheet"
        )  # it reads batch/: not at start-up

        sheet = ContactSheet(folder, self.settings, self.canvas)
        sheet.show()
        self.batch_results = sheet

    # ---- export -----------------------------------------------------------------------------
    def export_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        doc = self.document.doc
        if doc is None:
            return
        name = export_name(doc.source.name or doc.name)
        start = str(Path(self.settings.value("last_dir", "")) / name)
        filters = DEEP_EXPORT_FILTER if doc.deep else EXPORT_FILTER
        # The filter shown is the suggested name's format, so the two never disagree.
        path, chosen = QFileDialog.getSaveFileName(
            self.canvas, "Export", start, filters, export_filter(name, filters)
        )
        if path:
            self.export_to(export_path(Path(path), chosen))

    def export_to(self, path: Path) -> None:
        doc = self.document.doc
        record = edit_record(doc.history, models=self.models_identity())
        step = doc.history.current.id
        self.document.status.emit(f"Exporting {path.name}…", 0)
        quality = self.export_quality.value()
        export_step = load("mgie_desktop.core.document", "export_step")
        self.tasks.run(
            lambda: export_step(doc, step, path, record=record, quality=quality),
            on_done=lambda deep: self._exported(path, deep),
            on_error=self.document.fail,
        )

    def _exported(self, path: Path, deep: bool) -> None:
        self.last_export = path
        self.document.status.emit(f"Exported {path}" + (" at 16 bits per channel" if deep else ""), 5000)

    # ---- recipe (core/recipe.py): the current chain of edits, for `mgie-desktop batch` ------------
    def export_recipe_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load when first used

        doc = self.document.doc
        if doc is None:
            return
        name = Path(doc.source.name or doc.name).stem or "photo"
        start = str(Path(self.settings.value("last_dir", "")) / f"{name}-recipe.json")
        path, _ = QFileDialog.getSaveFileName(self.canvas, "Export recipe", start, RECIPE_FILTER)
        if path:
            self.export_recipe_to(Path(path) if Path(path).suffix else Path(path).with_suffix(".json"))

    def export_recipe_to(self, path: Path) -> None:
        recipe_from_history, save_recipe = load(
            "mgie_desktop.core.recipe", "recipe_from_history", "save_recipe"
        )

        doc = self.document.doc
        history, step, photo = doc.history, doc.history.current.id, doc.source.name
        self.document.status.emit(f"Exporting the recipe {path.name}…", 0)
        self.tasks.run(
            lambda: save_recipe(recipe_from_history(history, step, photo_name=photo), path),
            on_done=lambda _: self._recipe_exported(path),
            on_error=self.document.fail,
        )

    def _recipe_exported(self, path: Path) -> None:
        self.last_recipe = path
        self.document.status.emit(f"Exported the recipe {path}; run it with mgie-desktop batch", 5000)

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


def open_filter() -> str:
    """The open dialog's filter: photos (camera RAW too, which core/raw.py develops) and sessions."""
    raw = " ".join(f"*{suffix}" for suffix in sorted(load("mgie_desktop.core.raw", "RAW_SUFFIXES")))
    return OPEN_FILTER.format(raw=raw)


def export_filter(name: str, choices: str = EXPORT_FILTER) -> str:
    """The entry of ``choices`` whose format ``name`` has (PNG when none has it)."""
    suffix = Path(name).suffix.lower()
    filters = choices.split(";;")
    return next((f for f in filters if f"*{suffix}" in f.split("(")[1]), filters[0]) if suffix else filters[0]


def export_path(path: Path, chosen_filter: str) -> Path:
    """The name typed, in the format chosen when the name says none (``holiday`` with the JPEG
    filter: ``holiday.jpg``); a format the name does say is what the person asked for."""
    if path.suffix.lower() in EXPORT_SUFFIXES:
        return path
    patterns = chosen_filter.partition("(")[2].rstrip(")").split()
    suffix = patterns[0].removeprefix("*") if patterns else ".png"
    return path.with_name(path.name + suffix)


def _open_document(path: Path) -> tuple[Document, dict]:
    """Read the document, its thumbnails and its current image."""
    open_document = load("mgie_desktop.core.document", "open_document")

    doc = open_document(path)
    try:
        return doc, _thumbnails(doc)
    except BaseException:
        doc.close()  # its work folder and writer go with it
        raise


def _find_recoverable(folder: Path | None) -> list:
    return load("mgie_desktop.core.autosave", "find_recoverable")(folder)


def _recovery_check_failed(exc: Exception) -> None:
    """Nothing to offer the user: a damaged autosave folder must not spoil the start."""
    log.warning("the crash-recovery check failed", exc_info=exc)


def _thumbnails(doc: Document) -> dict:
    """A thumbnail of every step whose image decodes. A step damaged in the file stays in the
    history without one (asking for it says why); if it is the current step, its nearest
    ancestor that decodes becomes current, so the document opens on a picture."""
    DamagedImage = load("mgie_desktop.core.history", "DamagedImage")

    history, thumbs = doc.history, {}
    for step in history.steps:
        try:
            thumbs[step.id] = thumbnail(history.image(step.id))
        except DamagedImage:
            continue
    if history.current.id not in thumbs:
        shown = next((s for s in reversed(history.lineage(history.current.id)) if s.id in thumbs), None)
        if shown is None:  # not even the photo decodes: nothing to show
            history.image(history.lineage(history.current.id)[0].id)  # raises DamagedImage, naming it
        history.go_to(shown.id)
    history.image()  # the current image, decoded and cached for the canvas
    return thumbs
