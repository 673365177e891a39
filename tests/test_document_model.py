"""The window's document model (ui.document_model): every change to the open document goes through
it and is announced once; the window's parts get it, never the window. No engine here."""

import ast
from pathlib import Path

from PIL import Image
from PySide6.QtGui import QImage

from mgie_desktop.core.document import Document
from mgie_desktop.core.history import History
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.session import SourceMeta
from mgie_desktop.core.step_params import DEFAULT_EDIT
from mgie_desktop.ui.document_model import DocumentModel, JobState, NewStep

UI = Path(__file__).resolve().parents[1] / "mgie_desktop" / "ui"
WIRING = {"main_window.py", "menus.py", "app.py"}  # they build the window and wire its parts


def test_the_window_s_parts_never_reach_for_the_window():
    offenders = []
    for path in sorted(UI.glob("*.py")):
        if path.name in WIRING:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Name)
                and node.id == "MainWindow"
                or isinstance(node, ast.alias)
                and node.name.endswith("main_window")
            ):
                offenders.append(f"{path.name}:{node.lineno}: MainWindow")
            elif isinstance(node, ast.ImportFrom) and node.module == "mgie_desktop.ui.main_window":
                offenders.append(f"{path.name}:{node.lineno}: imports main_window")
            elif isinstance(node, ast.Attribute) and node.attr == "window":
                offenders.append(f"{path.name}:{node.lineno}: .window")
            elif isinstance(node, ast.arg) and node.arg == "window":
                offenders.append(f"{path.name}:{node.lineno}: a parameter named window")
    assert not offenders, "give the part the document model and its own widgets:\n" + "\n".join(offenders)


class Heard:
    """Every signal of a model, in order, with its arguments."""

    def __init__(self, model: DocumentModel):
        self.events = []
        for name in (
            "opened",
            "steps_added",
            "thumbnail_changed",
            "current_changed",
            "moved",
            "changed",
            "modified_changed",
            "job_changed",
            "status",
            "failed",
            "closing",
        ):
            getattr(model, name).connect(lambda *args, name=name: self.events.append((name, args)))

    def names(self) -> list[str]:
        names, self.events = [name for name, _ in self.events], []
        return names


def _document(colour="red") -> Document:
    history = History()
    history.start(Image.new("RGB", (8, 6), colour))
    return Document(history, SourceMeta(name=f"{colour}.png"))


def _thumb() -> QImage:
    return QImage(4, 3, QImage.Format.Format_RGB32)


def _job(model: DocumentModel, job_id: int = 1) -> EditJob:
    history = model.history
    return EditJob(job_id, model.document_id, history.current.id, history.image(), "warmer", EditParams())


def test_opening_announces_the_document_its_thumbnails_and_current_step_once(qtbot):
    model = DocumentModel()
    heard = Heard(model)
    doc = _document()
    model.open(doc, {doc.history.current.id: _thumb()})
    assert heard.names() == ["opened", "thumbnail_changed", "current_changed", "modified_changed", "changed"]
    assert model.doc is doc and model.history is doc.history and model.document_id == 1 and not model.modified

    second = _document("blue")
    model.open(second, {})
    assert heard.names()[:4] == ["closing", "opened", "modified_changed", "opened"]  # the first goes first
    assert model.document_id == 2 and not model.is_open(1) and model.is_open(2)
    model.close()
    assert model.doc is None and heard.names() == ["closing", "opened", "modified_changed"]


def test_new_steps_are_siblings_the_chosen_one_current_and_the_document_modified(qtbot):
    model = DocumentModel()
    model.open(_document(), {})
    heard = Heard(model)
    root = model.history.current.id
    steps = model.add_steps(
        [
            NewStep(Image.new("RGB", (8, 6), c), _thumb(), "warmer", DEFAULT_EDIT, root)
            for c in ("orange", "yellow", "brown")
        ],
        current=1,
    )
    assert [s.parent for s in steps] == [root] * 3 and model.history.current.id == steps[1].id
    assert heard.names() == ["thumbnail_changed"] * 3 + [
        "steps_added",
        "modified_changed",
        "changed",
        "current_changed",
    ]
    assert model.modified and model.doc.revision == 1
    model.add_steps([NewStep(Image.new("RGB", (8, 6)), _thumb(), "darker", DEFAULT_EDIT)])
    assert "modified_changed" not in heard.names()  # modified already: said once


def test_undo_redo_and_moves_wait_while_an_edit_runs(qtbot):
    model = DocumentModel()
    model.open(_document(), {})
    model.add_steps([NewStep(Image.new("RGB", (8, 6), "orange"), _thumb(), "warmer", DEFAULT_EDIT)])
    edit = model.history.current.id
    heard = Heard(model)
    assert model.undo() and model.history.current.is_root
    assert heard.names() == ["current_changed", "moved", "changed"]
    assert model.start(_job(model)) and model.job_state is JobState.RUNNING and model.busy
    assert not model.start(_job(model, 2))  # one at a time
    assert not model.redo() and not model.go_to(edit) and model.history.current.is_root
    model.finish()
    assert model.job_state is JobState.IDLE and model.redo() and model.history.current.id == edit
    assert [args for name, args in heard.events if name == "job_changed"] == [
        (JobState.RUNNING,),
        (JobState.IDLE,),
    ]


