"""FLUX.2 [klein], the second engine (issue 29), on tiny random components written in the exact
diffusers layout of black-forest-labs/FLUX.2-klein-4B and loaded by the code real files take."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from mgie_desktop.core.errors import EditCancelled, ModelFilesError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.sizing import klein_working_size
from mgie_desktop.core.step_params import KLEIN_STEPS
from mgie_desktop.engine import klein
from mgie_desktop.engine.int8 import Int8Linear
from mgie_desktop.engine.inventory import bundle_path, has_klein, problems
from mgie_desktop.engine.jobs import GuideCache, run_job
from mgie_desktop.engine.klein_files import add_klein
from mgie_desktop.engine.loading import BundleParts
from mgie_desktop.engine.pipeline import MgieEngine
from mgie_desktop.engine.tiny_klein import TEXT_LAYERS, write_tiny_klein

SMALL = EditParams(seed=3, pixel_budget=64 * 64)  # klein edits at 4x the budget: 128 x 128


@pytest.fixture(scope="module")
def klein_only(klein_models):
    """An engine loaded for klein alone, as `edit --mode klein` loads it."""
    return MgieEngine(klein_models, device="cpu", parts=BundleParts.KLEIN)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_the_bundle_holds_klein_in_the_published_layout(klein_models):
    where = bundle_path(klein_models) / "klein"
    index = json.loads((where / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline" and index["is_distilled"] is True
    for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (where / part).is_dir(), part
    assert any(where.glob("transformer/*.safetensors")) and any(where.glob("text_encoder/*.safetensors"))
    assert has_klein(klein_models) and problems(klein_models, full_hash=True) == []


def test_an_engine_for_klein_alone_loads_none_of_mgie(klein_only):
    assert klein_only.bundle.model is None and klein_only.bundle.vae is None and not klein_only.has_mgie
    encoder = klein_only.klein_model.pipe.text_encoder
    # Only the layers up to the last one read (27) and one after, whose input it is, are loaded...
    assert len(encoder.model.layers) == max(klein.TEXT_LAYERS) + 1 < TEXT_LAYERS
    # ...in 8 bits on the CPU, and no vocabulary-sized logits are computed.
    assert isinstance(encoder.model.layers[0].mlp.up_proj, Int8Linear)
    assert isinstance(encoder.lm_head, torch.nn.Identity)
    assert "8 bits" in klein_only.precision_reason


def test_truncating_the_text_encoder_keeps_the_hidden_states_read(klein_models):
    """hidden_states[27] is the input of layer 28: the truncated encoder must give the same numbers."""
    from transformers import Qwen3ForCausalLM

    where = bundle_path(klein_models) / "klein" / "text_encoder"
    full = Qwen3ForCausalLM.from_pretrained(where).eval()
    plan = klein.KleinPlan(torch.float32, False, False, "test")
    cut = klein.load_pipeline(klein_models, torch.device("cpu"), plan).text_encoder
    ids = torch.tensor([[5, 9, 40, 77, 3]])
    with torch.inference_mode():
        want = full(input_ids=ids, output_hidden_states=True).hidden_states
        got = cut(input_ids=ids, output_hidden_states=True).hidden_states
    for layer in klein.TEXT_LAYERS:
        torch.testing.assert_close(got[layer], want[layer])


def test_an_edit_is_deterministic_per_seed_and_comes_back_at_the_photos_size(klein_only, photo):
    steps = []
    first, used = klein_only.render_klein(
        photo, "make it blue", SMALL, [3], lambda s, n, p: steps.append((s, n))
    )
    again, _ = klein_only.render_klein(photo, "make it blue", SMALL, [3])
    other, _ = klein_only.render_klein(photo, "make it blue", SMALL, [4])
    assert first[0].size == photo.size
    assert np.array_equal(pixels(first[0]), pixels(again[0]))
    assert not np.array_equal(pixels(first[0]), pixels(other[0]))
    assert not np.array_equal(pixels(first[0]), pixels(photo))
    # The distilled model renders in its own four steps, without guidance, and says so.
    assert used.steps == KLEIN_STEPS and used.text_guidance == 1.0 and used.seed == 3
    assert steps == [(i, KLEIN_STEPS) for i in range(1, 5)]


def test_variations_in_one_batch_match_single_renders(klein_only, photo):
    batch, _ = klein_only.render_klein(photo, "warmer light", SMALL, [3, 4])
    single, _ = klein_only.render_klein(photo, "warmer light", SMALL, [4])
    difference = np.abs(pixels(batch[1]) - pixels(single[0]))  # batched arithmetic rounds (bf16 here)
    assert difference.max() <= 6 and difference.mean() < 0.5


def test_a_mask_keeps_what_it_covers_black(klein_only, photo):
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (0, 0, photo.width // 2, photo.height))
    [result], _ = klein_only.render_klein(photo, "make it blue", SMALL, [3], mask=mask)
    right = (slice(None), slice(photo.width * 3 // 4, None))
    assert np.array_equal(pixels(result)[right], pixels(photo)[right])
    assert not np.array_equal(pixels(result)[:, : photo.width // 4], pixels(photo)[:, : photo.width // 4])


def test_cancel_stops_the_render(klein_only, photo):
    cancel = threading.Event()

    def on_step(step, total, preview):
        assert preview().size == klein_working_size(photo.width, photo.height, SMALL.pixel_budget)
        cancel.set()

    with pytest.raises(EditCancelled):
        klein_only.render_klein(photo, "make it blue", SMALL, [3], on_step, cancel)


def test_a_job_for_klein_records_what_it_rendered_with_and_pairs_with_mgie(klein_models, photo):
    engine = MgieEngine(klein_models, device="cpu", precision="fp32")  # MGIE first; klein joins when asked
    job = EditJob(1, 0, 0, photo, "make the sky orange", SMALL, model="klein", compare=True, versus="mgie")
    result = run_job(engine, job, GuideCache(), "k")
    assert result.models == ["klein", "mgie"]
    assert result.params[0].steps == KLEIN_STEPS and result.params[1].steps == SMALL.steps
    assert result.expressive_instruction.startswith("The sky will be")  # MGIE's, though it rendered second
    alone, _ = engine.render_klein(photo, "make the sky orange", SMALL, [3])
    assert np.array_equal(pixels(result.images[0]), pixels(alone[0]))
    with pytest.raises(ValueError, match="two engines"):
        EditJob(1, 0, 0, photo, "x", SMALL, model="klein", compare=True, versus="klein")


def test_plans_per_machine():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert klein.plan_for(cpu, "auto", True, None, True).dtype == torch.bfloat16  # native bf16
    assert klein.plan_for(cpu, "auto", False, None, True).dtype == torch.float32  # emulated, fp32 fits
    assert klein.plan_for(cpu, "auto", False, None, False).dtype == torch.bfloat16  # fp32 would not fit
    assert all(klein.plan_for(cpu, p, False, None, True).text_int8 for p in ("auto", "fp32", "bf16"))
    assert klein.plan_for(gpu, "fp16", False, 8 * 1024**3, True).offload
    assert not klein.plan_for(gpu, "fp16", False, 24 * 1024**3, True).offload


def test_a_folder_that_is_not_klein_is_refused_in_one_line(tmp_path, tiny_models):
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(ModelFilesError, match="not a FLUX.2 \\[klein\\] model"):
        add_klein(tmp_path, tiny_models)
    with pytest.raises(ModelFilesError, match="not installed"):
        klein.load_pipeline(
            tiny_models, torch.device("cpu"), klein.KleinPlan(torch.float32, False, False, "")
        )


def test_the_tiny_model_is_the_same_for_the_same_seed(tmp_path):
    a, b = write_tiny_klein(tmp_path / "a"), write_tiny_klein(tmp_path / "b")
    name = "transformer/diffusion_pytorch_model.safetensors"
    assert (a / name).read_bytes() == (b / name).read_bytes()


def test_edit_mode_klein_writes_the_edit_and_a_session_step_of_its_kind(
    klein_models, photo_path, tmp_path, capsys
):
    from mgie_desktop.cli import main
    from mgie_desktop.core.session import open_session
    from mgie_desktop.core.step_params import StepKind

    out, session = tmp_path / "k.png", tmp_path / "k.mgie"
    code = main(
        [
            "edit",
            str(photo_path),
            "-i",
            "add snow",
            "-o",
            str(out),
            "--mode",
            "klein",
            "--models",
            str(klein_models),
        ]
        + ["--pixel-budget", str(SMALL.pixel_budget), "--seed", "3", "--session", str(session), "--json"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "klein" and report["expressive_instruction"] == ""
    assert report["steps"] == SMALL.steps and report["rendered"]["steps"] == KLEIN_STEPS
    edit = report["edits"][0]
    assert (edit["working_width"], edit["working_height"]) == klein_working_size(
        *Image.open(photo_path).size, SMALL.pixel_budget
    )
    assert Image.open(out).size == Image.open(photo_path).size
    opened = open_session(session, tmp_path / "work")
    step = opened.history.current
    assert step.kind is StepKind.KLEIN and step.params.render.steps == KLEIN_STEPS
    opened.history.close()


def test_edit_mode_klein_without_it_installed_names_the_download(tiny_models, photo_path, tmp_path, capsys):
    from mgie_desktop.cli import main

    out = tmp_path / "k.png"
    assert (
        main(
            [
                "edit",
                str(photo_path),
                "-i",
                "add snow",
                "-o",
                str(out),
                "--mode",
                "klein",
                "--models",
                str(tiny_models),
            ]
        )
        == 2
    )
    assert not out.exists() and "models download --with klein" in capsys.readouterr().err


def test_installing_klein_links_its_files_instead_of_copying_them(tmp_path, tiny_models):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    src = write_tiny_klein(tmp_path / "klein-src")
    add_klein(src, models)
    name = "transformer/diffusion_pytorch_model.safetensors"
    installed = bundle_path(models) / "klein" / name
    assert installed.stat().st_ino == (src / name).stat().st_ino  # one file on disk, two names
    assert has_klein(models) and problems(models, full_hash=True) == []


def test_an_mgie_load_does_not_count_klein_s_16_gb(klein_models):
    """With klein installed, MGIE's CPU plan must not plan (or refuse) as if klein loaded with it."""
    from mgie_desktop.engine.inventory import bundle_weight_bytes
    from mgie_desktop.engine.pipeline import _weights_to_load

    _quant, mgie_bytes, _llm = _weights_to_load(klein_models, BundleParts.MGIE, "8bit")
    klein_bytes = bundle_weight_bytes(klein_models, "klein/")
    assert klein_bytes > 0 and mgie_bytes == bundle_weight_bytes(klein_models) - klein_bytes


