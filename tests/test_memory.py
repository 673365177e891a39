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
