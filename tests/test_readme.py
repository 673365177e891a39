"""The README's test command is what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()[:10] if line.startswith("    ")]
    assert len(readme) == 2, "the README starts with two commands: run the app, run the tests"
    app, tests = readme
    assert app.endswith("mgie-desktop") and "torch==2.13.0" in app
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()
