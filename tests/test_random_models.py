"""In-memory random models (what `bench --size full` builds at the real size) run both paths."""

import torch
from PIL import Image

from mgie_desktop.core.params import params_for
from mgie_desktop.engine.pipeline import MgieEngine
from mgie_desktop.engine.random_models import FULL, SMALL, random_bundle
from mgie_desktop.engine.reference_path import ReferencePath

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
    reference = ReferencePath.assemble(m.llm, m.projector, m.edit_head, m.emb, m.vision, bundle.image_processor,
                                       bundle.unet, bundle.vae, bundle.scheduler_config, bundle.tokenizer,
                                       CPU, torch.float32)
    _, timings = reference.edit(image, "make the sky a sunset", 256, max_new_tokens=12)
    assert timings["instruct_s"] > 0 and timings["render_s"] > 0


def test_the_full_size_benchmark_setup_at_small_size(tmp_path):
    from mgie_desktop.engine import bench

    engine, reference, load = bench._full_size("cpu", CPU, torch.float32, tmp_path, lambda msg: None, 8, SMALL)
    assert load["speedup"] > 0 and "UNet" in load["what"]
    assert engine.forced_new_tokens == 8 and reference.llm is engine.bundle.model.llm  # shared weights
