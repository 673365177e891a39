"""Recipes and ``mgie-desktop batch`` on tiny models: a recipe made from a session edits a folder
as ``edit`` edits each photo; a stopped batch resumes without redoing anything; broken photos are
recorded and skipped; ``--ray`` on a local 2-CPU Ray instance gives the same outputs.

One batch (a dozen photos and a broken one, stopped by Ctrl+C after three, then resumed) is run
once for the module; the tests read what it left. Photos are 64x48 and the pixel budget 64x64,
so each edit takes a fraction of a second."""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from mgie_desktop.cli import main
from mgie_desktop.core import params as params_module
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.recipe import derived_seed, load_recipe, parse_recipe, read_recipe_data

CAPTION = "Shoot, frame 1"
INSTRUCTIONS = ("make it warmer", "add snow")
STEERED = "Snow covers everything."
PHOTOS = 12
STOP_AFTER = 3


def _photo(index: int) -> Image.Image:
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 3 + index * 9, y * 4 + index * 5, (x + y) * 2 + index * 13], axis=-1) % 256
    rgb[10 + index: 30, 20: 40 + index] = (250 - index * 10, 200, 40)
    return Image.fromarray(rgb.astype("uint8"), "RGB")


@pytest.fixture(scope="module")
def small_budget():
    """The draft preset at a 64x64 pixel budget, for edit and for the session (whose recipe then
    carries the budget to the batch)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(params_module.PRESETS, "draft", replace(params_module.PRESETS["draft"], pixel_budget=64 * 64))
        yield


@pytest.fixture(scope="module")
def shoot(tmp_path_factory, emitting_models, small_budget):
    """A folder of photos (the first a JPEG with an EXIF caption and an ICC profile, one broken
    file), a mask, and a recipe exported from the session ``edit`` made of the first photo."""
    root = tmp_path_factory.mktemp("shoot")
    photos = root / "in"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x010E] = CAPTION
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _photo(0).save(photos / "frame00.jpg", exif=exif, icc_profile=icc, quality=95)
    for index in range(1, PHOTOS):
        _photo(index).save(photos / f"frame{index:02d}.png")
    (photos / "frame99.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    mask = root / "mask.png"
    Image.new("L", (64, 48), 0).save(mask)
    with Image.open(mask) as m:
        m = m.copy()
    m.paste(255, (0, 0, 40, 48))
    m.save(mask)
    session, first = root / "look.mgie", root / "first.png"
    assert main(["edit", str(photos / "frame00.jpg"), *sum((["-i", t] for t in INSTRUCTIONS), []), "-e", STEERED,
                 "--mask", str(mask), "--preset", "draft", "--steps", "1", "--models", str(emitting_models),
                 "--device", "cpu", "--precision", "fp32", "-o", str(first), "--session", str(session)]) == 0
    recipe = root / "look.json"
    assert main(["recipe", "export", str(session), "-o", str(recipe), "--seed-policy", "file_name"]) == 0
    return {"root": root, "in": photos, "mask": mask, "session": session, "recipe": recipe, "icc": icc}


def _batch(shoot, models, out, *extra) -> int:
    return main(["batch", str(shoot["recipe"]), str(shoot["in"]), str(out), "--format", "png", "--models", str(models),
                 "--device", "cpu", "--precision", "fp32", "--json", *extra])


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def stopped_and_resumed(shoot, emitting_models, tmp_path_factory):
    """The batch stopped by Ctrl+C during its fourth photo's predecessor, then run again."""
    from mgie_desktop.batch.photo import PhotoEditor

    out = tmp_path_factory.mktemp("batch") / "out"
    edited, real_edit, stamps_taken = [], PhotoEditor.edit, []

    def edit(self, job, *args, **kwargs):
        edited.append(job.name)
        if len(edited) == STOP_AFTER and not stamps_taken:  # Ctrl+C while this photo is being edited
            os.kill(os.getpid(), signal.SIGINT)
        return real_edit(self, job, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PhotoEditor, "edit", edit)
        first_code = _batch(shoot, emitting_models, out)
        first_lines = _lines(out)
        first_edited, edited[:] = list(edited), []
        stamps = {line["output"]: os.stat(line["output"]).st_mtime_ns for line in first_lines}
        stamps_taken.append(True)
        second_code = _batch(shoot, emitting_models, out)
    return {"out": out, "codes": (first_code, second_code), "first": first_edited, "second": list(edited),
            "first_lines": first_lines, "stamps": stamps}


