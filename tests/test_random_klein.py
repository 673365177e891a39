"""`models random` writes FLUX.2 [klein] 4B as published (testing/random_klein.py): the full
size is checked against the real model's shapes and files without writing 16 GB (that is a
benchmark: docs/PERFORMANCE.md); the tiny size goes through the same writer, is installed into a
bundle and rendered by the engine's own loading path."""

import json
import os
import shutil
import weakref
from collections import namedtuple

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.params import params_for
from mgie_desktop.engine.klein_files import add_klein, folder, is_klein_folder
from mgie_desktop.engine.loading import BundleParts
from mgie_desktop.engine.pipeline import MgieEngine
from mgie_desktop.testing import random_klein as rk


@pytest.fixture(scope="module")
def tiny_klein(tmp_path_factory):
    out = tmp_path_factory.mktemp("random-klein") / rk.KLEIN_STANDIN_DIR
    rk.write_random_klein(out, "tiny")
    return out


@pytest.fixture(scope="module")
def full_plan():
    return dict(rk.plan(rk.FULL))


def test_full_size_has_the_published_files_and_their_sizes(full_plan):
    planned = full_plan
    assert list(planned) == [
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors",  # 7.75 GB: under diffusers' 10 GB shards
        "vae/diffusion_pytorch_model.safetensors",
    ]
    size = {rel: rk.nbytes(shapes) for rel, shapes in planned.items()}
    assert size["transformer/diffusion_pytorch_model.safetensors"] == pytest.approx(7.75e9, rel=0.01)
    text = (
        size["text_encoder/model-00001-of-00002.safetensors"]
        + size["text_encoder/model-00002-of-00002.safetensors"]
    )
    assert text == pytest.approx(8.05e9, rel=0.01)  # Qwen3-4B in bf16, its tied lm_head left out
    assert size["text_encoder/model-00001-of-00002.safetensors"] <= 5e9  # transformers' shard limit
    assert rk.weight_bytes("full") == pytest.approx(16.0e9, rel=0.01)


def test_full_size_has_the_real_shapes(full_plan):
    planned = full_plan
    text = {
        **planned["text_encoder/model-00001-of-00002.safetensors"],
        **planned["text_encoder/model-00002-of-00002.safetensors"],
    }
    transformer = planned["transformer/diffusion_pytorch_model.safetensors"]
    vae = planned["vae/diffusion_pytorch_model.safetensors"]
    assert text["model.embed_tokens.weight"][0] == (151936, 2560) and "lm_head.weight" not in text
    assert (
        text["model.layers.35.mlp.down_proj.weight"][0] == (2560, 9728)
        and "model.layers.36.mlp.up_proj.weight" not in text
    )
    assert text["model.layers.0.self_attn.k_proj.weight"][0] == (8 * 128, 2560)  # 8 KV heads of 128
    assert transformer["x_embedder.weight"][0] == (3072, 128)  # 24 heads of 128; 32 latent channels x 2x2
    assert transformer["context_embedder.weight"][0] == (3072, 7680)  # hidden states 9, 18, 27 side by side
    assert (
        "transformer_blocks.4.attn.to_q.weight" in transformer
        and "transformer_blocks.5.attn.to_q.weight" not in transformer
    )
    assert "single_transformer_blocks.19.attn.to_out.weight" in transformer
    assert "single_transformer_blocks.20.attn.to_out.weight" not in transformer
    assert vae["bn.running_var"][0] == (128,) and vae["bn.running_var"][2] == "ones"
    assert vae["bn.num_batches_tracked"][1] == torch.int64
    dtypes = {dtype for shapes in planned.values() for _, dtype, _ in shapes.values()}
    assert dtypes == {torch.bfloat16, torch.int64}


