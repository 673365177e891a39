"""`models random`: random weights in the reference's exact layout. The tiny size goes through
import and an edit here; the full size is checked against the real files' sizes without
writing 18 GB (writing it is a benchmark, see docs/PERFORMANCE.md)."""

import json
import shutil
from collections import namedtuple

import pytest
import sentencepiece as spm

from mgie_desktop.cli import main
from mgie_desktop.core.errors import InputError
from mgie_desktop.engine.convert import locate_reference
from mgie_desktop.engine.klein_files import is_klein_folder
from mgie_desktop.testing import standin
from mgie_desktop.testing.random_klein import KLEIN_STANDIN_DIR
from mgie_desktop.testing.random_models import FULL, SMALL


def test_tiny_stand_in_imports_and_edits(tmp_path, photo_path):
    src = tmp_path / "reference"
    assert main(["models", "random", str(src), "--size", "tiny"]) == 0
    layout = locate_reference(src)
    index = json.loads((layout.llava / "pytorch_model.bin.index.json").read_text())
    assert set(index["weight_map"].values()) == set(standin.SHARDS)
    vocab = spm.SentencePieceProcessor(model_file=str(layout.llava / "tokenizer.model")).get_piece_size()
    assert vocab == SMALL.llm_vocab - 11  # LLaVA adds 3 tokens, MGIE 8
    models = tmp_path / "models"
    assert main(["models", "import", str(src), "--dest", str(models)]) == 0
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "edit",
                str(photo_path),
                "-i",
                "warmer",
                "-o",
                str(out),
                "--models",
                str(models),
                "--steps",
                "2",
                "--json",
                "--mode",
                "both",
            ]
        )
        == 0
    )
    assert out.exists() and (tmp_path / "out-ip2p.png").exists()  # InstructPix2Pix's own model is there too
    assert is_klein_folder(src / KLEIN_STANDIN_DIR)  # the second engine, for `models import-klein`


@pytest.mark.parametrize(
    "rel, real",
    [
        ("LLaVA-7B-v1/pytorch_model-00001-of-00002.bin", 9.98e9),
        ("LLaVA-7B-v1/pytorch_model-00002-of-00002.bin", 3.5e9),
        ("mgie_7b/mllm.pt", 588_493_241),
        ("mgie_7b/unet.pt", 1_719_335_845),
        ("clip-vit-large-patch14/model.safetensors", 1_710_540_580),
        ("instruct-pix2pix/vae/diffusion_pytorch_model.safetensors", 335e6),
        (
            "instruct-pix2pix/unet/diffusion_pytorch_model.safetensors",
            3.44e9,
        ),  # the optional comparison, fp32
        ("instruct-pix2pix/text_encoder/model.safetensors", 492e6),
    ],
)
def test_full_stand_in_has_the_real_files_sizes(rel, real):
    planned = dict(standin._plan(FULL))
    assert abs(standin._nbytes(planned[rel]) - real) / real < 0.05


def test_full_stand_in_refuses_a_disk_too_small_and_says_how_much_it_needs(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 10**9, 10**9))
    with pytest.raises(InputError, match=r"needs 3[78]\.\d GB .* 1\.0 GB are free"):  # MGIE's 22, klein's 16
        standin.write_standin(tmp_path / "full", "full")
    assert not (tmp_path / "full" / "LLaVA-7B-v1").exists()
    with pytest.raises(InputError, match=r"needs 16\.0 GB"):
        standin.write_standin(tmp_path / "full", "full", engines=("klein",))


def test_each_engine_of_the_stand_in_can_be_left_out(tmp_path):
    done = standin.write_standin(tmp_path / "mgie", "tiny", engines=("mgie",))
    assert done["klein"] is None and not (tmp_path / "mgie" / KLEIN_STANDIN_DIR).exists()
    locate_reference(tmp_path / "mgie")
    done = standin.write_standin(tmp_path / "klein", "tiny", engines=("klein",))
    assert is_klein_folder(tmp_path / "klein" / KLEIN_STANDIN_DIR) and done["klein"]
    assert sorted(p.name for p in (tmp_path / "klein").iterdir()) == [KLEIN_STANDIN_DIR]
    with pytest.raises(InputError, match="engines are"):
        standin.write_standin(tmp_path / "none", "tiny", engines=())
