"""Engine behaviour on tiny models: determinism, sizes, progress, cancel, the [IMG] path."""

import threading

import numpy as np
import pytest
import torch

from mgie_desktop.core.errors import EditCancelled, InputError
from mgie_desktop.core.params import params_for
from mgie_desktop.engine.pipeline import _reference_slice_start

FAST = params_for("draft", steps=4, pixel_budget=64 * 64)


def test_same_seed_same_pixels_other_seed_other_pixels(engine, photo):
    guide = engine.instruct(photo, "make the sky a sunset")
    a = engine.render(photo, guide.conditioning, FAST)
    b = engine.render(photo, guide.conditioning, FAST)
    c = engine.render(photo, guide.conditioning, params_for("draft", steps=4, pixel_budget=64 * 64, seed=1))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_instruct_is_deterministic_and_independent_of_render_settings(engine, photo):
    first = engine.instruct(photo, "turn the day into night")
    second = engine.instruct(photo, "turn the day into night")
    other = engine.instruct(photo, "give him a beard")
    assert torch.equal(first.conditioning, second.conditioning)
    assert not torch.equal(first.conditioning, other.conditioning)
    assert first.conditioning.shape == (1, 77, 32)


@pytest.mark.parametrize("size", [(96, 64), (800, 50), (50, 300)])  # 800x50: the most extreme accepted (16:1)
def test_result_has_the_input_size_for_any_aspect(engine, size):
    from PIL import Image

    image = Image.new("RGB", size, (120, 60, 200))
    outcome = engine.edit(image, "make it warmer", FAST)
    assert outcome.image.size == size
    w, h = outcome.working_size
    assert w % 8 == 0 and h % 8 == 0 and w * h <= 64 * 64