def test_a_recipe_round_trips_from_a_session(shoot, tmp_path):
    recipe = load_recipe(shoot["recipe"])
    assert [s.instruction for s in recipe.steps] == list(INSTRUCTIONS)
    assert recipe.steps[0].steered_instruction == STEERED and recipe.steps[1].steered_instruction == ""
    assert all(s.mask and s.seed_policy == "file_name" and s.preset == "custom" for s in recipe.steps)
    assert (recipe.steps[0].params.steps, recipe.steps[0].params.pixel_budget) == (1, 64 * 64)
    assert recipe.steps[0].params_for("frame07.png").seed == derived_seed("frame07.png") != derived_seed("frame08.png")
    assert derived_seed("a/b/frame07.png") == derived_seed("frame07.png") == 8680507204659810576  # fixed forever

    from mgie_desktop.core.masks import mask_from_text, read_mask

    assert mask_from_text(recipe.steps[0].mask).tobytes() == read_mask(shoot["mask"]).tobytes()
    fixed = tmp_path / "fixed.json"
    assert main(["recipe", "export", str(shoot["session"]), "-o", str(fixed)]) == 0
    assert [s.params.seed for s in load_recipe(fixed).steps] == [params_module.REFERENCE_SEED] * 2

    data = read_recipe_data(shoot["recipe"])
    for change, problem in (
        ({"version": 9}, "newer than this app"),
        ({"format": "other"}, "not an MGIE recipe"),
        ({"steps": []}, "no steps"),
        ({"steps": [{**data["steps"][0], "steps": "many"}]}, "step 1: \"steps\" has the wrong type"),
        ({"steps": [{**data["steps"][0], "seed": {"policy": "random"}}]}, "step 1: \"seed\" must be"),
        ({"steps": [data["steps"][0], {**data["steps"][1], "mask": "bm90IGEgcG5n"}]}, "step 2: a step's mask is damaged"),
        ({"steps": [{**data["steps"][0], "colour": "red"}]}, "unknown field(s) colour"),
        ({"steps": [{"kind": "geometry", "op": {"op": "crop", "fraction": [0.5, 0, 0.2, 1]}}]}, "step 1: a crop needs"),
    ):
        with pytest.raises(InputError, match=None) as caught:
            parse_recipe({**data, **change}, "bad.json")
        assert str(caught.value).startswith("Cannot use the recipe 'bad.json': ") and problem in str(caught.value)
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert main(["batch", str(broken), str(shoot["in"]), str(tmp_path / "o")]) == 2


def test_a_batch_gives_what_edit_gives_for_each_photo(shoot, stopped_and_resumed, emitting_engine, emitting_models,
                                                      tmp_path, monkeypatch):
    from mgie_desktop.engine import pipeline

    out = stopped_and_resumed["out"]
    # edit loads an engine per run: here they share one (the batch loaded its own).
    monkeypatch.setattr(pipeline, "MgieEngine", lambda *args, **kwargs: emitting_engine)
    for path in sorted(shoot["in"].glob("frame0*")) + sorted(shoot["in"].glob("frame1*")):
        if path.name == "frame99.jpg":
            continue
        alone = tmp_path / f"{path.stem}.png"
        assert main(["edit", str(path), *sum((["-i", t] for t in INSTRUCTIONS), []), "-e", STEERED, "--mask",
                     str(shoot["mask"]), "--preset", "draft", "--steps", "1", "--seed", str(derived_seed(path.name)),
                     "--models", str(emitting_models), "-o", str(alone), "--json"]) == 0
        with Image.open(alone) as a, Image.open(out / f"{path.stem}.png") as b:
            assert np.array_equal(np.asarray(a), np.asarray(b)), path.name
    with Image.open(out / "frame00.png") as im:  # the photo's EXIF and ICC profile, as an export keeps them
        assert im.getexif()[0x010E] == CAPTION and im.info["icc_profile"] == shoot["icc"]
        record = json.loads(im.info["mgie:edit"])
    assert [s["instruction"] for s in record["steps"]] == list(INSTRUCTIONS)
    assert record["steps"][0]["settings"]["seed"] == derived_seed("frame00.jpg")


