"""Device and dtype choice: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import copy
import ctypes
import gc
import importlib.util
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import torch

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.memory import FULL_BUNDLE_BYTES, FULL_LLM_BYTES, plan_cpu, plan_memory

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
MPS_SLICING_BELOW = 64 * 2**30  # diffusers' advice for Apple silicon: slice attention below 64 GB of RAM


def pick_device(requested: str = "auto") -> torch.device:
    if requested not in DEVICE_CHOICES:
        raise InputError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if requested == "cuda" and not cuda:
        raise InputError("device 'cuda' was requested but no CUDA GPU is available to this PyTorch build")
    if requested == "mps" and not mps:
        raise InputError("device 'mps' was requested but Apple MPS is not available")
    return torch.device(requested)


def torch_build() -> str:
    """What this PyTorch was built for, as the selftest and bench name it."""
    if torch.version.cuda:
        text = f"CUDA {torch.version.cuda} runtime"
        try:
            cudnn = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        except (RuntimeError, OSError):
            cudnn = None
        return text + (f", cuDNN {cudnn_version_text(cudnn)}" if cudnn else ", no cuDNN")
    if getattr(torch.version, "hip", None):
        return f"ROCm {torch.version.hip}"
    return "CPU only (no CUDA)"


def cudnn_version_text(number: int) -> str:
    """cuDNN's version integer as dotted text: 91002 is 9.10.2 (cuDNN 9 counts minors by 100),
    8902 is 8.9.2."""
    if number >= 90000:
        return f"{number // 10000}.{number % 10000 // 100}.{number % 100}"
    return f"{number // 1000}.{number % 1000 // 100}.{number % 100}"


@dataclass(frozen=True)
class GpuStatus:
    """The GPU this process would edit on, or why there is none (one line, for people)."""

    device: str | None  # "cuda" | "mps" | None
    text: str


NVIDIA_DRIVER_LIBRARY = "nvcuda.dll" if os.name == "nt" else "libcuda.so.1"


def nvidia_driver_loads() -> bool:
    """Whether the NVIDIA driver's user-space library can be loaded (a CUDA build needs nothing
    else from the system: its CUDA runtime and libraries ship inside the app)."""
    try:
        ctypes.CDLL(NVIDIA_DRIVER_LIBRARY)
    except OSError:
        return False
    return True


def gpu_status() -> GpuStatus:
    """The GPU ``auto`` picks, or in one line why it falls back to the CPU."""
    if torch.version.cuda:
        with warnings.catch_warnings(record=True) as caught:  # torch says why CUDA cannot start
            warnings.simplefilter("always")
            available = torch.cuda.is_available()
        if available:
            index = torch.cuda.current_device()
            total = torch.cuda.get_device_properties(index).total_memory / 2**30
            return GpuStatus("cuda", f"{torch.cuda.get_device_name(index)} ({total:.0f} GB)")
        return GpuStatus(None, _why_no_cuda([str(w.message) for w in caught]))
    if torch.backends.mps.is_available():
        return GpuStatus("mps", "Apple GPU (MPS)")
    if sys.platform == "darwin":
        return GpuStatus(None, "Apple MPS is not available (it needs macOS 12.3+ on Apple silicon)")
    hint = (
        "; an NVIDIA driver is installed: the CUDA build of MGIE Desktop would use its GPU"
        if Path("/proc/driver/nvidia/version").exists() or nvidia_driver_loads()
        else ""
    )
    return GpuStatus(None, f"this is the CPU-only build of PyTorch{hint}")


def _why_no_cuda(torch_warnings: list[str]) -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    if not nvidia_driver_loads():
        return f"no NVIDIA driver found ({NVIDIA_DRIVER_LIBRARY} is not installed)"
    messages = list(torch_warnings)  # e.g. "The NVIDIA driver on your system is too old (found version ...)"
    if not any(m.strip() for m in messages):
        try:  # torch warns only the first time it is asked; its initialisation says why every time
            torch.cuda.init()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        except Exception as exc:  # whatever CUDA gives as its reason is the one to show
            messages.append(str(exc))
    for message in messages:
        text = message.removeprefix("CUDA initialization: ").strip()
        if text:
            return "CUDA could not start: " + text.splitlines()[0].split(". ")[0].rstrip(".")
    return "the NVIDIA driver reports no usable GPU"


def cpu_fallback_note(requested: str, device: torch.device) -> str:
    """The one line a person reads when ``auto`` edits on the CPU, saying why ("" otherwise)."""
    if requested != "auto" or device.type != "cpu":
        return ""
    return f"editing on the CPU: {gpu_status().text}"


def release_memory() -> bool:
    """Give a finished job's memory back to the system: Python's cycles, the CUDA cache, and
    glibc's free lists (which otherwise keep a large photo's pages in a long-lived server).
    True when glibc returned memory."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):  # another C library (musl) has no malloc_trim
        return False


