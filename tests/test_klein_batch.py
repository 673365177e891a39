"""FLUX.2 [klein] in recipes and ``mgie-desktop batch`` (issue 29), here and on a local Ray
instance, on the tiny random klein: a recipe step says ``"model": "klein"``; a batch of it gives
the pixels ``render_klein`` gives, loads only the engines its recipe asks for, and records klein
in each output's edit record and results line. Photos are 64x48 and the budget 64x64 (klein
edits at four times it), so each render takes about a second."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgie_desktop.batch.contact_sheet import cell_lines
from mgie_desktop.batch.overview import BatchPhoto, PhotoStatus
from mgie_desktop.batch.photo import check_rerender, engines_of
from mgie_desktop.batch.review import UNDECIDED, Rerender
from mgie_desktop.cli import main
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.recipe import parse_recipe, recipe_from_history
from mgie_desktop.core.step_params import StepKind, StepParams

BUDGET = 64 * 64
WORDS = "make it blue"
SEED = 5


def _photo(index: int) -> Image.Image:
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 3 + index * 9, y * 4 + index * 5, (x + y) * 2 + index * 13], axis=-1) % 256
    rgb[10 + index : 30, 20 : 40 + index] = (250 - index * 10, 200, 40)
    return Image.fromarray(rgb.astype("uint8"), "RGB")


def _step(**fields) -> dict:
    return {
        "kind": "edit",
        "instruction": WORDS,
        "model": "klein",
        "pixel_budget": BUDGET,
        "seed": {"policy": "fixed", "value": SEED},
        **fields,
    }


def _recipe(path: Path, *steps: dict) -> Path:
    path.write_text(json.dumps({"format": "mgie-recipe", "version": 1, "steps": list(steps)}))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    photos = tmp_path_factory.mktemp("klein-shoot")
    for index in range(2):
        _photo(index).save(photos / f"frame{index}.png")
    return photos


def _batch(recipe: Path, photos: Path, out: Path, models: Path, *extra: str) -> int:
    return main(
        [
            "batch",
            str(recipe),
            str(photos),
            str(out),
            "--format",
            "png",
            "--models",
            str(models),
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--json",
            *extra,
        ]
    )


def _loads(monkeypatch) -> list:
    """The parts of the bundle every engine made loads (engine.loading.BundleParts)."""
    from mgie_desktop.engine import pipeline

    loaded, real = [], pipeline.load_bundle

    def load_bundle(*args, **kwargs):
        loaded.append(args[6] if len(args) > 6 else kwargs.get("parts"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_bundle", load_bundle)
    return loaded


def _engines(monkeypatch) -> list:
    """The engine of every PhotoEditor made."""
    from mgie_desktop.batch.photo import PhotoEditor

    made, real_init = [], PhotoEditor.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self.engine)

    monkeypatch.setattr(PhotoEditor, "__init__", init)
    return made


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def klein_batch(folder, klein_models, tmp_path_factory):
    """A klein-only recipe run over the folder, with what it loaded."""
    from mgie_desktop.engine.loading import BundleParts

    root = tmp_path_factory.mktemp("klein-batch")
    recipe, out = _recipe(root / "klein.json", _step()), root / "out"
    with pytest.MonkeyPatch.context() as patch:
        loaded, engines = _loads(patch), _engines(patch)
        code = _batch(recipe, folder, out, klein_models)
    assert code == 0
    assert loaded == [BundleParts.KLEIN]
    return {"recipe": recipe, "out": out, "engine": engines[0]}


def test_a_klein_recipe_gives_the_pixels_render_klein_gives(klein_batch, folder, klein_engine):
    params = EditParams(seed=SEED, pixel_budget=BUDGET)
    for name in ("frame0", "frame1"):
        with Image.open(folder / f"{name}.png") as source:
            [alone], used = klein_engine.render_klein(source.convert("RGB"), WORDS, params, [SEED])
        with Image.open(klein_batch["out"] / f"{name}.png") as batched:
            assert batched.size == (64, 48)
            assert np.array_equal(_pixels(batched), _pixels(alone)), name
            record = json.loads(batched.info["mgie:edit"])
        settings = record["steps"][0]["settings"]
        # The edit record says the engine and what it rendered with: the distilled model's own steps.
        assert settings["model"] == "klein" and settings["seed"] == SEED
        assert (settings["steps"], settings["text_guidance"]) == (used.steps, used.text_guidance) == (4, 1.0)
        assert record["steps"][0]["expressive_instruction"] == ""
    lines = _lines(klein_batch["out"])
    assert [line["models"] for line in lines] == [["klein"], ["klein"]]
    assert all(line["expressive_instructions"] == [""] and line["seeds"] == [SEED] for line in lines)


def test_a_klein_only_batch_never_loads_the_llm(klein_batch):
    engine = klein_batch["engine"]
    assert not engine.has_mgie and engine.bundle.model is None and engine.bundle.unet is None
    assert engine.bundle.vae is None  # not even MGIE's VAE: klein has its own
    assert engine._klein is not None  # the engine klein rendered with


def test_a_recipe_mixing_engines_loads_mgie_and_klein_joins(
    folder, klein_models, klein_engine, tmp_path, monkeypatch
):
    from mgie_desktop.batch.photo import chain_for
    from mgie_desktop.core.chain import run_chain
    from mgie_desktop.core.recipe import load_recipe
    from mgie_desktop.engine.loading import BundleParts

    recipe = _recipe(
        tmp_path / "mixed.json",
        _step(model="mgie", instruction="add snow", steps=1),
        {"kind": "geometry", "op": {"op": "rotate", "degrees": 90}},
        _step(),
    )
    few = tmp_path / "few"
    few.mkdir()
    shutil.copy(folder / "frame1.png", few / "frame1.png")
    loaded, engines = _loads(monkeypatch), _engines(monkeypatch)
    assert _batch(recipe, few, tmp_path / "out", klein_models) == 0
    assert loaded == [BundleParts.MGIE] and engines[0].has_mgie and engines[0]._klein is not None
    with Image.open(few / "frame1.png") as source:
        photo = source.convert("RGB")
    steps = chain_for(load_recipe(recipe), {}, "frame1.png", photo.size)
    history, expected, _records = run_chain(klein_engine, photo, steps)
    history.close()
    with Image.open(tmp_path / "out" / "frame1.png") as batched:
        assert batched.size == (48, 64) and np.array_equal(_pixels(batched), _pixels(expected))
        record = json.loads(batched.info["mgie:edit"])
    assert [s["settings"].get("model") for s in record["steps"]] == ["mgie", None, "klein"]
    [line] = _lines(tmp_path / "out")
    assert line["models"] == ["mgie", "klein"] and line["expressive_instructions"][1] == ""


@pytest.mark.parametrize(
    ("engines", "parts"),
    [({"klein"}, "KLEIN"), ({"ip2p"}, "PLAIN"), ({"ip2p", "klein"}, "PLAIN"), ({"mgie", "klein"}, "MGIE")],
)
def test_a_batch_loads_the_parts_its_engines_need(engines, parts):
    from mgie_desktop.batch.photo import bundle_parts
    from mgie_desktop.engine.loading import BundleParts

    assert bundle_parts(frozenset(engines)) is BundleParts[parts]


def test_a_plain_only_recipe_loads_no_llm_either(folder, tiny_models, tmp_path, monkeypatch):
    from mgie_desktop.engine.loading import BundleParts

    few = tmp_path / "few"
    few.mkdir()
    shutil.copy(folder / "frame0.png", few / "frame0.png")
    loaded, engines = _loads(monkeypatch), _engines(monkeypatch)
    recipe = _recipe(tmp_path / "plain.json", _step(model="ip2p", steps=1))
    assert _batch(recipe, few, tmp_path / "out", tiny_models) == 0
    assert loaded == [BundleParts.PLAIN] and not engines[0].has_mgie
    assert _lines(tmp_path / "out")[0]["models"] == ["ip2p"]


def test_a_klein_recipe_without_klein_installed_names_the_download_before_loading(
    folder, tiny_models, tmp_path, monkeypatch, capsys
):
    engines = _engines(monkeypatch)
    recipe = _recipe(tmp_path / "k.json", _step())
    assert _batch(recipe, folder, tmp_path / "out", tiny_models) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "models download --with klein" in err[0], err
    assert engines == [] and not (tmp_path / "out" / "results.jsonl").exists()


@pytest.mark.parametrize("name", ["flux", "Klein", "", 3, None, ["klein"]])
def test_a_recipe_with_a_bad_model_name_is_refused_in_one_line(name, folder, tiny_models, tmp_path, capsys):
    recipe = _recipe(tmp_path / "bad.json", _step(model=name))
    with pytest.raises(InputError) as caught:
        parse_recipe(json.loads(recipe.read_text()), "bad.json")
    message = str(caught.value)
    assert message.startswith("cannot use the recipe 'bad.json': step 1: ") and '"model" must be' in message
    assert "klein" in message and "\n" not in message
    assert _batch(recipe, folder, tmp_path / "out", tiny_models) == 2  # before any model is looked at
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '"model" must be mgie, ip2p or klein' in err[0]


def test_a_steered_instruction_on_a_klein_step_is_refused():
    with pytest.raises(InputError, match=r"step 1: a steered instruction needs MGIE.*FLUX\.2 \[klein\]"):
        parse_recipe(
            {"format": "mgie-recipe", "version": 1, "steps": [_step(steered_instruction="Blue.")]}, "s.json"
        )


def test_a_history_with_a_klein_step_saves_a_recipe_that_says_klein():
    history = History()
    history.start(Image.new("RGB", (64, 48)))
    klein_used = EditParams(seed=SEED, steps=4, text_guidance=1.0, image_guidance=1.0, pixel_budget=BUDGET)
    history.push(
        Image.new("RGB", (64, 48)), instruction="add snow", params=StepParams.edit(EditParams(seed=2))
    )
    history.push(
        Image.new("RGB", (64, 48)), instruction=WORDS, params=StepParams.edit(klein_used, StepKind.KLEIN)
    )
    data = recipe_from_history(history)
    history.close()
    assert [s["model"] for s in data["steps"]] == ["mgie", "klein"]
    assert (data["steps"][1]["steps"], data["steps"][1]["text_guidance"]) == (4, 1.0)
    recipe = parse_recipe(json.loads(json.dumps(data)))
    assert [s.model for s in recipe.steps] == ["mgie", "klein"] and recipe.steps[1].params == klein_used
    assert engines_of(recipe) == {"mgie", "klein"}


def test_a_review_cannot_steer_a_recipe_whose_last_edit_is_klein():
    recipe = parse_recipe({"format": "mgie-recipe", "version": 1, "steps": [_step()]})
    with pytest.raises(InputError, match=r"FLUX\.2 \[klein\]'s, which takes no expressive instruction"):
        check_rerender(recipe, Rerender(expressive="Bluer."))
    check_rerender(recipe, Rerender(seed=9))  # another seed is fine


def test_the_contact_sheet_says_which_engine_read_the_words():
    photo = BatchPhoto(
        "a.png",
        None,
        Path("a.png"),
        PhotoStatus.OK,
        expressive=("Snow.", ""),
        seeds=(1, 1),
        models=("mgie", "klein"),
    )
    said = [text for text, *_ in cell_lines(photo, ("add snow", WORDS))]
    assert said[1] == "add snow · MGIE: “Snow.”"
    assert said[2] == f"{WORDS} · FLUX.2 [klein] read the instruction itself (no expressive instruction)"
    older = BatchPhoto("b.png", None, Path("b.png"), PhotoStatus.OK, expressive=("",), seeds=(1,))
    assert "InstructPix2Pix read the instruction itself" in cell_lines(older, ("x",))[1][0]
    damaged = BatchPhoto.from_line(
        "c.png", None, {"status": "ok", "output": "c.png", "models": ["x"]}, UNDECIDED
    )
    assert damaged.status is PhotoStatus.FAILED


def test_a_klein_batch_on_a_local_ray_instance_gives_the_same_outputs(
    klein_batch, folder, klein_models, tmp_path, capsys
):
    ray = pytest.importorskip("ray")
    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = _batch(klein_batch["recipe"], folder, out, klein_models, "--ray")
    finally:
        ray.shutdown()
    assert code == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (summary["runner"], summary["done"], summary["failed"]) == ("ray", 2, 0)
    for name in ("frame0.png", "frame1.png"):
        with Image.open(out / name) as a, Image.open(klein_batch["out"] / name) as b:
            assert np.array_equal(_pixels(a), _pixels(b)), name
            assert json.loads(a.info["mgie:edit"])["steps"][0]["settings"]["model"] == "klein"
    assert sorted(line["models"] for line in _lines(out)) == [["klein"], ["klein"]]
