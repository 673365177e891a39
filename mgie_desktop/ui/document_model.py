"""The open document and every change made to it, in one place.

``DocumentModel`` owns the ``core.document.Document`` (and so its History), the edit running on
it and the one queued while the models load. Every change goes through it: open and close, new
steps, moving in the history, strength, saving. It says what changed through typed signals; the
window's parts follow them (the history panel, the title, the menu's enabled entries, the
autosave, the edit panel's text and settings), so no part repeats another's bookkeeping.

Parts that change the document get this model, never the window: they stay testable alone and
the window only builds and wires them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import MgieError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.logs import log, log_file_hint
from mgie_desktop.core.step_params import StepParams
from mgie_desktop.ui.images import thumbnail

if TYPE_CHECKING:  # Pillow and the history load with the first photo, after the window is up
    from PIL.Image import Image
    from PySide6.QtGui import QImage

    from mgie_desktop.core.document import Document
    from mgie_desktop.core.history import History, Step


class JobState(Enum):
    """Where the document's edit stands."""

    IDLE = "idle"  # no edit: the history may move
    QUEUED = "queued"  # asked for while the models load; sent once they are ready
    RUNNING = "running"  # on the engine; the history waits for its answer


@dataclass(frozen=True)
class NewStep:
    """A step to add: its full-resolution image, its thumbnail and what ``History.push`` keeps."""

    image: Image
    thumbnail: QImage
    instruction: str
    params: StepParams
    parent: int | None = None  # None: the current step
    expressive_instruction: str = ""
    steered_instruction: str = ""
    mask: str = ""  # core.masks.mask_to_text; "" = everywhere
    timings: dict = field(default_factory=dict)


