"""``mgie-desktop --selftest`` from source (the installers run the same check on the frozen app)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_selftest_passes_from_source(tmp_path: Path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MGIE_MODELS": str(tmp_path / "unused")}
    run = subprocess.run(
        [sys.executable, "-m", "mgie_desktop", "--selftest"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "selftest OK" in run.stdout
    assert "selftest FAILED" not in run.stdout
    import torch

    lines = run.stdout.splitlines()
    build = "CUDA " + torch.version.cuda if torch.version.cuda else "CPU only"
    assert any(line.startswith(f"selftest: torch {torch.__version__}: {build}") for line in lines), run.stdout
    gpu = next(line for line in lines if line.startswith("selftest: GPU: "))
    assert torch.cuda.is_available() != gpu.startswith("selftest: GPU: none: "), gpu  # a GPU, or why none
    assert any(line.startswith("selftest: plan: ") for line in lines)
    assert not (tmp_path / "unused").exists()  # the test never touches the user's models directory


def test_selftest_reports_a_failure_with_its_reason(monkeypatch, capsys):
    from mgie_desktop import selftest

    def broken(_tmp):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(selftest, "_tiny_models", broken)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)  # run_selftest sets them; monkeypatch restores them
    assert selftest.run_selftest() == 1
    out = capsys.readouterr().out
    assert "selftest FAILED: writing and converting tiny models: RuntimeError: disk on fire" in out
    assert "selftest OK" not in out
