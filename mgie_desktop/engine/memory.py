"""How the models share GPU memory: chosen from free VRAM, overridable. Pure (no torch).

fp16 sizes: LLaMA-7B 13.5 GB (8-bit ~7 GB, 4-bit ~3.9 GB), CLIP-L vision 0.6 GB, UNet 1.7 GB,
VAE 0.2 GB, plus ~1.5-2 GB of activations for a 512x512 edit (3-way guidance, batch 3).
``offload`` keeps only the half that is running on the GPU (the LLM half during ``instruct``,
the diffusion half during ``render``), so the peak is the larger half, not the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from mgie_desktop.core.errors import InputError

PLACEMENTS = ("auto", "all", "offload", "sequential")
LLM_QUANTS = ("auto", "none", "8bit", "4bit")
GB = 2**30
_FULL_GB, _OFFLOAD_GB, _OFFLOAD_8BIT_GB, _OFFLOAD_4BIT_GB = 18.5, 15.5, 9.0, 5.5


@dataclass(frozen=True)
class MemoryPlan:
    placement: str  # "all" | "offload" | "sequential"
    llm_quant: str  # "none" | "8bit" | "4bit"
    reason: str


def plan_memory(device_type: str, free_bytes: int | None, placement: str = "auto", llm_quant: str = "auto",
                quantization_available: bool = False) -> MemoryPlan:
    if placement not in PLACEMENTS:
        raise InputError(f"unknown memory mode {placement!r}; choose one of {', '.join(PLACEMENTS)}")
    if llm_quant not in LLM_QUANTS:
        raise InputError(f"unknown LLM quantisation {llm_quant!r}; choose one of {', '.join(LLM_QUANTS)}")
    if device_type != "cuda":
        if placement in ("offload", "sequential") or llm_quant in ("8bit", "4bit"):
            raise InputError("offloading and a quantised LLM need a CUDA GPU; on this device everything "
                             "shares one memory")
        return MemoryPlan("all", "none", f"{device_type}: one memory for all models")
    if llm_quant in ("8bit", "4bit") and not quantization_available:
        raise InputError("a quantised LLM needs bitsandbytes: pip install 'mgie-desktop[quantization]'")
    free_gb = (free_bytes or 0) / GB
    if placement != "auto" and llm_quant != "auto":
        return MemoryPlan(placement, llm_quant, "as requested")
    if placement == "auto" and llm_quant == "auto":
        if free_gb >= _FULL_GB:
            return MemoryPlan("all", "none", f"{free_gb:.1f} GB free: everything stays on the GPU")
        if free_gb >= _OFFLOAD_GB:
            return MemoryPlan("offload", "none", f"{free_gb:.1f} GB free: one half on the GPU at a time")
        if quantization_available:
            quant = "8bit" if free_gb >= _OFFLOAD_8BIT_GB else "4bit"
            return MemoryPlan("offload", quant, f"{free_gb:.1f} GB free: {quant} LLM, one half at a time")
        return MemoryPlan("sequential", "none", f"{free_gb:.1f} GB free and no bitsandbytes: layer-by-layer "
                          "offload (slow; install the quantization extra)")
    if placement == "auto":  # a quantisation was chosen; fit the placement around it
        need = {"none": _OFFLOAD_GB, "8bit": _OFFLOAD_8BIT_GB, "4bit": _OFFLOAD_4BIT_GB}[llm_quant]
        chosen = "all" if free_gb >= _FULL_GB else "offload" if free_gb >= need else "sequential"
        return MemoryPlan(chosen, llm_quant, f"{free_gb:.1f} GB free with a {llm_quant} LLM")
    quant = "none"  # a placement was chosen; quantise only when it cannot fit otherwise
    if placement != "sequential" and free_gb < _OFFLOAD_GB and quantization_available:
        quant = "8bit" if free_gb >= _OFFLOAD_8BIT_GB else "4bit"
    return MemoryPlan(placement, quant, f"{free_gb:.1f} GB free, {placement} as requested")


# ---- the CPU: which precision fits in RAM ---------------------------------------------------------
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
WORKING_GB = 2.0  # activations of a 512x512 edit, the tokenizer, Python and the libraries


def plan_cpu_precision(precision: str, bundle_bytes: int, available_bytes: int, bf16_native: bool) -> tuple[str, str]:
    """The precision the models run in on the CPU, and why; InputError, in one line naming a mode
    that fits, when the one asked for would not fit in the memory available (before loading: a
    machine out of memory gets its processes killed).

    ``auto``: bf16 where the CPU computes it natively (about 3x fp32 on a UNet step there), fp32
    elsewhere; bf16 anyway when fp32 would not fit. ``bundle_bytes`` are the weights at 2 bytes each.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")

    def need(name: str) -> float:
        return bundle_bytes * _BYTES[name] / 2 / GB + WORKING_GB

    available = available_bytes / GB
    if precision == "auto":
        chosen = "bf16" if bf16_native or need("fp32") > available else "fp32"
        why = "the CPU computes bf16 natively" if bf16_native else (
            "fp32 would not fit" if chosen == "bf16" else "the CPU has no native bf16")
    else:
        chosen, why = precision, "as requested"
    if need(chosen) > available:
        smaller = "bf16" if chosen == "fp32" and need("bf16") <= available else None
        hint = (f"run with --precision {smaller} ({need(smaller):.1f} GB)" if smaller else
                "close other programs, or use a machine with more memory or a GPU")
        raise InputError(f"the models need about {need(chosen):.1f} GB of memory in {chosen} and "
                         f"{available:.1f} GB are available: {hint}")
    return chosen, f"{chosen}: {why}; about {need(chosen):.1f} GB of {available:.1f} GB available"
