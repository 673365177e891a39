"""The README's test command is what CI runs."""

import contextlib
import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = [
        line.strip() for line in (ROOT / "README.md").read_text().splitlines()[:10] if line.startswith("    ")
    ]
    assert len(readme) == 2, "the README starts with two commands: run the app, run the tests"
    app, tests = readme
    assert app.endswith("mgie-desktop") and "torch==2.13.0" in app
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_names_the_system_packages_the_window_needs_before_its_first_command():
    from mgie_desktop.ui.platform_check import XCB_LIBRARIES

    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:10])
    named = {word for word in head.replace("`", " ").split() if word.startswith("lib")}
    # the ones a stock Debian desktop lacks, and each one a package the app's own check knows
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"} <= named <= set(XCB_LIBRARIES.values())
    assert head.index("libxcb-icccm4") < head.index("pip install")


def test_the_readme_says_how_the_server_is_reached_as_serve_does_it():
    from mgie_desktop.cli import build_parser

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Edit on a laptop") :]
    section = section[: section.index("\n## ", 1)]
    with contextlib.redirect_stdout(io.StringIO()) as usage, pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    for flag in ("--host", "--token-file", "--no-token", "--max-upload-mb", "--max-queue", "--max-queue-mb"):
        assert f"`{flag}" in section and flag in usage.getvalue(), flag
    assert "needs no token" not in section  # a token is the default on loopback too