def test_a_queued_edit_of_a_document_since_closed_is_dropped(qtbot):
    model = DocumentModel()
    model.open(_document(), {})
    model.queue(_job(model))
    assert model.job_state is JobState.QUEUED
    job = model.take_queued()
    assert job is not None and model.job_state is JobState.IDLE
    model.queue(job)
    model.open(_document("blue"), {})  # another photo: the old one's edit goes with it
    assert model.queued is None and model.take_queued() is None
    model.queue(job)  # made for the first document, queued late
    assert model.take_queued() is None


def test_a_save_that_raced_an_edit_leaves_the_document_modified(qtbot, tmp_path):
    model = DocumentModel()
    model.open(_document(), {})
    model.add_steps([NewStep(Image.new("RGB", (8, 6)), _thumb(), "warmer", DEFAULT_EDIT)])
    doc, revision = model.doc, model.doc.revision
    model.add_steps([NewStep(Image.new("RGB", (8, 6)), _thumb(), "cooler", DEFAULT_EDIT)])  # during the save
    heard = Heard(model)
    model.saved(doc, tmp_path / "a.mgie", revision)
    assert model.modified and model.name == "a.mgie" and ("modified_changed", (True,)) in heard.events
    model.saved(doc, tmp_path / "a.mgie", doc.revision)
    assert not model.modified


def test_strength_is_announced_with_its_new_thumbnail_and_unchanged_strength_is_not(qtbot):
    model = DocumentModel()
    model.open(_document(), {})
    (step,) = model.add_steps([NewStep(Image.new("RGB", (8, 6), "orange"), _thumb(), "warmer", DEFAULT_EDIT)])
    heard = Heard(model)
    model.set_strength(step.id, 1.0)
    assert heard.names() == []
    model.set_strength(step.id, 0.5)
    assert heard.names() == ["thumbnail_changed", "changed"] and model.history.strength(step.id) == 0.5


def test_each_strength_drag_is_one_undoable_change_before_the_history_moves(qtbot):
    model = DocumentModel()
    model.open(_document(), {})
    (step,) = model.add_steps([NewStep(Image.new("RGB", (8, 6), "orange"), _thumb(), "warmer", DEFAULT_EDIT)])
    for _value in (0.9, 0.7, 0.5):  # one drag through three values: one change, 1.0 -> 0.5
        model.strength_changing(step.id)
    model.set_strength(step.id, 0.5)
    model.strength_changing(step.id)
    model.set_strength(step.id, 0.2)  # a second drag
    assert model.can_undo and not model.can_redo
    heard = Heard(model)
    assert model.undo() and model.history.strength(step.id) == 0.5 and model.history.current.id == step.id
    assert "moved" in heard.names()  # the canvas is told to show the re-blend
    assert model.undo() and model.history.strength(step.id) == 1.0 and model.history.current.id == step.id
    assert model.redo() and model.history.strength(step.id) == 0.5
    assert model.undo() and model.undo()  # the strength back at 1.0, then the history moves
    assert model.history.current.is_root and model.history.strength(step.id) == 1.0
    assert model.redo() and model.history.current.id == step.id and model.history.strength(step.id) == 1.0
    assert model.redo() and model.history.strength(step.id) == 0.5  # redo retraces the strength changes too
    assert model.redo() and model.history.strength(step.id) == 0.2 and not model.can_redo


def test_failures_are_sentences_for_people_and_tracebacks_for_the_log(qtbot, caplog):
    from mgie_desktop.core.errors import InputError

    model = DocumentModel()
    heard = Heard(model)
    model.fail(InputError("cannot open 'x.png': the file is empty"))
    model.fail(KeyError("internal"), "Could not open x.png.")
    messages = [args[0] for name, args in heard.events if name == "failed"]
    assert messages[0] == "cannot open 'x.png': the file is empty"
    assert (
        messages[1].startswith("Could not open x.png. Something unexpected went wrong")
        and "internal" not in messages[1]
    )
    assert "KeyError" in caplog.text


def test_engine_states_are_checked_once_where_the_engine_tells_them():
    import pytest

    from mgie_desktop.ui.engine_state import EngineState

    assert EngineState("ready") is EngineState.READY and EngineState.READY == "ready"  # travels as text
    assert {s for s in EngineState if s.failed} == {
        EngineState.NOT_INSTALLED,
        EngineState.ERROR,
        EngineState.CANCELLED,
        EngineState.PAUSED,
    }
    assert {s for s in EngineState if s.coming} == {EngineState.STARTING, EngineState.LOADING}
    with pytest.raises(ValueError):
        EngineState("almost ready")  # a state the window does not know is a mistake, not a quiet default


def test_no_part_of_a_built_window_holds_the_window_under_any_name(qtbot, tmp_path, tiny_models):
    from test_ui import make_window

    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    parts = {
        "edits": window.edits,
        "engine_settings": window.engine_settings,
        "documents": window.documents,
        "compare_view": window.compare_view,
        "adjustments": window.adjustments,
        "mask_brush": window.mask_brush,
    }
    for name, part in parts.items():
        held = [key for key, value in vars(part).items() if value is window]
        assert not held, f"{name} holds the window as {held}"
        if hasattr(part, "parent") and callable(part.parent):  # a QObject: not owned by the window
            assert part.parent() is not window, f"{name}'s Qt parent is the window"
