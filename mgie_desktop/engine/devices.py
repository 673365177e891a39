"""Device and dtype choice: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import importlib.util
import os

import torch

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError

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


def cpu_runs_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX): there a bf16 UNet step is
    ~3x an fp32 one; elsewhere bf16 is emulated and slow. (oneDNN's own "bf16 supported" check
    says yes on any AVX-512 CPU, emulation included, so the instruction sets are asked directly.)"""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


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
