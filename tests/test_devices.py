"""What the app says about its torch build and GPU, on either build and either outcome (issue 24)."""

import warnings

import pytest
import torch

from mgie_desktop.engine import devices


@pytest.mark.parametrize(("number", "text"), [(91002, "9.10.2"), (90100, "9.1.0"), (8902, "8.9.2")])
def test_cudnn_versions_read_as_dotted_text(number, text):
    assert devices.cudnn_version_text(number) == text


@pytest.fixture
def cuda_build(monkeypatch):
    """This torch as a CUDA 12.8 build that finds no GPU (the installed app on a machine without one)."""
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return monkeypatch


def test_the_build_is_named_with_its_cuda_runtime_and_cudnn(cuda_build):
    assert devices.torch_build() == "CUDA 12.8 runtime, cuDNN 9.10.2"


def test_a_cpu_build_is_named_so(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    assert devices.torch_build() == "CPU only (no CUDA)"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(devices.sys, "platform", "linux")
    monkeypatch.setattr(devices, "nvidia_driver_loads", lambda: False)
    monkeypatch.setattr(devices.Path, "exists", lambda self: False)
    status = devices.gpu_status()
    assert status.device is None and status.text == "this is the CPU-only build of PyTorch"


def test_without_a_driver_the_cuda_build_says_so(cuda_build):
    cuda_build.setattr(devices, "nvidia_driver_loads", lambda: False)
    status = devices.gpu_status()
    assert status.device is None and status.text == "no NVIDIA driver found (libcuda.so.1 is not installed)"


def test_an_old_driver_is_named_from_torch_s_own_warning(cuda_build):
    def too_old():
        warnings.warn(
            "CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). "
            "Please update your GPU driver.",
            UserWarning,
            stacklevel=1,
        )
        return False

    cuda_build.setattr(torch.cuda, "is_available", too_old)
    cuda_build.setattr(devices, "nvidia_driver_loads", lambda: True)
    assert devices.gpu_status().text == (
        "CUDA could not start: The NVIDIA driver on your system is too old (found version 11040)"
    )


def test_hidden_gpus_are_named(cuda_build):
    cuda_build.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES" in devices.gpu_status().text


def test_a_working_gpu_is_named_with_its_memory(cuda_build):
    class Properties:
        total_memory = 24 * 2**30

    cuda_build.setattr(torch.cuda, "is_available", lambda: True)
    cuda_build.setattr(torch.cuda, "current_device", lambda: 0)
    cuda_build.setattr(torch.cuda, "get_device_properties", lambda index: Properties())
    cuda_build.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA RTX 4090")
    assert devices.gpu_status() == devices.GpuStatus("cuda", "NVIDIA RTX 4090 (24 GB)")


def test_falling_back_to_the_cpu_is_said_only_when_auto_chose_it(cuda_build):
    cuda_build.setattr(devices, "nvidia_driver_loads", lambda: False)
    note = devices.cpu_fallback_note("auto", torch.device("cpu"))
    assert note == "editing on the CPU: no NVIDIA driver found (libcuda.so.1 is not installed)"
    assert devices.cpu_fallback_note("cpu", torch.device("cpu")) == ""  # asked for: nothing to explain
    assert devices.cpu_fallback_note("auto", torch.device("cuda")) == ""


def test_the_plan_line_names_the_cpu_precision_on_a_machine_without_a_gpu(cuda_build):
    cuda_build.setattr(devices, "nvidia_driver_loads", lambda: False)
    for native in (False, True):
        cuda_build.setattr(devices, "cpu_runs_bf16", lambda native=native: native)
        cuda_build.setattr(devices, "available_memory", lambda: 64 * 2**30)
        assert devices.auto_plan_text() == (
            "cpu bf16: the CPU computes bf16 natively; about 18.0 GB of 64.0 GB available"
            if native
            else "cpu fp32: the CPU has no native bf16; about 34.0 GB of 64.0 GB available"
        )


@pytest.mark.parametrize(("ratio", "native"), [(0.5, True), (0.95, True), (3.2, False), (300.0, False)])
def test_the_bf16_probe_decides_once_per_key_and_remembers(monkeypatch, tmp_path, ratio, native):
    calls = []
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(devices, "bf16_time_ratio", lambda: calls.append(1) or ratio)
    monkeypatch.setattr(devices, "_probe_cache_path", lambda: tmp_path / "cpu-bf16.json")
    monkeypatch.setattr(devices, "_bf16_answers", {})
    assert devices.cpu_runs_bf16() is native and devices.cpu_runs_bf16() is native and len(calls) == 1
    monkeypatch.setattr(devices, "_bf16_answers", {})  # a new process reads the answer from the cache
    assert devices.cpu_runs_bf16() is native and len(calls) == 1
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "SSE41")  # another key (oneDNN's older variable): probed again
    devices.cpu_runs_bf16()
    assert len(calls) == 2