def test_an_undistilled_klein_is_refused_and_an_interrupted_install_changes_nothing(
    tmp_path, tiny_models, monkeypatch
):
    import shutil

    from mgie_desktop.engine import klein_files
    from mgie_desktop.engine.inventory import read_inventory

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    before = read_inventory(models)
    base = write_tiny_klein(tmp_path / "base", distilled=False)
    with pytest.raises(ModelFilesError, match="undistilled"):
        add_klein(base, models)
    shutil.copytree(base, bundle_path(models) / "klein")  # placed by hand: refused where it loads too
    with pytest.raises(ModelFilesError, match="undistilled"):
        klein.load_pipeline(models, torch.device("cpu"), klein.KleinPlan(torch.float32, False, False, ""))
    shutil.rmtree(bundle_path(models) / "klein")

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(klein_files, "sha256_file", interrupted)  # stopped while hashing 16 GB
    with pytest.raises(KeyboardInterrupt):
        add_klein(write_tiny_klein(tmp_path / "k"), models)
    assert read_inventory(models) == before and not (bundle_path(models) / "klein").exists()
    assert not any(bundle_path(models).glob("klein*"))


def test_klein_is_refused_in_one_line_where_it_would_not_fit(klein_models, monkeypatch):
    from mgie_desktop.core.errors import OutOfMemory
    from mgie_desktop.engine import pipeline

    need = klein.cpu_need_bytes(klein_models, torch.bfloat16)
    monkeypatch.setattr(pipeline, "available_memory", lambda: need - 1)
    with pytest.raises(OutOfMemory, match="FLUX.2 \\[klein\\] needs about .* edit with klein alone"):
        MgieEngine(klein_models, device="cpu", precision="bf16", parts=BundleParts.KLEIN)
    monkeypatch.setattr(pipeline, "available_memory", lambda: need + 1)
    assert MgieEngine(klein_models, device="cpu", precision="bf16", parts=BundleParts.KLEIN).klein_model


def test_a_cached_reading_of_the_words_keeps_no_graph(klein_only):
    embeds = klein_only.klein_model.embeddings("a graph would hold gigabytes")
    assert embeds.grad_fn is None and not embeds.requires_grad


def test_a_sweep_with_klein_and_expressive_with_klein_are_refused_at_the_door(
    photo, photo_path, tmp_path, capsys
):
    from mgie_desktop.cli import main
    from mgie_desktop.core.errors import InputError
    from mgie_desktop.core.sweep import parse_sweep
    from mgie_desktop.remote.protocol import upload_from_wire

    sweep = parse_sweep("text", SMALL)
    with pytest.raises(ValueError, match="distilled"):
        EditJob(1, 0, 0, photo, "x", SMALL, model="klein", sweep=sweep)
    spec = {"instruction": "x", "model": "klein", "sweep": {"text": [5.0, 7.5]}}
    with pytest.raises(InputError, match="distilled"):
        upload_from_wire(spec, b"", None, None)
    out = tmp_path / "o.png"
    args = ["edit", str(photo_path), "-i", "snow", "-e", "snow falls", "-o", str(out), "--mode", "klein"]
    assert main(args) == 2 and "--expressive steers MGIE" in capsys.readouterr().err and not out.exists()
