import pytest

from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.memory import GB, plan_memory


@pytest.mark.parametrize(("free_gb", "bnb", "expected"), [
    (40, True, ("all", "none")),
    (22, False, ("all", "none")),
    (16, True, ("offload", "none")),
    (11, True, ("offload", "8bit")),
    (7.5, True, ("offload", "4bit")),   # an 8 GB card
    (7.5, False, ("sequential", "none")),
])
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


# ---- the CPU's precision, planned from RAM (issue 11) ---------------------------------------------
def test_cpu_precision_is_bf16_where_native_and_fp32_elsewhere():
    from mgie_desktop.engine.memory import plan_cpu_precision

    bundle, plenty = int(16 * GB), int(64 * GB)
    assert plan_cpu_precision("auto", bundle, plenty, bf16_native=True)[0] == "bf16"
    assert plan_cpu_precision("auto", bundle, plenty, bf16_native=False)[0] == "fp32"
    assert plan_cpu_precision("auto", bundle, int(24 * GB), bf16_native=False)[0] == "bf16"  # fp32 needs 34 GB
    assert plan_cpu_precision("fp32", bundle, plenty, bf16_native=True)[0] == "fp32"


def test_a_precision_that_does_not_fit_is_refused_in_one_line_naming_one_that_does():
    from mgie_desktop.engine.memory import plan_cpu_precision

    with pytest.raises(InputError, match=r"34\.0 GB of memory in fp32 and 24\.0 GB are available: run with "
                                         r"--precision bf16 \(18\.0 GB\)"):
        plan_cpu_precision("fp32", int(16 * GB), int(24 * GB), bf16_native=True)
    with pytest.raises(InputError, match="use a machine with more memory or a GPU"):
        plan_cpu_precision("auto", int(16 * GB), int(12 * GB), bf16_native=True)
    with pytest.raises(InputError, match="unknown precision"):
        plan_cpu_precision("int3", 1, 1, bf16_native=True)