def test_a_stopped_batch_resumes_without_redoing_anything(stopped_and_resumed):
    run = stopped_and_resumed
    assert run["codes"] == (130, 1)  # stopped; then done, one photo failed
    assert run["first"] == ["frame00.jpg", "frame01.png", "frame02.png"]  # the third finished, then it stopped
    assert [line["photo"] for line in run["first_lines"]] == run["first"]
    assert not set(run["second"]) & set(run["first"]) and len(run["second"]) == PHOTOS + 1 - STOP_AFTER
    for output, stamp in run["stamps"].items():
        assert os.stat(output).st_mtime_ns == stamp  # untouched by the second run
    lines = _lines(run["out"])
    assert len(lines) == PHOTOS + 1 and all(line["seconds"] > 0 for line in lines if line["status"] == "ok")
    assert all(len(line["expressive_instructions"]) == 2 for line in lines if line["status"] == "ok")


def test_a_broken_photo_is_recorded_and_skipped(shoot, stopped_and_resumed, emitting_models, capsys):
    out = stopped_and_resumed["out"]
    broken = [line for line in _lines(out) if line["status"] != "ok"]
    assert [line["photo"] for line in broken] == ["frame99.jpg"] and "frame99.jpg" in broken[0]["error"]
    assert not (out / "frame99.png").exists() and len(list(out.glob("frame*.png"))) == PHOTOS
    capsys.readouterr()
    # A third run edits nothing finished: only the broken photo is tried again (and fails again).
    assert _batch(shoot, emitting_models, out) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["skipped"], summary["done"], summary["failed"]) == (PHOTOS, 0, 1)
    assert summary["failures"][0]["photo"] == "frame99.jpg"


def test_batch_on_a_local_ray_instance_gives_the_same_outputs(shoot, stopped_and_resumed, emitting_models, tmp_path,
                                                               capsys):
    ray = pytest.importorskip("ray")
    few = tmp_path / "few"
    few.mkdir()
    for name in ("frame00.jpg", "frame05.png", "frame99.jpg"):
        shutil.copy(shoot["in"] / name, few / name)
    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = main(["batch", str(shoot["recipe"]), str(few), str(out), "--format", "png", "--models",
                     str(emitting_models), "--device", "cpu", "--precision", "fp32", "--ray", "--json"])
    finally:
        ray.shutdown()
    assert code == 1
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (summary["runner"], summary["done"], summary["failed"]) == ("ray", 2, 1)
    for name in ("frame00.png", "frame05.png"):
        with Image.open(out / name) as a, Image.open(stopped_and_resumed["out"] / name) as b:
            assert np.array_equal(np.asarray(a), np.asarray(b)), name
            assert a.info.get("icc_profile") == b.info.get("icc_profile")
    assert {line["photo"]: line["status"] for line in _lines(out)} == {
        "frame00.jpg": "ok", "frame05.png": "ok", "frame99.jpg": "failed"}
    # The same resume rules: nothing finished is done again (Ray is not even started).
    assert main(["batch", str(shoot["recipe"]), str(few), str(out), "--format", "png", "--models",
                 str(emitting_models), "--ray", "--json"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["skipped"] == 2


def test_ray_missing_says_how_to_install_it(shoot, tmp_path, monkeypatch, capsys):
    from mgie_desktop.batch import on_ray

    monkeypatch.setattr(on_ray, "ray_available", lambda: False)
    assert main(["batch", str(shoot["recipe"]), str(shoot["in"]), str(tmp_path / "o"), "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'mgie-desktop[cluster]'" in err[0]
