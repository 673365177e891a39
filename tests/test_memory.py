import pytest

from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.memory import GB, plan_memory


@pytest.mark.parametrize(
    ("free_gb", "bnb", "expected"),
    [
        (40, True, ("all", "none")),
        (22, False, ("all", "none")),
        (16, True, ("offload", "none")),
        (11, True, ("offload", "8bit")),
        (7.5, True, ("offload", "4bit")),  # an 8 GB card
        (7.5, False, ("sequential", "none")),
    ],
)
def test_auto_plan_follows_free_vram(free_gb, bnb, expected):
    plan = plan_memory("cuda", int(free_gb * GB), quantization_available=bnb)
    assert (plan.placement, plan.llm_quant) == expected and plan.reason


def test_overrides_are_respected_and_checked():
    assert plan_memory("cuda", 40 * GB, "offload", "none").placement == "offload"
    assert plan_memory("cuda", 6 * GB, "auto", "4bit", quantization_available=True).placement == "offload"
    with pytest.raises(InputError, match="bitsandbytes"):
        plan_memory("cuda", 6 * GB, "auto", "4bit", quantization_available=False)
    with pytest.raises(InputError, match="CUDA"):
        plan_memory("cpu", None, "offload")
    with pytest.raises(InputError, match="memory mode"):
        plan_memory("cuda", 6 * GB, "everywhere")
    assert plan_memory("mps", None).placement == "all"


# ---- the CPU's precision and LLM, planned from RAM (issue 11) -------------------------------------
# The real bundle's proportions: 16.0 GB of fp16 weights, 13.5 GB of them the LLM.
BUNDLE, LLM = int(16 * GB), int(13.5 * GB)


def _plan(precision, quant, available_gb, native):
    from mgie_desktop.engine.memory import plan_cpu

    plan = plan_cpu(precision, quant, BUNDLE, LLM, int(available_gb * GB), bf16_native=native)
    return plan.precision, plan.llm_quant


def test_auto_prefers_the_reference_numbers_and_quantises_the_llm_only_when_they_do_not_fit():
    assert _plan("auto", "auto", 64, native=True) == ("bf16", "none")
    assert _plan("auto", "auto", 64, native=False) == ("fp32", "none")  # 34 GB
    # 23 GB without native bf16: fp32 with an 8-bit LLM (5 GB + 6.75 GB + 2) beats emulated bf16
    assert _plan("auto", "auto", 23, native=False) == ("fp32", "8bit")
    assert _plan("auto", "auto", 23, native=True) == ("bf16", "none")  # 18 GB
    # a 16 GB machine (~13 GB free): bf16 with an 8-bit LLM (2.5 + 6.75 + 2 GB)
    assert _plan("auto", "auto", 13, native=False) == ("bf16", "8bit")
    assert _plan("auto", "auto", 13, native=True) == ("bf16", "8bit")
    assert _plan("fp32", "auto", 64, native=True) == ("fp32", "none")
    assert _plan("auto", "8bit", 64, native=True) == ("bf16", "8bit")
    assert _plan("auto", "none", 23, native=False) == ("bf16", "none")  # fp32 with a 16-bit LLM needs 34


def test_the_need_counts_an_8bit_llm_at_one_byte_a_weight():
    from mgie_desktop.engine.memory import WORKING_GB, cpu_need_gb

    assert cpu_need_gb("fp32", "none", BUNDLE, LLM) == pytest.approx(32 + WORKING_GB)
    assert cpu_need_gb("fp32", "8bit", BUNDLE, LLM) == pytest.approx(5 + 6.75 + WORKING_GB)
    assert cpu_need_gb("bf16", "8bit", BUNDLE, LLM) == pytest.approx(2.5 + 6.75 + WORKING_GB)


def test_a_mode_that_does_not_fit_is_refused_in_one_line_naming_one_that_does():
    with pytest.raises(
        InputError,
        match=r"34\.0 GB of memory in fp32 and 24\.0 GB are available: run with "
        r"--precision fp32 --llm-quant 8bit \(13\.8 GB\)",
    ):
        _plan("fp32", "none", 24, native=True)
    with pytest.raises(InputError, match="use a machine with more memory or a GPU"):
        _plan("auto", "auto", 8, native=True)
    with pytest.raises(InputError, match="unknown precision"):
        _plan("int3", "auto", 64, native=True)
    with pytest.raises(InputError, match="4-bit LLM needs a CUDA GPU"):
        _plan("auto", "4bit", 64, native=True)


def test_the_cpu_takes_an_8bit_llm_but_not_gpu_only_modes():
    assert plan_memory("cpu", None, "auto", "8bit").llm_quant == "8bit"
    with pytest.raises(InputError, match="4bit LLM needs a CUDA GPU; on the CPU choose --llm-quant 8bit"):
        plan_memory("cpu", None, "auto", "4bit")
    with pytest.raises(InputError, match="8bit LLM needs a CUDA GPU"):
        plan_memory("mps", None, "auto", "8bit")