@pytest.mark.parametrize(("ratio", "native"), [(1.2, True), (1.9, False)])
def test_an_unclear_probe_decides_this_run_only(monkeypatch, tmp_path, ratio, native):
    """A probe disturbed by other work lands between native (~0.5x fp32) and emulated (3x and more):
    it decides for this process but is not remembered, so the next start measures again."""
    calls = []
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(devices, "bf16_time_ratio", lambda: calls.append(1) or ratio)
    monkeypatch.setattr(devices, "_probe_cache_path", lambda: tmp_path / "cpu-bf16.json")
    monkeypatch.setattr(devices, "_bf16_answers", {})
    assert devices.cpu_runs_bf16() is native and devices.cpu_runs_bf16() is native and len(calls) == 1
    assert not (tmp_path / "cpu-bf16.json").exists()
    monkeypatch.setattr(devices, "_bf16_answers", {})  # the next process
    devices.cpu_runs_bf16()
    assert len(calls) == 2


def test_the_probe_times_both_precisions_in_turns(monkeypatch):
    """Best of several runs each, interleaved: a burst of other work cannot fall on one precision only."""
    order = []
    real = torch.Tensor.__matmul__

    def spy(self, other):
        order.append(self.dtype)
        return real(self, other)

    monkeypatch.setattr(torch.Tensor, "__matmul__", spy)
    ratio = devices.bf16_time_ratio(repeats=3)
    assert ratio > 0 and order[2:] == [torch.bfloat16, torch.float32] * 3


def test_without_the_instructions_there_is_no_probe(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(devices, "bf16_time_ratio", lambda: pytest.fail("probed"))
    assert devices.cpu_runs_bf16() is False


def test_the_isa_variables_flip_auto_to_fp32(tmp_path):
    """Under ONEDNN_MAX_CPU_ISA=AVX2 and ATEN_CPU_CAPABILITY=avx2 bf16 is emulated on any CPU: auto is fp32."""
    import os
    import subprocess
    import sys

    script = (
        "from mgie_desktop.engine import devices, memory as m\n"
        "native = devices.cpu_runs_bf16()\n"
        "plan = m.plan_cpu('auto', 'auto', m.FULL_BUNDLE_BYTES, m.FULL_LLM_BYTES, 64 * m.GB, native)\n"
        "print(native, plan.precision)\n"
    )
    env = {
        **os.environ,
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "XDG_CACHE_HOME": str(tmp_path),
    }
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "fp32"]


def test_releasing_memory_gives_glibc_s_free_lists_back(monkeypatch):
    """After a job the server calls release_memory: garbage collected, and on glibc malloc_trim."""
    import sys

    freed = []
    monkeypatch.setattr(devices.gc, "collect", lambda: freed.append("gc") or 0)
    if sys.platform.startswith("linux") and "musl" not in devices.platform.libc_ver()[0]:
        chunks = [bytearray(64 * 1024) for _ in range(2000)]  # 128 MB in pieces below mmap's threshold
        del chunks[::2], chunks
        assert devices.release_memory() is True
    else:
        assert devices.release_memory() is False
    assert freed == ["gc"]


@pytest.mark.parametrize(("precision", "channels_last"), [("bf16", True), ("fp32", False)])
def test_bf16_convolutions_run_channels_last_on_the_cpu(tiny_models, photo, precision, channels_last):
    from mgie_desktop.core.params import params_for
    from mgie_desktop.engine.pipeline import MgieEngine

    engine = MgieEngine(tiny_models, device="cpu", precision=precision)
    for module in (engine.bundle.unet.conv_in, engine.bundle.vae.encoder.conv_in):
        assert module.weight.is_contiguous(memory_format=torch.channels_last) is channels_last
    result = engine.edit(
        photo, "make the sky a sunset", params_for("draft", steps=2, pixel_budget=64 * 64)
    ).image
    assert result.size == photo.size


def test_when_torch_has_already_warned_its_initialisation_error_names_the_reason(cuda_build):
    """torch warns about an old driver only once per process; asked again, the reason must not be lost."""

    def old_driver():
        raise RuntimeError(
            "The NVIDIA driver on your system is too old (found version 11040). Please update."
        )

    cuda_build.setattr(devices, "nvidia_driver_loads", lambda: True)
    cuda_build.setattr(torch.cuda, "init", old_driver)
    assert devices.gpu_status().text == (
        "CUDA could not start: The NVIDIA driver on your system is too old (found version 11040)"
    )
    cuda_build.setattr(torch.cuda, "init", lambda: None)
    assert devices.gpu_status().text == "the NVIDIA driver reports no usable GPU"