def test_tiny_klein_is_the_published_layout_in_valid_files(tiny_klein):
    assert is_klein_folder(tiny_klein)
    index = json.loads((tiny_klein / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline" and index["is_distilled"] is True
    for stem in rk.SHARDED_STEMS:  # the tiny shards are small, so both index files are exercised
        shard_index = json.loads((tiny_klein / f"{stem}.safetensors.index.json").read_text())
        names = {}
        for shard in sorted(set(shard_index["weight_map"].values())):
            with safe_open(str(tiny_klein / stem.split("/")[0] / shard), "pt") as f:
                names.update(dict.fromkeys(f.keys(), shard))
                tensor = f.get_tensor(next(iter(f.keys())))
                assert tensor.dtype in (torch.bfloat16, torch.int64)
        assert names == shard_index["weight_map"]
        total = sum((tiny_klein / stem.split("/")[0] / s).stat().st_size for s in set(names.values()))
        assert shard_index["metadata"]["total_size"] <= total
    config = json.loads((tiny_klein / "text_encoder" / "config.json").read_text())
    assert config["num_hidden_layers"] == 30 and config["tie_word_embeddings"] is True
    assert not list(tiny_klein.rglob("*.partial"))


def test_tiny_klein_installs_loads_and_renders_by_the_engine_s_path(tiny_klein, tiny_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "bundle", models / "bundle")
    add_klein(tiny_klein, models)
    engine = MgieEngine(models, device="cpu", parts=BundleParts.KLEIN)
    pipe = engine.klein_model.pipe
    assert pipe.text_encoder.config.num_hidden_layers == 28  # cut after the last layer read
    assert pipe.transformer.config.num_single_layers == 1 and pipe.config.is_distilled
    photo = Image.new("RGB", (96, 64), (40, 120, 160))
    images, used = engine.render_klein(photo, "make it warmer", params_for(pixel_budget=64 * 64), [3])
    assert images[0].size == photo.size and used.steps == 4
    assert np.isfinite(np.asarray(images[0], dtype=np.float32)).all()
    assert (folder(models) / "transformer" / "diffusion_pytorch_model.safetensors.index.json").is_file()


def test_writing_is_seeded(tmp_path):
    rel = "transformer/diffusion_pytorch_model-00001-of-00003.safetensors"
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        rk.write_random_klein(tmp_path / name, "tiny", seed)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert (a / rel).read_bytes() == (b / rel).read_bytes() != (c / rel).read_bytes()


def test_writing_streams_one_tensor_at_a_time(tmp_path, monkeypatch):
    """Each tensor is made, written and dropped before the next is made: the most held is one
    (CPython frees a tensor when its last reference goes)."""
    made, alive_at_next = [], []
    real = rk._random

    def watched(shapes, generator):
        for name, tensor in real(shapes, generator):
            alive_at_next.append(sum(ref() is not None for ref in made))
            made.append(weakref.ref(tensor))
            yield name, tensor
            del tensor

    monkeypatch.setattr(rk, "_random", watched)
    rk.write_random_klein(tmp_path / "k", "tiny")
    assert len(made) > 300 and max(alive_at_next) == 0


def test_rewriting_replaces_files_so_a_hard_linked_bundle_keeps_its_own(tmp_path):
    out = tmp_path / "k"
    rk.write_random_klein(out, "tiny", seed=1)
    rel = "vae/diffusion_pytorch_model.safetensors"
    os.link(out / rel, tmp_path / "linked")  # as add_klein installs it
    before = (tmp_path / "linked").read_bytes()
    rk.write_random_klein(out, "tiny", seed=2)
    assert (tmp_path / "linked").read_bytes() == before != (out / rel).read_bytes()


def test_refuses_a_disk_too_small_and_says_how_much_it_needs(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 10**9, 10**9))
    with pytest.raises(InputError, match=r"needs 16\.0 GB .* 1\.0 GB are free"):
        rk.write_random_klein(tmp_path / "k", "full")
    assert not list((tmp_path / "k").iterdir())
    with pytest.raises(InputError, match="unknown size"):
        rk.write_random_klein(tmp_path / "k", "huge")
