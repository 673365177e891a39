"""What a new user reads from the models commands: no third-party noise (issue 25, 10)."""

import os
import subprocess
import sys


def test_models_tiny_prints_its_own_lines_and_no_library_warnings(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mgie_desktop", "models", "tiny", str(tmp_path / "m")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": ""})
    assert run.returncode == 0, run.stderr
    noise = [line for line in (run.stdout + run.stderr).splitlines()
             if "Warning" in line or line.startswith("[transformers]") or "it/s]" in line]
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
