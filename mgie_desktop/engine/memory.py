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


def plan_memory(
    device_type: str,
    free_bytes: int | None,
    placement: str = "auto",
    llm_quant: str = "auto",
    quantization_available: bool = False,
) -> MemoryPlan:
    if placement not in PLACEMENTS:
        raise InputError(f"unknown memory mode {placement!r}; choose one of {', '.join(PLACEMENTS)}")
    if llm_quant not in LLM_QUANTS:
        raise InputError(f"unknown LLM quantisation {llm_quant!r}; choose one of {', '.join(LLM_QUANTS)}")
    if device_type != "cuda":
        if placement in ("offload", "sequential"):
            raise InputError("offloading needs a CUDA GPU; on this device everything shares one memory")
        if llm_quant == "4bit" or (llm_quant == "8bit" and device_type != "cpu"):
            raise InputError(
                f"a {llm_quant} LLM needs a CUDA GPU"
                + ("; on the CPU choose --llm-quant 8bit" if device_type == "cpu" else "")
            )
        quant = "8bit" if llm_quant == "8bit" else "none"
        return MemoryPlan("all", quant, f"{device_type}: one memory for all models")
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
        return MemoryPlan(
            "sequential",
            "none",
            f"{free_gb:.1f} GB free and no bitsandbytes: layer-by-layer "
            "offload (slow; install the quantization extra)",
        )
    if placement == "auto":  # a quantisation was chosen; fit the placement around it
        need = {"none": _OFFLOAD_GB, "8bit": _OFFLOAD_8BIT_GB, "4bit": _OFFLOAD_4BIT_GB}[llm_quant]
        chosen = "all" if free_gb >= _FULL_GB else "offload" if free_gb >= need else "sequential"
        return MemoryPlan(chosen, llm_quant, f"{free_gb:.1f} GB free with a {llm_quant} LLM")
    quant = "none"  # a placement was chosen; quantise only when it cannot fit otherwise
    if placement != "sequential" and free_gb < _OFFLOAD_GB and quantization_available:
        quant = "8bit" if free_gb >= _OFFLOAD_8BIT_GB else "4bit"
    return MemoryPlan(placement, quant, f"{free_gb:.1f} GB free, {placement} as requested")


# ---- the CPU: which precision and LLM fit in RAM -------------------------------------------------
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
WORKING_GB = 2.0  # activations of a 512x512 edit, the tokenizer, Python and the libraries
# The installed full-size bundle in 16 bits: 16.0 GB of weights, 13.5 GB of them LLaMA-7B.
FULL_BUNDLE_BYTES, FULL_LLM_BYTES = int(16.0 * GB), int(13.5 * GB)


@dataclass(frozen=True)
class CpuPlan:
    precision: str  # "fp32" | "bf16" | "fp16": every part but an 8-bit LLM's weights
    llm_quant: str  # "none" | "8bit"
    need_gb: float
    reason: str


def cpu_need_gb(precision: str, llm_quant: str, bundle_bytes: int, llm_bytes: int) -> float:
    """Memory one edit needs: the weights at ``precision`` (an 8-bit LLM at one byte a weight)
    plus the working set. ``bundle_bytes`` and ``llm_bytes`` are 16-bit sizes, as installed."""
    scale = _BYTES[precision] / 2
    llm = llm_bytes / 2 if llm_quant == "8bit" else llm_bytes * scale
    return ((bundle_bytes - llm_bytes) * scale + llm) / GB + WORKING_GB


def plan_cpu(
    precision: str, llm_quant: str, bundle_bytes: int, llm_bytes: int, available_bytes: int, bf16_native: bool
) -> CpuPlan:
    """The precision and LLM quantisation the models run in on the CPU, and why; InputError, in
    one line naming a mode that fits, when what was asked for would not fit in the memory available
    (checked before loading: a machine out of memory gets its processes killed).

    ``auto`` prefers the reference's numbers: a 16-bit-or-better LLM when it fits, the 8-bit one when
    it does not. bf16 where the CPU computes it natively (about 3x fp32 on a UNet step there); fp32
    elsewhere (emulated bf16 is ~3x slower than fp32), bf16 only when fp32 cannot fit even with an
    8-bit LLM."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if llm_quant not in LLM_QUANTS:
        raise InputError(f"unknown LLM quantisation {llm_quant!r}; choose one of {', '.join(LLM_QUANTS)}")
    if llm_quant == "4bit":
        raise InputError("a 4-bit LLM needs a CUDA GPU; on the CPU choose --llm-quant 8bit")
    precisions = [precision] if precision != "auto" else ["bf16"] if bf16_native else ["fp32", "bf16"]
    quants = [llm_quant] if llm_quant != "auto" else ["none", "8bit"]
    # fp32 with an 8-bit LLM is faster than bf16 everywhere on a CPU without native bf16.
    candidates = [(p, q) for p in precisions for q in quants]
    available = available_bytes / GB

    def need(mode: tuple[str, str]) -> float:
        return cpu_need_gb(*mode, bundle_bytes, llm_bytes)

    def name(mode: tuple[str, str]) -> str:
        return mode[0] + (" with an 8-bit LLM" if mode[1] == "8bit" else "")

    for mode in candidates:
        if need(mode) <= available:
            why = (
                "as requested"
                if precision != "auto"
                else (
                    "the CPU computes bf16 natively"
                    if mode[0] == "bf16" and bf16_native
                    else "the CPU has no native bf16"
                    if mode[0] == "fp32"
                    else "fp32 would not fit"
                )
            )
            if mode[1] == "8bit" and llm_quant == "auto":
                why += "; a 16-bit LLM would not fit"
            return CpuPlan(
                *mode,
                need(mode),
                f"{name(mode)}: {why}; about {need(mode):.1f} GB of {available:.1f} GB available",
            )
    fits = [
        m
        for m in (("fp32", "none"), ("fp32", "8bit"), ("bf16", "none"), ("bf16", "8bit"))
        if need(m) <= available
    ]
    hint = (
        f"run with --precision {fits[0][0]} --llm-quant {fits[0][1]} ({need(fits[0]):.1f} GB)"
        if fits
        else "close other programs, or use a machine with more memory or a GPU"
    )
    smallest = min(candidates, key=need)
    raise InputError(
        f"the models need about {need(smallest):.1f} GB of memory in {name(smallest)} and "
        f"{available:.1f} GB are available: {hint}"
    )
