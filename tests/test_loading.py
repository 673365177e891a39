"""Converting the reference layout and loading the bundle: key names, formats, damage."""

import json
import shutil

import pytest
import torch
from safetensors import safe_open

from mgie_desktop.core.errors import ModelFilesError
from mgie_desktop.engine.convert import convert, locate_reference
from mgie_desktop.engine.inventory import check_installed, problems, sha256_file
from mgie_desktop.engine.loading import load_bundle
from mgie_desktop.engine.weights import read_state_dict

CPU = torch.device("cpu")


@pytest.fixture
def sources(tiny_models, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(tiny_models / "tiny-reference", src)
    return src


def keys(path):
    with safe_open(str(path), "pt") as f:
        return set(f.keys())


def test_bundle_holds_safetensors_with_the_real_key_names(tiny_models):
    bundle = tiny_models / "bundle"
    llm = keys(bundle / "llm" / "model.safetensors")
    assert {
        "model.embed_tokens.weight",
        "lm_head.weight",
        "model.norm.weight",
        "model.layers.1.self_attn.q_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
    } <= llm
    assert not any("inv_freq" in k or "mm_projector" in k for k in llm)
    heads = keys(bundle / "mgie.safetensors")
    assert {
        "mm_projector.weight",
        "mm_projector.bias",
        "emb",
        "edit_head.query",
        "edit_head.mapper.decoder.layers.1.multihead_attn.in_proj_weight",
    } <= heads
    assert not list(bundle.rglob("*.bin")) and not list(bundle.rglob("*.pt"))
    inventory = json.loads((bundle / "bundle.json").read_text())
    assert inventory["dtype"] == "float16"
    for rel, meta in inventory["files"].items():
        assert sha256_file(bundle / rel) == meta["sha256"]
    assert inventory["model"]["tokens"]["[IMG7]"] == inventory["model"]["vocab_size"] - 1
    assert inventory["model"]["image_token_len"] == 256


def test_weights_round_trip_from_the_reference_files(tiny_models):
    loaded = load_bundle(tiny_models, CPU, torch.float32)
    mllm = torch.load(tiny_models / "tiny-reference" / "mgie_7b" / "mllm.pt", weights_only=True)
    llm = loaded.model.llm
    assert torch.equal(llm.get_input_embeddings().weight, mllm["model.embed_tokens.weight"].float())
    assert torch.equal(llm.lm_head.weight, mllm["lm_head.weight"].float())
    assert torch.equal(loaded.model.edit_head.query, mllm["edit_head.query"].float())
    assert torch.equal(loaded.model.emb, mllm["emb"].float())
    assert loaded.model.llm_dim == 64 and loaded.unet.config.in_channels == 8


@pytest.mark.parametrize("variant", ["emb-8xH", "no-emb"])
def test_emb_in_either_shape_or_absent(sources, tmp_path, variant):
    path = sources / "mgie_7b" / "mllm.pt"
    mllm = torch.load(path, weights_only=True)
    rows = mllm["model.embed_tokens.weight"][-8:]
    if variant == "emb-8xH":
        mllm["emb"] = mllm["emb"].reshape(8, -1)
    else:
        del mllm["emb"]  # the training code used embed_tokens[-8:]
    torch.save(mllm, path)
    convert(locate_reference(sources), tmp_path / "out")
    with safe_open(str(tmp_path / "out" / "bundle" / "mgie.safetensors"), "pt") as f:
        emb = f.get_tensor("emb")
    assert emb.shape == (1, 8, 64) and torch.equal(emb[0], rows)


def test_vision_weights_inside_the_llava_checkpoint(sources, tmp_path, tiny_models):
    from safetensors.torch import load_file

    clip = sources / "clip-vit-large-patch14"
    vision = {k: v for k, v in load_file(clip / "model.safetensors").items() if k.startswith("vision_model.")}
    (clip / "model.safetensors").unlink()  # only config and preprocessor left there
    shard = sources / "LLaVA-7B-v1" / "pytorch_model-00002-of-00002.bin"
    sd = torch.load(shard, weights_only=True)
    sd.update({f"model.vision_tower.vision_tower.{k}": v.half() for k, v in vision.items()})
    torch.save(sd, shard)
    index = json.loads((sources / "LLaVA-7B-v1" / "pytorch_model.bin.index.json").read_text())
    index["weight_map"].update({f"model.vision_tower.vision_tower.{k}": shard.name for k in vision})
    (sources / "LLaVA-7B-v1" / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    convert(locate_reference(sources), tmp_path / "out")
    assert (tmp_path / "out" / "bundle" / "vision" / "model.safetensors").read_bytes() == (
        tiny_models / "bundle" / "vision" / "model.safetensors"
    ).read_bytes()


def test_clip_and_instruct_pix2pix_from_the_hugging_face_cache(sources, tmp_path, monkeypatch):
    hub = tmp_path / "hf" / "hub"
    for repo, folder in (
        ("openai/clip-vit-large-patch14", "clip-vit-large-patch14"),
        ("timbrooks/instruct-pix2pix", "instruct-pix2pix"),
    ):
        cache = hub / ("models--" + repo.replace("/", "--"))
        (cache / "refs").mkdir(parents=True)
        (cache / "refs" / "main").write_text("0" * 40)
        shutil.move(sources / folder, cache / "snapshots" / ("0" * 40))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))  # as HF_HOME/HF_HUB_CACHE set it
    layout = locate_reference(sources)
    assert hub in layout.clip.parents and hub in layout.ip2p.parents
    convert(layout, tmp_path / "out")
    check_installed(tmp_path / "out")


