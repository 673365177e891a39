"""Plain InstructPix2Pix beside MGIE (issue 13): the optional component, its render equal to
diffusers' own pipeline reading the words, and `edit --mode`."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mgie_desktop.core.errors import ModelFilesError
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.step_params import StepKind

PARAMS = EditParams(steps=3, seed=11, pixel_budget=64 * 64, scheduler="euler_a")


def test_the_tiny_models_carry_the_optional_component_and_its_files_are_verified(tiny_models):
    from mgie_desktop.engine.inventory import problems, read_inventory

    inventory = read_inventory(tiny_models)
    assert inventory["model"]["plain_ip2p"] is True
    files = inventory["files"]
    assert any(f.startswith("ip2p/unet/") for f in files) and any(
        f.startswith("ip2p/text_encoder/") for f in files
    )
    assert "ip2p/tokenizer/vocab.json" in files and not problems(tiny_models, full_hash=True)


def test_plain_render_equals_diffusers_pipeline_reading_the_words(engine, tiny_models):
    from diffusers import AutoencoderKL, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from mgie_desktop.engine.schedulers import make_scheduler

    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "RGB")  # the working size
    ours = engine.render_plain(photo, "make the sky a sunset", PARAMS)

    bundle = tiny_models / "bundle"
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=AutoencoderKL.from_pretrained(bundle / "vae", torch_dtype=torch.float32),
        text_encoder=CLIPTextModel.from_pretrained(bundle / "ip2p" / "text_encoder", dtype=torch.float32),
        tokenizer=CLIPTokenizer.from_pretrained(bundle / "ip2p" / "tokenizer"),
        unet=UNet2DConditionModel.from_pretrained(bundle / "ip2p" / "unet", torch_dtype=torch.float32),
        scheduler=make_scheduler("euler_a", engine.bundle.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    theirs = pipe(
        "make the sky a sunset",
        image=photo,
        num_inference_steps=PARAMS.steps,
        guidance_scale=PARAMS.text_guidance,
        image_guidance_scale=PARAMS.image_guidance,
        generator=torch.Generator().manual_seed(PARAMS.seed),
    ).images[0]
    assert ours.tobytes() == theirs.tobytes()
    mgie = engine.render(photo, engine.instruct(photo, "make the sky a sunset").conditioning, PARAMS)
    assert mgie.tobytes() != ours.tobytes()  # another model: another picture


def test_cli_both_writes_each_model_s_result_and_reports_each(tiny_models, photo_path, tmp_path, capsys):
    from mgie_desktop.cli import main

    out = tmp_path / "beach-edit.png"
    assert (
        main(
            [
                "edit",
                str(photo_path),
                "-i",
                "add snow",
                "-o",
                str(out),
                "--models",
                str(tiny_models),
                "--steps",
                "2",
                "--precision",
                "fp32",
                "--mode",
                "both",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    plain = tmp_path / "beach-edit-ip2p.png"
    assert report["mode"] == "both" and report["output"] == str(out)
    assert report["ip2p"]["output"] == str(plain) and report["ip2p"]["render_s"] > 0
    assert report["ip2p"]["edits"][0]["expressive_instruction"] == ""
    assert Image.open(out).size == Image.open(plain).size == (96, 64)
    assert Image.open(out).tobytes() != Image.open(plain).tobytes()

    session = tmp_path / "plain.mgie"
    assert (
        main(
            [
                "edit",
                str(photo_path),
                "-i",
                "add snow",
                "-o",
                str(tmp_path / "only.png"),
                "--mode",
                "ip2p",
                "--models",
                str(tiny_models),
                "--steps",
                "2",
                "--precision",
                "fp32",
                "--session",
                str(session),
            ]
        )
        == 0
    )
    assert not (tmp_path / "only-ip2p.png").exists()
    from mgie_desktop.core.session import open_session

    opened = open_session(session, tmp_path / "work")
    step = opened.history.current
    assert step.kind is StepKind.IP2P and step.expressive_instruction == ""
    opened.history.close()


@pytest.fixture(scope="module")
def models_without_plain(tmp_path_factory):
    from mgie_desktop.engine.convert import convert, locate_reference
    from mgie_desktop.engine.tiny import write_tiny_reference

    root = tmp_path_factory.mktemp("no-plain")
    src = write_tiny_reference(root / "src")
    for part in ("text_encoder", "tokenizer"):
        shutil.rmtree(src / "instruct-pix2pix" / part)
    convert(locate_reference(src), root)
    return root


def test_without_the_optional_component_it_is_named_and_nothing_is_written(
    models_without_plain, photo_path, tmp_path, capsys
):
    from mgie_desktop.cli import main
    from mgie_desktop.engine.pipeline import MgieEngine

    out = tmp_path / "out.png"
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
                "ip2p",
                "--models",
                str(models_without_plain),
            ]
        )
        == 2
    )
    assert not out.exists() and "models download --with ip2p" in capsys.readouterr().err
    engine = MgieEngine(models_without_plain, device="cpu", precision="fp32")
    with pytest.raises(ModelFilesError, match="not installed"):
        engine.render_plain(Image.new("RGB", (32, 32)), "add snow", PARAMS)


def test_the_manifest_offers_the_comparison_as_an_optional_component():
    from mgie_desktop.store.errors import ManifestError
    from mgie_desktop.store.manifest import download_size_text, load_manifest

    manifest = load_manifest(None)
    assert manifest.optional_ids == ["ip2p", "klein"]  # klein: FLUX.2 [klein], tests/test_klein_store.py
    required = manifest.choose()
    assert "ip2p" not in [m.id for m in required.models] and len(required.models) == len(manifest.models) - 2
    assert [m.id for m in manifest.choose(["ip2p"]).models] == [
        m.id for m in manifest.models if m.id != "klein"
    ]
    assert download_size_text() == f"about {required.expected_size / 1e9:.1f} GB"  # optional parts aside
    plain = manifest.model("ip2p")
    assert (
        all(f.source.pinned for f in plain.files)
        and plain.license == manifest.model("instruct-pix2pix").license
    )
    with pytest.raises(
        ManifestError, match="unknown optional component nope; the manifest offers: ip2p, klein"
    ):
        manifest.choose(["nope"])


def test_the_optional_parts_are_added_to_an_installed_bundle_whose_sources_were_freed(
    models_without_plain, tmp_path
):
    import json as json_

    from mgie_desktop.engine.inventory import problems, read_inventory
    from mgie_desktop.engine.tiny import write_plain_ip2p
    from mgie_desktop.store.commands import _already_converted
    from mgie_desktop.store.install import install_sources
    from mgie_desktop.store.manifest import load_manifest

    dest = tmp_path / "models"
    shutil.copytree(models_without_plain / "bundle", dest / "bundle")
    manifest = load_manifest(None)
    assert not read_inventory(dest)["model"]["plain_ip2p"]
    assert not _already_converted(manifest.choose(["ip2p"]), dest)  # asked for, not there yet
    assert _already_converted(manifest.choose(), dest)
    before = read_inventory(dest)["files"]
    unet_config = json_.loads((dest / "bundle" / "unet" / "config.json").read_text())
    write_plain_ip2p(dest / "sources" / "instruct-pix2pix", unet_config)
    inventory = install_sources(dest)
    assert inventory["model"]["plain_ip2p"] and not problems(dest, full_hash=True)
    assert {k: v for k, v in inventory["files"].items() if k in before} == before  # the rest untouched
    from mgie_desktop.engine.pipeline import MgieEngine

    image = MgieEngine(dest, device="cpu", precision="fp32").render_plain(
        Image.new("RGB", (32, 32)), "add snow", PARAMS
    )
    assert image.size == (32, 32)


def test_plain_mode_never_loads_the_language_model_and_renders_the_same_pixels(
    engine, tiny_models, photo_path, tmp_path, monkeypatch
):
    import transformers

    from mgie_desktop.cli import main
    from mgie_desktop.engine.loading import BundleParts
    from mgie_desktop.engine.pipeline import MgieEngine

    photo = Image.open(photo_path).convert("RGB")
    expected = engine.render_plain(photo, "add snow", PARAMS)  # the whole bundle loaded

    def no_llm(*_args, **_kwargs):
        raise AssertionError("plain InstructPix2Pix loaded the LLM")

    for name in ("LlamaForCausalLM", "CLIPVisionModel"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", no_llm)
    parts = []
    plain = MgieEngine(
        tiny_models,
        device="cpu",
        precision="fp32",
        parts=BundleParts.PLAIN,
        progress=lambda part, done, total: parts.append((part, done, total)),
    )
    assert parts == [("the VAE", 0, 1)] and plain.bundle.model is None and plain.instruction_limit is None
    assert plain.render_plain(photo, "add snow", PARAMS).tobytes() == expected.tobytes()
    with pytest.raises(RuntimeError, match="plain InstructPix2Pix only"):
        plain.instruct(photo, "add snow")

    out = tmp_path / "plain.png"
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
                "ip2p",
                "--models",
                str(tiny_models),
                "--steps",
                "2",
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    assert Image.open(out).size == photo.size
    with pytest.raises(AssertionError, match="loaded the LLM"):  # the patch does stop a full load
        MgieEngine(tiny_models, device="cpu", precision="fp32")


def test_the_cpu_plan_for_plain_counts_only_what_it_loads(tiny_models):
    from mgie_desktop.engine.inventory import bundle_weight_bytes
    from mgie_desktop.engine.loading import BundleParts
    from mgie_desktop.engine.pipeline import _weights_to_load

    quant, plain_bytes, llm_bytes = _weights_to_load(tiny_models, BundleParts.PLAIN, "8bit")
    assert (quant, llm_bytes) == ("none", 0)
    assert plain_bytes == bundle_weight_bytes(tiny_models, "ip2p/") + bundle_weight_bytes(tiny_models, "vae/")
    assert _weights_to_load(tiny_models, BundleParts.MGIE, "8bit") == (
        "8bit",
        bundle_weight_bytes(tiny_models),
        bundle_weight_bytes(tiny_models, "llm/"),
    )
    assert 0 < plain_bytes < bundle_weight_bytes(tiny_models) - bundle_weight_bytes(tiny_models, "llm/")
