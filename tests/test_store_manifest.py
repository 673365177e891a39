"""The models manifest: the shipped one lists exactly what the converter needs; malformed
manifests and paths that leave the models directory are refused with clear messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mgie_desktop.store.errors import ManifestError
from mgie_desktop.store.manifest import (
    MANIFEST_ENV,
    Manifest,
    check_relpath,
    default_manifest_path,
    resolve_manifest_path,
    target_path,
)

ROOT = Path(__file__).resolve().parents[1]


def good(**file_overrides) -> dict:
    f = {
        "path": "sources/a.bin",
        "size": 3,
        "sha256": "0" * 64,
        "source": {"url": "http://127.0.0.1:1/a.bin"},
    }
    f.update(file_overrides)
    return {
        "schema": 1,
        "models": [
            {"id": "m", "name": "M", "license": {"name": "L", "url": "https://x.invalid"}, "files": [f]}
        ],
    }


def test_the_shipped_manifest_lists_the_five_parts_the_converter_needs(tmp_path):
    m = Manifest.load(ROOT / "models_manifest.json")
    assert default_manifest_path().name == "models_manifest.json"
    assert [x.id for x in m.models if not x.optional] == [
        "llava-7b",
        "mgie-mllm",
        "mgie-unet",
        "clip-vit-l14",
        "instruct-pix2pix",
    ]
    # InstructPix2Pix's own model and FLUX.2 [klein]: downloaded only when asked for
    assert m.optional_ids == ["ip2p", "klein"]
    paths = {f.path for f in m.files}
    assert all(p.startswith("sources/") for p in paths)
    for needed in (
        "LLaVA-7B-v1/config.json",
        "LLaVA-7B-v1/tokenizer.model",
        "LLaVA-7B-v1/tokenizer_config.json",
        "LLaVA-7B-v1/special_tokens_map.json",
        "LLaVA-7B-v1/added_tokens.json",
        "LLaVA-7B-v1/pytorch_model.bin.index.json",
        "mgie_7b/mllm.pt",
        "mgie_7b/unet.pt",
        "clip-vit-large-patch14/config.json",
        "clip-vit-large-patch14/preprocessor_config.json",
        "clip-vit-large-patch14/model.safetensors",
        "instruct-pix2pix/vae/config.json",
        "instruct-pix2pix/vae/diffusion_pytorch_model.safetensors",
        "instruct-pix2pix/scheduler/scheduler_config.json",
        "instruct-pix2pix/unet/config.json",
    ):
        assert f"sources/{needed}" in paths
    assert any(p.startswith("sources/LLaVA-7B-v1/pytorch_model-") for p in paths)
    by_path = {f.path: f for f in m.files}
    assert (
        by_path["sources/mgie_7b/unet.pt"].sha256
        == "340e2ac8509f3cb6264ba311cc3ad1de044f47cd11beae3110060f1874e95cc1"
    )
    assert by_path["sources/mgie_7b/mllm.pt"].size == 588_493_241
    assert all(f.source.is_hf for f in m.files)  # no whole-repository downloads: one file each
    for model in m.models:
        assert model.license.name and model.license.url.startswith("https://")
        assert all(f.source.pinned for f in model.files)  # every Hub source at a full commit id
    # The facts shared/docs/MGIE_REFERENCE.md lists: LLaVA-7B-v1 from the MGIE authors' own copy.
    shard = by_path["sources/LLaVA-7B-v1/pytorch_model-00001-of-00002.bin"]
    assert shard.source.hf_repo == "tsujuifu/ml-mgie" and shard.source.hf_path.startswith("LLaVA-7B-v1/")
    assert shard.sha256 == "c6047b42812a6803e43f3869ce9a9cea1fa1ad65dce63efe6b328dab54173a94"
    assert by_path["sources/mgie_7b/unet.pt"].size == 1_719_335_845
    assert by_path["sources/clip-vit-large-patch14/model.safetensors"].size == 1_710_540_580
    assert len(m.licenses()) == 5  # MGIE's two files share one licence, asked once
    assert len(m.choose().licenses()) == 4  # FLUX.2 [klein]'s Apache-2.0 only when it is chosen


def test_the_shipped_layout_is_what_locate_reference_expects(tmp_path):
    from mgie_desktop.engine.convert import locate_reference

    for f in Manifest.load(ROOT / "models_manifest.json").files:
        path = target_path(tmp_path, f.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    layout = locate_reference(tmp_path / "sources")
    assert layout.clip == tmp_path / "sources/clip-vit-large-patch14"
    assert layout.ip2p == tmp_path / "sources/instruct-pix2pix"


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "top level must be a JSON object"),
        ({"models": []}, "'schema' must be an integer"),
        ({"schema": 2, "models": []}, "uses schema 2"),
        ({"schema": 1, "models": []}, "'models' must be a non-empty list"),
        (good(size=-1), "size must be a whole number"),
        (good(size="3"), "size must be a whole number"),
        (good(sha256="ABC"), "sha256 must be 64 lowercase hex"),
        (good(source={}), "source needs 'url' or 'hf_repo'"),
        (good(source={"url": "http://a.invalid/x", "hf_repo": "o/r"}), "both 'url' and 'hf_repo'"),
        (good(source={"url": "file:///etc/passwd"}), "must be an http"),
        (
            good(source={"hf_repo": "o/r", "revision": "main", "hf_path": "a.bin"}),
            "pin it or add a revision_note",
        ),
        (good(source={"hf_repo": "o/r", "revision": "0" * 40, "hf_path": "../a.bin"}), "hf_path"),
        (good(source={"hf_repo": "nope", "revision": "0" * 40, "hf_path": "a.bin"}), "owner/name"),
    ],
)
def test_malformed_manifests_are_refused_clearly(data, message):
    with pytest.raises(ManifestError, match="malformed manifest|schema") as info:
        Manifest.from_dict(data, origin="test.json")
    assert message in str(info.value)


def test_duplicates_and_bad_json_are_refused(tmp_path):
    data = good()
    data["models"][0]["files"] *= 2
    with pytest.raises(ManifestError, match="listed twice"):
        Manifest.from_dict(data)
    bad = tmp_path / "m.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ManifestError, match=f"malformed manifest {bad}: not valid JSON"):
        Manifest.load(bad)
    with pytest.raises(ManifestError, match="manifest not found"):
        Manifest.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "path",
    [
        "../evil",
        "sources/../../evil",
        "/etc/passwd",
        "C:/evil",
        "sources\\evil",
        "sources//a",
        "./a",
        ".mgie-store/verified.json",
        "sources/.hidden",
        "sources/a.bin.part",
        "",
    ],
)
def test_paths_outside_the_models_directory_are_refused(path):
    with pytest.raises(ManifestError):
        check_relpath(path)
    with pytest.raises(ManifestError, match="unsafe|non-empty"):
        Manifest.from_dict(good(path=path))


def test_a_symlinked_directory_cannot_lead_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sources").symlink_to(outside)
    with pytest.raises(ManifestError, match="resolves outside"):
        target_path(dest, "sources/a.bin")
    assert target_path(dest, "other/a.bin") == dest / "other/a.bin"


def test_manifest_path_precedence(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit.json", tmp_path / "env.json"
    monkeypatch.setenv(MANIFEST_ENV, str(env))
    assert resolve_manifest_path(explicit) == explicit
    assert resolve_manifest_path(None) == env
    monkeypatch.delenv(MANIFEST_ENV)
    assert resolve_manifest_path(None) == default_manifest_path()
    json.loads(default_manifest_path().read_text(encoding="utf-8"))