def test_missing_parts_are_named(tmp_path):
    (tmp_path / "mgie_7b").mkdir()
    with pytest.raises(ModelFilesError) as err:
        locate_reference(tmp_path)
    message = str(err.value)
    assert "LLaVA-7B-v1" in message and "mllm.pt" in message and "unet.pt" in message
    assert "clip-vit-large-patch14" in message and "instruct-pix2pix" in message


def test_truncated_weight_file_gives_a_clear_error(sources, tmp_path):
    unet = sources / "mgie_7b" / "unet.pt"
    unet.write_bytes(unet.read_bytes()[: unet.stat().st_size // 2])
    with pytest.raises(ModelFilesError, match="unet.pt.*(corrupt|truncated)"):
        convert(locate_reference(sources), tmp_path / "out")
    assert not (tmp_path / "out" / "bundle").exists()


class Payload:
    def __reduce__(self):
        return (print, ("this pickle runs code",))


def test_pickle_with_python_objects_is_refused(tmp_path):
    path = tmp_path / "mllm.pt"
    torch.save({"model.embed_tokens.weight": torch.zeros(2, 2), "trap": Payload()}, path)
    with pytest.raises(ModelFilesError, match="refusing"):
        read_state_dict(path)


def test_llava_and_mllm_that_do_not_belong_together(sources, tmp_path):
    path = sources / "mgie_7b" / "mllm.pt"
    mllm = torch.load(path, weights_only=True)
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        mllm[key] = torch.cat([mllm[key], mllm[key][:1]])
    torch.save(mllm, path)
    with pytest.raises(ModelFilesError, match="do not belong together"):
        convert(locate_reference(sources), tmp_path / "out")


def test_damaged_bundle_is_detected_and_named(tiny_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "bundle", models / "bundle")
    unet = models / "bundle" / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(unet.read_bytes())
    data[-10] ^= 0xFF  # same size, different bytes: only the hash sees it
    unet.write_bytes(bytes(data))
    assert problems(models) == []
    assert problems(models, full_hash=True) == ["checksum mismatch: unet/diffusion_pytorch_model.safetensors"]

    llm = models / "bundle" / "llm" / "model.safetensors"
    llm.write_bytes(llm.read_bytes()[:100])
    with pytest.raises(ModelFilesError, match="wrong size: llm/model.safetensors"):
        check_installed(models)


def test_corrupt_header_with_the_right_size_fails_to_load_clearly(tiny_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "bundle", models / "bundle")
    heads = models / "bundle" / "mgie.safetensors"
    data = bytearray(heads.read_bytes())
    data[8:16] = b"!garbage"
    heads.write_bytes(bytes(data))
    with pytest.raises(ModelFilesError, match="could not be loaded"):
        load_bundle(models, CPU, torch.float32)


def test_no_models_says_how_to_get_them(tmp_path):
    with pytest.raises(ModelFilesError, match="models tiny"):
        check_installed(tmp_path)


def test_bundle_loads_without_random_initialisation(tiny_models, monkeypatch):
    """Every weight comes from the files: no init function ever touches a real tensor."""
    touched = []
    for name in (
        "normal_",
        "uniform_",
        "kaiming_uniform_",
        "xavier_uniform_",
        "trunc_normal_",
        "zeros_",
        "ones_",
    ):
        original = getattr(torch.nn.init, name)

        def spy(tensor, *args, _original=original, _name=name, **kwargs):
            if tensor.device.type != "meta":
                touched.append((_name, tuple(tensor.shape)))
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.nn.init, name, spy)
    load_bundle(tiny_models, CPU, torch.float32)
    assert touched == []


def test_llava_checkpoint_as_safetensors(sources, tmp_path, tiny_models):
    from safetensors.torch import save_file

    llava = sources / "LLaVA-7B-v1"
    sd = {}
    for shard in sorted(llava.glob("pytorch_model-*.bin")):
        sd.update(torch.load(shard, weights_only=True))
        shard.unlink()
    (llava / "pytorch_model.bin.index.json").unlink()
    save_file({k: v.contiguous() for k, v in sd.items()}, str(llava / "model.safetensors"))
    convert(locate_reference(sources), tmp_path / "out")
    assert (tmp_path / "out" / "bundle" / "llm" / "model.safetensors").read_bytes() == (
        tiny_models / "bundle" / "llm" / "model.safetensors"
    ).read_bytes()


class _SetAfter:
    """An Event that reads as set from its n-th check on (the app quitting mid-load)."""

    def __init__(self, checks_before_set: int):
        self.left = checks_before_set

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_a_load_stops_between_parts_when_cancelled(tiny_models, monkeypatch):
    from diffusers import UNet2DConditionModel

    from mgie_desktop.core.errors import LoadCancelled
    from mgie_desktop.engine.pipeline import MgieEngine

    unet_loads = []
    real = UNet2DConditionModel.from_pretrained.__func__
    monkeypatch.setattr(
        UNet2DConditionModel,
        "from_pretrained",
        classmethod(lambda cls, *a, **k: unet_loads.append(a) or real(cls, *a, **k)),
    )
    with pytest.raises(LoadCancelled):
        MgieEngine(tiny_models, device="cpu", cancel=_SetAfter(1))  # set at the 2nd check: after the LLM
    assert unet_loads == []  # the parts after the cancel were never read
    engine = MgieEngine(tiny_models, device="cpu", cancel=_SetAfter(100))  # never set in time: a normal load
    assert unet_loads and engine.bundle.unet is not None


def test_running_out_of_memory_while_loading_is_not_called_damage(tiny_models, monkeypatch):
    from diffusers import UNet2DConditionModel

    from mgie_desktop.core.errors import OutOfMemory

    def no_memory(cls, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.70 GiB")

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", classmethod(no_memory))
    with pytest.raises(OutOfMemory, match="not enough CPU memory.*--memory offload") as caught:
        load_bundle(tiny_models, CPU, torch.float32)
    assert "verify" not in str(caught.value)  # not sent looking for a damaged file
