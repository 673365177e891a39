"""The Linux installer's own logic that runs without a build: options and the CUDA library split."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


def _deb_parts():
    spec = importlib.util.spec_from_file_location("deb_parts", ROOT / "installer" / "linux" / "deb_parts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The NVIDIA libraries of torch 2.10.0+cu128 as the CUDA build collects them (MB).
NVIDIA_MB = {
    "cudnn": 1005,
    "cublas": 829,
    "cusparselt": 432,
    "nccl": 410,
    "cusolver": 387,
    "cusparse": 371,
    "cufft": 269,
    "cuda_nvrtc": 212,
    "nvshmem": 153,
    "curand": 131,
    "nvjitlink": 90,
    "cuda_cupti": 40,
    "cufile": 4,
    "cuda_runtime": 1,
    "nvtx": 1,
}


@pytest.mark.parametrize("limit_mb", [1005, 2000, 3000, 10_000])
def test_every_library_lands_in_one_part_and_no_part_is_over_the_limit(limit_mb):
    placed = _deb_parts().first_fit({k: v * MB for k, v in NVIDIA_MB.items()}, limit_mb * MB)
    assert set(placed) == set(NVIDIA_MB)
    parts = sorted(set(placed.values()))
    assert parts == list(range(1, len(parts) + 1))
    totals = {p: sum(NVIDIA_MB[k] for k, v in placed.items() if v == p) for p in parts}
    assert max(totals.values()) <= limit_mb
    assert len(parts) * limit_mb < sum(NVIDIA_MB.values()) + limit_mb * 2  # no gratuitous parts
    assert placed["cudnn"] == 1  # largest first


def test_a_library_larger_than_a_part_is_refused():
    with pytest.raises(ValueError, match="cudnn is 1005 MB"):
        _deb_parts().first_fit({"cudnn": 1005 * MB}, 1000 * MB)


def test_the_command_prints_its_placement(tmp_path):
    for name, size in (("big", 3), ("mid", 2), ("small", 1)):
        (tmp_path / name / "lib").mkdir(parents=True)
        (tmp_path / name / "lib" / f"lib{name}.so").write_bytes(b"\0" * size * MB)
    script = str(ROOT / "installer" / "linux" / "deb_parts.py")
    run = subprocess.run(["python3", script, str(tmp_path), "3"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.splitlines() == ["1 big", "2 mid", "2 small"]
    run = subprocess.run(["python3", script, str(tmp_path), "2"], capture_output=True, text=True)
    assert run.returncode == 1 and "big is 3 MB, more than a part may hold (2 MB)" in run.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--torch", "rocm"], "--torch must be cpu or cuda, not 'rocm'"), (["--sign"], "unknown option --sign")],
)
def test_build_sh_refuses_unknown_choices_before_building_anything(args, needle, tmp_path):
    run = subprocess.run(
        ["bash", str(ROOT / "installer" / "build.sh"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 2 and needle in run.stderr and len(run.stderr.splitlines()) == 1
