"""In-memory random models (what `bench --size full` builds at the real size) run both paths."""

import numpy as np
import torch
from PIL import Image

from mgie_desktop.core.params import params_for
from mgie_desktop.engine.pipeline import MgieEngine
from mgie_desktop.testing.random_models import FULL, SMALL, random_bundle
from mgie_desktop.testing.reference_path import ReferencePath

CPU = torch.device("cpu")


def test_full_size_geometry_is_the_real_one():
    assert (FULL.llm_hidden, FULL.llm_layers, FULL.llm_vocab, FULL.cond_dim) == (4096, 32, 32011, 768)
    assert FULL.unet["in_channels"] == 8 and FULL.unet["block_out_channels"] == [320, 640, 1280, 1280]


def test_small_random_bundle_runs_our_path_and_the_reference_path_alike():
    bundle = random_bundle(SMALL, CPU, torch.float32)
    engine = MgieEngine(None, device="cpu", bundle=bundle)
    engine.forced_new_tokens = 12
    image = Image.new("RGB", (64, 64), (90, 120, 200))
    guide = engine.instruct(image, "make the sky a sunset")
    assert guide.new_tokens == 12 and guide.conditioning.shape == (1, 77, SMALL.cond_dim)
    out = engine.render(image, guide.conditioning, params_for("draft", steps=2, pixel_budget=64 * 64))
    assert out.size == (64, 64)

    m = bundle.model
    reference = ReferencePath.assemble(
        m.llm,
        m.projector,
        m.edit_head,
        m.emb,
        m.vision,
        bundle.image_processor,
        bundle.unet,
        bundle.vae,
        bundle.scheduler_config,
        bundle.tokenizer,
        CPU,
        torch.float32,
    )
    _, timings = reference.edit(image, "make the sky a sunset", 256, max_new_tokens=12)
    assert timings["instruct_s"] > 0 and timings["render_s"] > 0


def test_the_full_size_benchmark_setup_at_small_size(tmp_path):
    from mgie_desktop.testing import engine_bench as bench

    engine, reference, time_loads = bench._full_size(
        "cpu", CPU, torch.float32, tmp_path, lambda msg: None, 8, SMALL
    )
    load = time_loads()
    assert load["speedup"] > 0 and "UNet" in load["what"]
    assert engine.forced_new_tokens == 8 and reference.llm is engine.bundle.model.llm  # shared weights


def test_a_saved_random_bundle_loads_through_the_real_path_and_edits_alike(tmp_path):
    """What `bench --size full` does for the 8 GB check: in-memory models written as a bundle,
    loaded by load_bundle (where quantisation happens), giving the same edit."""
    from mgie_desktop.engine.inventory import check_installed
    from mgie_desktop.testing.random_models import save_random_bundle

    bundle = random_bundle(SMALL, CPU, torch.float32, seed=3)
    in_memory = MgieEngine(None, device="cpu", bundle=bundle)
    save_random_bundle(bundle, tmp_path)
    assert check_installed(tmp_path)["model"]["llm_hidden"] == SMALL.llm_hidden
    loaded = MgieEngine(tmp_path, device="cpu", precision="fp32")  # the in-memory one is fp32
    image = Image.new("RGB", (64, 64), (90, 120, 200))
    params = params_for("draft", steps=2, pixel_budget=64 * 64)
    results = []
    for engine in (in_memory, loaded):
        engine.forced_new_tokens = 6
        guide = engine.instruct(image, "make the sky a sunset")
        results.append((guide.conditioning, engine.render(image, guide.conditioning, params)))
    (cond_a, image_a), (cond_b, image_b) = results
    # Same weights; only float rounding differs (a module built in memory and one from_pretrained
    # can pick different attention kernels).
    assert torch.allclose(cond_a, cond_b, atol=1e-5)
    assert np.abs(np.asarray(image_a, dtype=int) - np.asarray(image_b, dtype=int)).max() <= 1
