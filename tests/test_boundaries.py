"""Architecture rules that keep start-up fast and the core Qt-free, checked two ways:
statically (no module-level heavy import outside the engine, no Qt in core/engine) and
by importing the light modules in a fresh interpreter."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mgie_desktop"
HEAVY = {"torch", "diffusers", "transformers", "accelerate"}
QT = {"PySide6", "qasync", "shiboken6"}


def top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def all_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))
TORCH_SIDE = ("engine", "testing")  # the packages whose modules import torch at their top


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_heavy_libraries_only_at_engine_module_level(path):
    if path.relative_to(PACKAGE).parts[0] in TORCH_SIDE:
        return
    assert not top_level_imports(path) & HEAVY


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.relative_to(PACKAGE).parts[0] in ("core", *TORCH_SIDE)],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_core_and_engine_never_import_qt(path):
    assert not all_imports(path) & QT


def test_core_imports_neither_torch_nor_qt():
    for path in (PACKAGE / "core").rglob("*.py"):
        assert not all_imports(path) & (HEAVY | QT), path


def test_light_modules_do_not_pull_torch_at_runtime():
    code = (
        "import sys, mgie_desktop.cli, mgie_desktop.core.imaging, mgie_desktop.core.params, "
        "mgie_desktop.engine.inventory, mgie_desktop.engine.prompt; "
        "bad = sorted(m for m in ('torch', 'diffusers', 'transformers', 'PySide6') if m in sys.modules); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_what_edits_never_needs_what_measures():
    """testing/ (stand-ins, the reference's path, the engine benchmark) serves bench, `models random`
    and the tests; the engine, the window, the server and batch edit without it."""
    for room in ("core", "engine", "ui", "remote", "batch", "store"):
        for path in (PACKAGE / room).rglob("*.py"):
            assert "mgie_desktop.testing" not in path.read_text(encoding="utf-8"), path


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it, by its full dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("room", ["batch", "store", "remote", "core"])
def test_no_room_below_the_command_line_imports_it(room):
    """cli.py uses batch/, store/, remote/ and core/, never the other way round: exit codes and
    everything else they share live in core (core.exit_codes)."""
    for path in (PACKAGE / room).rglob("*.py"):
        assert "mgie_desktop.cli" not in imported_modules(path), path
        assert "mgie_desktop.cli" not in path.read_text(encoding="utf-8"), path  # nor through deferred.load
