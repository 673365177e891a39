"""What a new user reads from the models commands: no third-party noise (issue 25, 10)."""

import os
import subprocess
import sys


def test_models_tiny_prints_its_own_lines_and_no_library_warnings(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mgie_desktop", "models", "tiny", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert run.returncode == 0, run.stderr
    noise = [
        line
        for line in (run.stdout + run.stderr).splitlines()
        if "Warning" in line or line.startswith("[transformers]") or "it/s]" in line
    ]
    assert noise == [], noise
    assert run.stdout.startswith("models ready in ")


def test_verify_with_nothing_installed_says_so_rather_than_one_damaged_file(tmp_path, capsys):
    import json

    from mgie_desktop.cli import main

    assert main(["models", "verify", "--models", str(tmp_path / "none")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("nothing to verify: no MGIE models in ") and "damaged" not in out
    assert main(["models", "verify", "--json", "--models", str(tmp_path / "none")]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_an_instruction_or_expressive_text_that_is_not_text_is_refused_before_the_models_load(
    tmp_path, photo_path
):
    """Bytes that are not UTF-8 reach Python from argv as lone surrogates: one line, exit 2, no loading."""
    import os

    for args in ([b"-i", b"make it \xff pop"], [b"-i", b"make it pop", b"--expressive", b"bright \xfe"]):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "mgie_desktop",
                "edit",
                str(photo_path),
                *args,
                "-o",
                str(tmp_path / "out.png"),
                "--models",
                str(tmp_path / "no-models"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            errors="replace",
            env={**os.environ, "PYTHONUTF8": "1"},
        )
        assert run.returncode == 2, run.stderr
        assert (
            run.stderr.count("\n") == 1 and "not valid text" in run.stderr and "Traceback" not in run.stderr
        )
        assert not (tmp_path / "out.png").exists()


def test_the_engine_refuses_text_that_is_not_text_for_every_model(engine, photo):
    import pytest

    from mgie_desktop.core.errors import InputError

    with pytest.raises(InputError, match="not valid text"):
        engine.instruct(photo, "make it \ud800 pop")
    with pytest.raises(InputError, match="the expressive instruction .*not valid text"):
        engine.steer(photo, "make it pop", "bright \ud800")