def test_progress_reports_every_step_with_a_preview(engine, photo):
    seen = []
    guide = engine.instruct(photo, "more contrast")
    engine.render(
        photo, guide.conditioning, FAST, progress=lambda i, n, preview: seen.append((i, n, preview()))
    )
    assert [(i, n) for i, n, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(p.mode == "RGB" and p.size[0] > 0 for _, _, p in seen)


def test_cancel_mid_render_then_a_clean_next_edit(engine, photo):
    guide = engine.instruct(photo, "remove the text")
    params = params_for("draft", steps=8, pixel_budget=64 * 64)
    clean = engine.render(photo, guide.conditioning, params)
    cancel, steps = threading.Event(), []

    def progress(i, n, preview):
        steps.append(i)
        if i == 3:
            cancel.set()

    with pytest.raises(EditCancelled):
        engine.render(photo, guide.conditioning, params, progress=progress, cancel=cancel)
    assert steps == [1, 2, 3]  # stopped within one step of the request
    again = engine.render(photo, guide.conditioning, params)
    assert np.array_equal(np.asarray(again), np.asarray(clean))


def test_empty_instruction_is_refused(engine, photo):
    with pytest.raises(InputError, match="empty"):
        engine.instruct(photo, "   ")


def test_random_weights_use_the_fallback_slice(engine, photo):
    guide = engine.instruct(photo, "make the sky a sunset")
    assert not guide.emitted_image_tokens
    assert guide.new_tokens == 96


def test_generated_visual_tokens_stop_generation_and_are_sliced(emitting_engine, photo):
    guide = emitting_engine.instruct(photo, "make the sky a sunset")
    assert guide.emitted_image_tokens
    assert guide.text == "The sky will be orange."
    assert guide.new_tokens == 8 + 8  # the answer's 8 pieces, then [IMG0..7]; no </s> needed
    # With attention and MLP silenced, the state predicting [IMGk] is the final norm of the
    # token before it: "." for [IMG0], then [IMG0..6].
    model, tok = emitting_engine.bundle.model, emitting_engine.bundle.tokenizer
    inputs = [tok.sp.piece_to_id(".")] + [tok.token_id(f"[IMG{i}]") for i in range(7)]
    with torch.inference_mode():
        expected = model.llm.model.norm(model.llm.get_input_embeddings()(torch.tensor([inputs])))
    assert torch.allclose(guide.visual_tokens, expected, atol=1e-6)


IMG = list(range(100, 108))  # [IMG0..7] ids in these synthetic sequences; eos is 2


@pytest.mark.parametrize(
    ("new", "expected_p"),
    [
        ([5, 6, *IMG], 11),  # stopped after [IMG7]: the states that predict [IMG0..7]
        ([5, 6, 7, 2], 4),  # </s> without [IMG0]: the fallback, last 9..1 positions
        ([5] * 88 + IMG, 96),  # [IMG7] is the 96th token: the reference's clamp moves it back one
    ],
    ids=["early-stop", "fallback", "clamped"],
)
def test_reference_slice_formula(new, expected_p):
    prompt = list(range(10, 20))
    assert _reference_slice_start(prompt + new, len(prompt), len(new), IMG[0], 2) == expected_p


def test_variations_are_one_batch_matching_single_renders(engine, photo):
    guide = engine.instruct(photo, "make it snowy")
    params = params_for("draft", steps=3, pixel_budget=64 * 64)
    batch = engine.render_variations(photo, guide.conditioning, params, [11, 12, 13])
    assert len(batch) == 3 and all(im.size == photo.size for im in batch)
    singles = [
        engine.render(photo, guide.conditioning, params_for("draft", steps=3, pixel_budget=64 * 64, seed=s))
        for s in (11, 12, 13)
    ]
    for got, want in zip(batch, singles, strict=True):
        diff = np.abs(np.asarray(got, dtype=int) - np.asarray(want, dtype=int))
        assert diff.max() <= 2  # batched matmuls round differently; the seeds' images are the same
    assert not np.array_equal(np.asarray(batch[0]), np.asarray(batch[1]))


def test_warm_up_leaves_results_unchanged(engine, photo):
    guide = engine.instruct(photo, "more contrast")
    before = engine.render(photo, guide.conditioning, FAST)
    assert engine.warm_up() > 0
    assert np.array_equal(np.asarray(engine.render(photo, guide.conditioning, FAST)), np.asarray(before))


def test_quitting_stops_the_warm_up(engine):
    quitting = threading.Event()
    quitting.set()
    with pytest.raises(EditCancelled):
        engine.warm_up(cancel=quitting)


def test_large_working_sizes_decode_in_tiles(engine, photo):
    guide = engine.instruct(photo, "brighter")
    big = engine.render(photo, guide.conditioning, params_for("draft", steps=1, pixel_budget=1100 * 1100))
    assert big.size == photo.size and engine.pipeline.vae.use_tiling
    engine.render(photo, guide.conditioning, params_for("draft", steps=1, pixel_budget=64 * 64))
    assert not engine.pipeline.vae.use_tiling


def test_memory_plan_on_the_cpu(engine):
    assert (engine.memory.placement, engine.memory.llm_quant) == ("all", "none")
    assert engine.memory_report() == {"placement": "all", "llm_quant": "none"}


def test_compile_setting_compiles_the_unet(tiny_models, monkeypatch):
    from mgie_desktop.engine.pipeline import MgieEngine

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module: compiled.append(module) or module)
    engine = MgieEngine(tiny_models, device="cpu", compile_unet=True)
    assert compiled == [engine.bundle.unet]


@pytest.mark.parametrize(
    ("device", "ram_gb", "expected"),
    [("mps", 16, True), ("mps", 96, False), ("cuda", 16, False), ("cpu", 8, False)],
)
def test_attention_is_sliced_on_apple_silicon_with_little_memory(device, ram_gb, expected):
    from mgie_desktop.engine.devices import slice_attention

    assert slice_attention(torch.device(device), ram_gb * 2**30) is expected


def test_the_pipeline_slices_attention_when_asked(tiny_models, photo, monkeypatch):
    from diffusers.models.attention_processor import SlicedAttnProcessor

    from mgie_desktop.engine import pipeline
    from mgie_desktop.engine.pipeline import MgieEngine

    monkeypatch.setattr(pipeline, "slice_attention", lambda device: True)  # as on a 16 GB Mac
    engine = MgieEngine(tiny_models, device="cpu")
    processors = engine.pipeline.unet.attn_processors.values()
    assert processors and all(isinstance(p, SlicedAttnProcessor) for p in processors)
    guide = engine.instruct(photo, "warmer")
    assert engine.render(photo, guide.conditioning, FAST).size == photo.size
