"""The CUDA paths: every memory mode, the quantised LLM and --compile, on tiny models.

Skipped without a CUDA GPU (CI has none); `benchmarks/gpu_session.sh` runs them on a lent GPU.
Each mode must give the edit that keeping everything on the GPU gives, up to fp16 rounding.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from mgie_desktop.core.params import EditParams

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

PARAMS = EditParams(steps=3, pixel_budget=64 * 64)
INSTRUCTION = "make the sky a sunset"


@pytest.fixture
def on_gpu(emitting_models, photo):
    """The edit with everything on the GPU: what every other mode must match."""
    from mgie_desktop.engine.pipeline import MgieEngine

    engine = MgieEngine(emitting_models, device="cuda", memory="all", llm_quant="none")
    assert engine.dtype == torch.float16 and engine.bundle.unet.device.type == "cuda"
    return engine.edit(photo, INSTRUCTION, PARAMS)


def _pixels(image):
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("placement", ["offload", "sequential"])
def test_offloaded_modes_give_the_all_on_gpu_edit(emitting_models, photo, on_gpu, placement):
    from mgie_desktop.engine.pipeline import MgieEngine

    engine = MgieEngine(emitting_models, device="cuda", memory=placement, llm_quant="none")
    assert engine.memory.placement == placement
    outcome = engine.edit(photo, INSTRUCTION, PARAMS)
    assert outcome.instruction.text == on_gpu.instruction.text
    assert torch.allclose(
        outcome.instruction.conditioning.float().cpu(),
        on_gpu.instruction.conditioning.float().cpu(),
        atol=2e-2,
    )
    assert np.abs(_pixels(outcome.image) - _pixels(on_gpu.image)).mean() < 2.0
    # Re-render after the LLM half went back to the CPU: the cached conditioning still works.
    again = engine.render(photo, outcome.instruction.conditioning, PARAMS)
    assert again.size == photo.size
    assert "gpu_allocated_mb" in engine.memory_report()


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs the quantization extra")
@pytest.mark.parametrize("quant", ["8bit", "4bit"])
def test_quantised_llm_edits_on_the_gpu(emitting_models, photo, quant):
    from mgie_desktop.engine.pipeline import MgieEngine

    engine = MgieEngine(emitting_models, device="cuda", memory="offload", llm_quant=quant)
    assert engine.memory.llm_quant == quant
    outcome = engine.edit(photo, INSTRUCTION, PARAMS)
    assert outcome.instruction.text  # the answer decodes
    assert torch.isfinite(outcome.instruction.conditioning).all()
    assert outcome.image.size == photo.size


def test_peak_gpu_memory_of_an_edit_is_reported_by_the_benchmark(photo):
    """The full-size benchmark's machinery at small size on the GPU: peak GPU memory is read."""
    from mgie_desktop.testing import engine_bench as bench
    from mgie_desktop.testing.random_models import SMALL

    report = bench.run("cuda", photo, lambda msg: None, size="full", sizes=SMALL, tokens=8, side=64)
    for path in ("reference", "default"):
        assert report["edit"][path]["peak_gpu_allocated_mb"] > 0
    assert report["load"]["speedup"] > 0
    low = report["low_memory"]
    if importlib.util.find_spec("bitsandbytes") is None:
        assert low["peak_gpu_reserved_mb"] is None and "bitsandbytes" in low["skipped"]
    else:  # the saved bundle reloaded with a 4-bit LLM: one edit's peak, from an emptied GPU
        assert low["plan"] == "offload, 4bit LLM" and low["fits"]
        assert low["left_over_before_mb"] < 64 and 0 < low["peak_gpu_reserved_mb"] < 2048


# Last: a cold torch.compile is the slowest test here.
def test_compiled_unet_gives_the_same_edit(emitting_models, photo, on_gpu):
    from mgie_desktop.engine.pipeline import MgieEngine

    engine = MgieEngine(emitting_models, device="cuda", memory="all", llm_quant="none", compile_unet=True)
    outcome = engine.edit(photo, INSTRUCTION, PARAMS)
    assert np.abs(_pixels(outcome.image) - _pixels(on_gpu.image)).mean() < 2.0