def free_device_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device (None elsewhere: CPU and MPS share the system's memory)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def quantization_available() -> bool:
    """bitsandbytes (the optional ``quantization`` extra) with a CUDA GPU."""
    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# The variables that narrow what oneDNN and ATen run (each also changes the answer of the probe).
CPU_ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
NATIVE_BF16_MAX_RATIO = 1.5  # bf16 at most this much slower than fp32 counts as native (emulated: 3x-300x)
# Only a clear answer is remembered: native bf16 measured 0.5x fp32 here, emulated 3x and more. A
# ratio between these came from a probe disturbed by other work (a full test run once left
# "emulated" cached on a CPU with native bf16, and every edit after ran fp32 at 0.6x the speed).
CLEARLY_NATIVE, CLEARLY_EMULATED = 1.0, 2.5
_bf16_answers: dict[str, bool] = {}


def cpu_runs_bf16() -> bool:
    """Whether bf16 is fast here: natively computed (AVX-512 BF16 or AMX) by what oneDNN and ATen
    will actually run, which ``ONEDNN_MAX_CPU_ISA`` and ``ATEN_CPU_CAPABILITY`` may narrow. Natively
    a bf16 UNet step is ~2-3x faster than an fp32 one; emulated it is 3x to hundreds of times
    slower. The instruction sets are asked first; where they are there, a short timed probe (a
    convolution and a matrix product in both precisions) decides, cached by the key it depends on
    when its answer is clear."""
    try:
        if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
            return False
    except (AttributeError, RuntimeError):
        return False
    key = cpu_probe_key()
    if key not in _bf16_answers:
        cache = _probe_cache_path()
        answers = _read_json(cache)
        if isinstance(answers.get(key), bool):
            _bf16_answers[key] = answers[key]
        else:
            ratio = bf16_time_ratio()
            _bf16_answers[key] = ratio <= NATIVE_BF16_MAX_RATIO
            if ratio <= CLEARLY_NATIVE or ratio >= CLEARLY_EMULATED:
                answers[key] = _bf16_answers[key]
                _write_json(cache, answers)
    return _bf16_answers[key]


def cpu_probe_key() -> str:
    """What the probe's answer depends on: torch, the CPU model and the variables that narrow it."""
    variables = ",".join(f"{name}={os.environ.get(name, '')}" for name in CPU_ISA_VARIABLES)
    return f"probe 3|torch {torch.__version__}|{_cpu_model()}|{variables}"


def bf16_time_ratio(repeats: int = 5) -> float:
    """bf16 time over fp32 time for a small convolution and matrix product: the best of
    ``repeats`` each, taken in turns, so that a burst of other work slows both alike."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 32, 32, generator=generator)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    a, b = torch.randn(256, 512, generator=generator), torch.randn(512, 512, generator=generator)

    def runner(dtype: torch.dtype) -> Callable[[], float]:
        form = conv_memory_format(torch.device("cpu"), dtype)  # as the engine runs each precision
        # Module.to takes memory_format at run time; torch's annotations leave it out
        layer = copy.deepcopy(conv).to(dtype, memory_format=form)  # type: ignore[call-overload]
        xs = x.to(dtype, memory_format=form)
        left, right = a.to(dtype), b.to(dtype)

        def once() -> float:
            started = time.perf_counter()
            layer(xs)
            left @ right
            return time.perf_counter() - started

        return once

    runs = {dtype: runner(dtype) for dtype in (torch.bfloat16, torch.float32)}
    best = dict.fromkeys(runs, math.inf)
    with torch.inference_mode():
        for run in runs.values():  # the first call pays for oneDNN's kernel choice
            run()
        for _ in range(repeats):
            for dtype, run in runs.items():
                best[dtype] = min(best[dtype], run())
    return best[torch.bfloat16] / best[torch.float32]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _probe_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("mgie-desktop", appauthor=False)) / "cpu-bf16.json"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Best effort: a read-only cache folder only means the probe runs again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass


def conv_memory_format(device: torch.device, dtype: torch.dtype) -> torch.memory_format:
    """How the UNet and VAE hold their convolutions: oneDNN runs bf16 convolutions on a CPU in
    channels-last order. In the default order a full-size bf16 UNet step took 59 s here, slower
    than fp32's 32 s; channels-last took 28 s (docs/PERFORMANCE.md)."""
    return (
        torch.channels_last if device.type == "cpu" and dtype == torch.bfloat16 else torch.contiguous_format
    )


def available_memory() -> int:
    """Bytes of RAM the system can give without swapping."""
    return int(load("psutil").virtual_memory().available)


def dtype_for(device: torch.device, precision: str = "auto") -> torch.dtype:
    """``precision`` as asked; ``auto``: fp16 on CUDA and MPS (SD-1.5, CLIP and LLaMA all run in
    fp16 there), fp32 on the CPU (the engine plans the CPU's from its RAM: memory.plan_cpu)."""
    if precision == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    return DTYPES[precision]


def slice_attention(device: torch.device, system_memory: int | None = None) -> bool:
    """On Apple MPS the GPU shares the system's memory and slows sharply under memory pressure;
    computing attention in slices keeps the peak down on machines with less than 64 GB."""
    if device.type != "mps":
        return False
    if system_memory is None:
        psutil = load("psutil")

        system_memory = psutil.virtual_memory().total
    return system_memory < MPS_SLICING_BELOW


def device_name(device: torch.device) -> str:
    """What the status bar names the engine's device by: the GPU's model, or the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count() or 1} cores)"


def auto_plan_text() -> str:
    """What ``auto`` would run the full-size models on here, and why: the selftest's plan line."""
    status = gpu_status()
    if status.device == "cuda":
        device = torch.device("cuda")
        plan = plan_memory(
            "cuda", free_device_memory(device), quantization_available=quantization_available()
        )
        quant = "" if plan.llm_quant == "none" else f", {plan.llm_quant} LLM"
        return f"cuda fp16, {plan.placement}{quant}: {plan.reason}"
    if status.device == "mps":
        return "mps fp16: one memory for all models"
    try:
        cpu_plan = plan_cpu(
            "auto", "auto", FULL_BUNDLE_BYTES, FULL_LLM_BYTES, available_memory(), cpu_runs_bf16()
        )
    except InputError as exc:
        return f"cpu: {exc}"
    return f"cpu {cpu_plan.reason}"
