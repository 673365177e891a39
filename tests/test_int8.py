"""The CPU's 8-bit LLM (issue 11): int8 weights, per-row scales, the same answers."""

import pytest
import torch

from mgie_desktop.core.params import EditParams
from mgie_desktop.engine.int8 import Int8Linear, quantise_linears


def test_an_int8_linear_stays_within_a_percent_of_its_weights_even_with_outlier_activations():
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 384).half()
    x = torch.randn(2, 7, 256)
    x[..., :4] *= 20  # LLaMA's outlier channels, which int8 activations would lose
    reference = torch.nn.functional.linear(x, linear.weight.float(), linear.bias.float())
    int8 = Int8Linear(linear).to(torch.float32)
    out = int8(x)
    assert (
        int8.weight.dtype == torch.int8 and int8.scale.dtype == torch.bfloat16
    )  # .to() left the scale alone
    assert out.shape == reference.shape and out.dtype == torch.float32
    assert ((out - reference).norm() / reference.norm()).item() < 0.01


def test_quantise_replaces_every_linear_and_keeps_the_rest():
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.LayerNorm(64), torch.nn.Linear(64, 8))
    assert quantise_linears(model) == 2
    assert [type(m).__name__ for m in model] == ["Int8Linear", "LayerNorm", "Int8Linear"]
    assert model(torch.randn(3, 32)).shape == (3, 8)


def test_a_prefill_through_the_bf16_product_matches_the_int8_kernel(monkeypatch):
    """Where bf16 is native, many rows at once multiply in bf16 over the widened int8 weight: the
    same weights, so the same numbers up to rounding; few rows keep the kernel."""
    from mgie_desktop.engine import int8

    torch.manual_seed(1)
    linear = torch.nn.Linear(256, 384)
    kernel, dense = Int8Linear(linear), Int8Linear(linear, dense_prefill=True)
    many, few = torch.randn(int8.DENSE_ROWS + 5, 256), torch.randn(2, 256)
    widened = []
    real = int8._widened
    monkeypatch.setattr(int8, "_widened", lambda w: widened.append(w.shape) or real(w))
    want, got = kernel(many), dense(many)
    assert widened == [(384, 256)] and ((got - want).norm() / want.norm()).item() < 0.005
    assert torch.equal(dense(few), kernel(few)) and len(widened) == 1  # the kernel, bit for bit
    # Made under inference_mode (MGIE's prefill), it still serves a model run outside it (klein's).
    monkeypatch.setattr(int8._scratch, "buffer", None)
    with torch.inference_mode():
        dense(many)
    assert not int8._scratch.buffer.is_inference()
    widened.clear()
    Int8Linear(torch.nn.Linear(256, 64), dense_prefill=True)(many)
    # One buffer serves every layer: a smaller weight reuses it, no new memory per call.
    buffer = int8._scratch.buffer
    Int8Linear(torch.nn.Linear(256, 128), dense_prefill=True)(many)
    assert int8._scratch.buffer is buffer


@pytest.fixture(scope="module")
def int8_engine(emitting_models):
    from mgie_desktop.engine.pipeline import MgieEngine

    return MgieEngine(emitting_models, device="cpu", precision="fp32", llm_quant="8bit")


def test_the_8bit_engine_loads_int8_weights_and_predicts_what_the_16bit_one_does(
    int8_engine, emitting_engine, photo
):
    llm = int8_engine.bundle.model.llm
    linears = [m for m in llm.modules() if isinstance(m, torch.nn.Linear)]
    int8s = [m for m in llm.modules() if isinstance(m, Int8Linear)]
    assert not linears and int8s and all(m.weight.dtype == torch.int8 for m in int8s)
    assert llm.get_input_embeddings().weight.dtype == torch.float32  # the rest keeps the engine's precision
    assert int8_engine.memory.llm_quant == "8bit" and int8_engine.memory_report()["llm_quant"] == "8bit"

    # The same prompt through both LLMs (teacher-forced): the 8-bit one predicts the same tokens.
    ids = torch.randint(0, llm.config.vocab_size, (1, 40), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ours = llm(ids, output_hidden_states=True)
        theirs = emitting_engine.bundle.model.llm(ids, output_hidden_states=True)
    agree = (ours.logits.argmax(-1) == theirs.logits.argmax(-1)).float().mean().item()
    drift = (
        (ours.hidden_states[-1] - theirs.hidden_states[-1]).norm() / theirs.hidden_states[-1].norm()
    ).item()
    assert agree >= 0.9 and drift < 0.05

    outcome = int8_engine.edit(
        photo, "make the sky orange", EditParams(steps=2, seed=3, pixel_budget=64 * 64)
    )
    assert outcome.image.size == (96, 64) and outcome.instruction.text.startswith("The sky will be")
