"""One way of writing a message: as the command line prints it after ``mgie-desktop:`` (lowercase,
no full stop), turned into a sentence where the window shows it (core.display_text.sentence)."""

import ast
import re
from pathlib import Path

import pytest

from mgie_desktop.core import errors
from mgie_desktop.core.display_text import sentence
from mgie_desktop.store import errors as store_errors

PACKAGE = Path(__file__).resolve().parents[1] / "mgie_desktop"
OURS = {
    name
    for module in (errors, store_errors)
    for name, value in vars(module).items()
    if isinstance(value, type) and issubclass(value, errors.MgieError)
}
# A first word may keep its capital when it is a name: it has another capital or a digit
# (MGIE, InstructPix2Pix, HEIC/HEIF, TLS), or it is one of these.
NAMES = {"Hugging", "Python", "Ray", "Linux", "Windows", "Qt", "PyTorch"}


def test_a_sentence_is_capitalised_and_ended_once():
    assert sentence("cannot open 'a.png': the file is empty") == "Cannot open 'a.png': the file is empty."
    assert sentence("  InstructPix2Pix is not installed ") == "InstructPix2Pix is not installed."
    assert sentence("Already a sentence.") == "Already a sentence."
    assert sentence("is it?") == "Is it?" and sentence("") == ""


def _message_starts(tree: ast.AST):
    """(line, leading text) of each message literal given to one of our exceptions."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name not in OURS and name != "fail":  # fail(): the functions that build "cannot open 'x': ..."
            continue
        first = node.args[0]
        if isinstance(first, ast.JoinedStr) and first.values and isinstance(first.values[0], ast.Constant):
            first = first.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield node.lineno, first.value


def _message_ends(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in OURS or name == "fail":
                last = node.args[0]
                while isinstance(last, ast.BinOp):  # "..." + "..."
                    last = last.right
                if isinstance(last, ast.JoinedStr) and last.values:
                    last = last.values[-1]
                if isinstance(last, ast.Constant) and isinstance(last.value, str):
                    yield node.lineno, last.value


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE.parent), ast.parse(path.read_text(encoding="utf-8"))


def test_messages_start_as_the_command_line_prints_them():
    capitalised = []
    for path, tree in _sources():
        for line, text in _message_starts(tree):
            word = re.match(r"[^\s:,']*", text).group(0)
            if word[:1].isupper() and not re.search(r"[A-Z0-9]", word[1:]) and word not in NAMES:
                capitalised.append(f"{path}:{line}: {text[:50]!r}")
    assert not capitalised, "write messages lowercase, the window capitalises them:\n" + "\n".join(
        capitalised
    )


def test_messages_end_without_a_full_stop():
    stopped = [
        f"{path}:{line}: ...{text[-40:]!r}"
        for path, tree in _sources()
        for line, text in _message_ends(tree)
        if text.rstrip().endswith(".") and not text.endswith("...")
    ]
    assert not stopped, "no full stop at the end of a message, the window adds it:\n" + "\n".join(stopped)


@pytest.mark.parametrize("text", ["cannot save the photo: the disk is full", "MGIE could not start"])
def test_the_window_shows_errors_as_sentences(qtbot, text):
    from mgie_desktop.ui.main_window import MainWindow

    window = MainWindow(models_dir=None)
    qtbot.addWidget(window)
    window.show_error_message(text, "")
    assert window.last_error == sentence(text) and window.last_error.endswith(".")
    assert window.last_error[0].isupper()