class DocumentModel(QObject):
    opened = Signal(object)  # the Document now open (None: none is)
    steps_added = Signal(list)  # the new Steps, in the order they were added
    thumbnail_changed = Signal(int, object)  # step id, its QImage thumbnail (new, or its strength changed)
    current_changed = Signal(object)  # the Step now current
    moved = Signal(object)  # the Step moved to in the history (undo, redo, a click): not yet shown
    changed = Signal()  # the document's content changed: it is autosaved after each
    modified_changed = Signal(bool)  # unsaved changes, or none
    job_changed = Signal(object)  # JobState
    status = Signal(str, int)  # a line for the status bar and how long it stays (ms; 0: until replaced)
    failed = Signal(str, str)  # something the person asked for did not work: message, details
    closing = Signal(object)  # the Document about to close (its file work finishes first)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.doc: Document | None = None
        self.document_id = 0  # each opened document gets a new one; answers for an older one are dropped
        self._ids = itertools.count(1)
        self.running: EditJob | None = None  # sent to the engine, not answered yet
        self.queued: EditJob | None = None  # asked for while the models load
        # Strength changes of the current step, undone and redone before moving in the history:
        # (step id, strength before, strength after), one per drag.
        self._strength_undo: list[tuple[int, float, float]] = []
        self._strength_redo: list[tuple[int, float, float]] = []
        self._strength_before: dict[int, float] = {}  # a drag under way: the strength it started from

    # ---- what is open -------------------------------------------------------------------------
    @property
    def history(self) -> History | None:
        return self.doc.history if self.doc else None

    @property
    def modified(self) -> bool:
        return bool(self.doc and self.doc.modified)

    @property
    def name(self) -> str | None:
        return self.doc.name if self.doc else None

    @property
    def job_state(self) -> JobState:
        return JobState.RUNNING if self.running else JobState.QUEUED if self.queued else JobState.IDLE

    @property
    def busy(self) -> bool:
        """An edit is running: the history waits, so its result joins the step it started from."""
        return self.running is not None

    def is_open(self, document_id: int) -> bool:
        """Is ``document_id`` still the open document? (An answer may arrive after another was opened.)"""
        return self.doc is not None and document_id == self.document_id

    def open(self, doc: Document, thumbnails: dict[int, QImage]) -> None:
        """Make ``doc`` (read on a file-work thread, with a thumbnail for each step) the open document."""
        self.close()
        self.doc = doc
        self.document_id = next(self._ids)
        self._strength_undo.clear()
        self._strength_redo.clear()
        self._strength_before.clear()
        self.opened.emit(doc)
        for step_id, thumb in thumbnails.items():
            self.thumbnail_changed.emit(step_id, thumb)
        self.current_changed.emit(doc.history.current)
        self.modified_changed.emit(doc.modified)
        self.changed.emit()

    def close(self) -> None:
        """Close the open document, if any: its edits are cancelled and its file work finishes first
        (``closing``'s listeners do both before it goes)."""
        doc = self.doc
        if doc is None:
            return
        self.closing.emit(doc)
        self.forget_jobs()
        self.doc = None
        doc.close()
        self.opened.emit(None)
        self.modified_changed.emit(False)

    def fail(self, exc: BaseException, about: str = "That did not work.") -> None:
        """Something asked for failed: say so (``failed``), and keep the work that is open. Our own
        errors are written for people; anything else is ``about``, with the traceback in the log."""
        if isinstance(exc, MgieError):
            self.failed.emit(str(exc), "")
            return
        log.error("%s", about, exc_info=exc)
        self.failed.emit(f"{about} Something unexpected went wrong{log_file_hint()}.", "")

    # ---- changes ------------------------------------------------------------------------------
    def add_steps(self, steps: list[NewStep], current: int = 0) -> list[Step]:
        """Add ``steps`` to the history (each as ``History.push`` would) and make ``steps[current]``
        current; several renders of one edit are siblings, each a branch of its own."""
        history = self.history
        added = [
            history.push(
                new.image,
                instruction=new.instruction,
                params=new.params,
                parent=new.parent,
                expressive_instruction=new.expressive_instruction,
                steered_instruction=new.steered_instruction,
                mask=new.mask,
                timings=new.timings,
            )
            for new in steps
        ]
        self._strength_undo.clear()
        self._strength_redo.clear()
        for step, new in zip(added, steps, strict=True):
            self.thumbnail_changed.emit(step.id, new.thumbnail)
        if added[current].id != history.current.id:
            history.go_to(added[current].id)
        self.steps_added.emit(added)
        self._touch()
        self.current_changed.emit(history.current)
        return added

    def set_strength(self, step_id: int, strength: float) -> None:
        """How much of an edit shows over its source (``History.set_strength``, a live blend): one
        undoable change, from where its drag began (``strength_changing``)."""
        before = self._strength_before.pop(step_id, self.history.strength(step_id))
        if strength == before:
            return
        self._strength_undo.append((step_id, before, strength))
        self._strength_redo.clear()
        self._set_strength(step_id, strength)

    def _set_strength(self, step_id: int, strength: float) -> None:
        self.history.set_strength(step_id, strength)
        self.thumbnail_changed.emit(step_id, thumbnail(self.history.image(step_id)))
        self._touch()

    def strength_changing(self, step_id: int) -> None:
        """A drag begins (the canvas blends live; the history changes when it ends): remember where
        it started, so the whole drag is one change to undo."""
        self._strength_before.setdefault(step_id, self.history.strength(step_id))

    @property
    def can_undo(self) -> bool:
        return self.history is not None and (
            self._strength_change(self._strength_undo) or self.history.can_undo
        )

    @property
    def can_redo(self) -> bool:
        return self.history is not None and (
            self._strength_change(self._strength_redo) or self.history.can_redo
        )

    def _strength_change(self, changes: list) -> bool:
        return bool(changes) and changes[-1][0] == self.history.current.id

    def go_to(self, step_id: int) -> bool:
        """Make step ``step_id`` current; False while an edit runs (its result joins the step it started from)."""
        if self.history is None or self.busy:
            return False
        if (reason := self.history.store.damaged.get(step_id)) is not None:  # nothing to show or edit from
            self.fail(
                load("mgie_desktop.core.history", "DamagedImage")(step_id, reason)
            )  # Pillow: loaded by now
            return False
        self.history.go_to(step_id)
        self._moved()
        return True

    def undo(self) -> bool:
        """The last strength change of the current step, else back to the step before."""
        if self.history is None or self.busy:
            return False
        if self._strength_change(self._strength_undo):
            step_id, before, after = self._strength_undo.pop()
            self._strength_redo.append((step_id, before, after))
            self._reblend(step_id, before)
            return True
        if self.history.undo() is None:
            return False
        self._moved()
        return True

    def redo(self) -> bool:
        if self.history is None or self.busy:
            return False
        if self._strength_change(self._strength_redo):
            step_id, before, after = self._strength_redo.pop()
            self._strength_undo.append((step_id, before, after))
            self._reblend(step_id, after)
            return True
        if self.history.redo() is None:
            return False
        self._moved()
        return True

    def _reblend(self, step_id: int, strength: float) -> None:
        """Undo or redo of a strength change: the live blend at that strength, shown again."""
        self._set_strength(step_id, strength)
        self.moved.emit(self.history.current)  # the canvas fetches the re-blended image

    def _moved(self) -> None:
        # Strength changes stay: each is undone or redone only while its own step is current.
        self.current_changed.emit(self.history.current)
        self.moved.emit(self.history.current)
        self.changed.emit()  # the current step is part of what an autosave keeps

    def _touch(self) -> None:
        was = self.doc.modified
        self.doc.touch()
        if not was:
            self.modified_changed.emit(True)
        self.changed.emit()

    def saved(self, doc: Document, path: Path, revision: int) -> None:
        """``doc`` was saved to ``path`` as it was at ``revision``: an edit that landed during the
        save is not in the file, so the document stays modified then."""
        doc.session_path = path
        doc.modified = doc.revision != revision
        if doc is self.doc:
            self.modified_changed.emit(doc.modified)  # the title follows, with the session's name

    # ---- the edit on the engine -----------------------------------------------------------------
    def queue(self, job: EditJob) -> None:
        self.queued = job
        self.job_changed.emit(self.job_state)

    def take_queued(self) -> EditJob | None:
        """The queued edit, if it is still this document's; it leaves the queue either way."""
        job, self.queued = self.queued, None
        if job is not None:
            self.job_changed.emit(self.job_state)
        return job if job is not None and job.document == self.document_id else None

    def start(self, job: EditJob) -> bool:
        """``job`` goes to the engine; False if one is running already."""
        if self.running is not None:
            return False
        self.running = job
        self.job_changed.emit(self.job_state)
        return True

    def is_running(self, job_id: int) -> bool:
        return self.running is not None and self.running.job_id == job_id

    def finish(self) -> None:
        """The running edit was answered (a result, a failure or a cancellation)."""
        if self.running is not None:
            self.running = None
            self.job_changed.emit(self.job_state)

    def forget_jobs(self) -> EditJob | None:
        """The running edit and the queued one belong to a document going away; the running one
        is returned, for the engine to cancel."""
        running, self.running, self.queued = self.running, None, None
        if running is not None:
            self.job_changed.emit(self.job_state)
        return running
