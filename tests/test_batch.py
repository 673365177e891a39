"""Recipes and ``mgie-desktop batch`` on tiny models: a recipe made from a session edits a folder
as ``edit`` edits each photo; a stopped batch resumes without redoing anything; broken photos are
recorded and skipped; ``--ray`` on a local 2-CPU Ray instance gives the same outputs.

One batch (a dozen photos and a broken one, stopped by Ctrl+C after three, then resumed) is run
once for the module; the tests read what it left. Photos are 64x48 and the pixel budget 64x64,
so each edit takes a fraction of a second."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
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
    rgb[10 + index : 30, 20 : 40 + index] = (250 - index * 10, 200, 40)
    return Image.fromarray(rgb.astype("uint8"), "RGB")


@pytest.fixture(scope="module")
def small_budget():
    """The draft preset at a 64x64 pixel budget, for edit and for the session (whose recipe then
    carries the budget to the batch)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            params_module.PRESETS, "draft", replace(params_module.PRESETS["draft"], pixel_budget=64 * 64)
        )
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
    assert (
        main(
            [
                "edit",
                str(photos / "frame00.jpg"),
                *sum((["-i", t] for t in INSTRUCTIONS), []),
                "-e",
                STEERED,
                "--mask",
                str(mask),
                "--preset",
                "draft",
                "--steps",
                "1",
                "--models",
                str(emitting_models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "-o",
                str(first),
                "--session",
                str(session),
            ]
        )
        == 0
    )
    recipe = root / "look.json"
    assert main(["recipe", "export", str(session), "-o", str(recipe), "--seed-policy", "file_name"]) == 0
    return {"root": root, "in": photos, "mask": mask, "session": session, "recipe": recipe, "icc": icc}


def _batch(shoot, models, out, *extra) -> int:
    return main(
        [
            "batch",
            str(shoot["recipe"]),
            str(shoot["in"]),
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
    return {
        "out": out,
        "codes": (first_code, second_code),
        "first": first_edited,
        "second": list(edited),
        "first_lines": first_lines,
        "stamps": stamps,
    }


def test_a_recipe_round_trips_from_a_session(shoot, tmp_path):
    recipe = load_recipe(shoot["recipe"])
    assert [s.instruction for s in recipe.steps] == list(INSTRUCTIONS)
    assert recipe.steps[0].steered_instruction == STEERED and recipe.steps[1].steered_instruction == ""
    assert all(s.mask and s.seed_policy == "file_name" and s.preset == "custom" for s in recipe.steps)
    assert (recipe.steps[0].params.steps, recipe.steps[0].params.pixel_budget) == (1, 64 * 64)
    assert (
        recipe.steps[0].params_for("frame07.png").seed
        == derived_seed("frame07.png")
        != derived_seed("frame08.png")
    )
    assert (
        derived_seed("a/b/frame07.png") == derived_seed("frame07.png") == 8680507204659810576
    )  # fixed forever

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
        ({"steps": [{**data["steps"][0], "steps": "many"}]}, 'step 1: "steps" has the wrong type'),
        ({"steps": [{**data["steps"][0], "seed": {"policy": "random"}}]}, 'step 1: "seed" must be'),
        (
            {"steps": [data["steps"][0], {**data["steps"][1], "mask": "bm90IGEgcG5n"}]},
            "step 2: a step's mask is damaged",
        ),
        ({"steps": [{**data["steps"][0], "colour": "red"}]}, "unknown field(s) colour"),
        (
            {"steps": [{"kind": "geometry", "op": {"op": "crop", "fraction": [0.5, 0, 0.2, 1]}}]},
            "step 1: a crop needs",
        ),
    ):
        with pytest.raises(InputError, match=None) as caught:
            parse_recipe({**data, **change}, "bad.json")
        assert str(caught.value).startswith("cannot use the recipe 'bad.json': ") and problem in str(
            caught.value
        )
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert main(["batch", str(broken), str(shoot["in"]), str(tmp_path / "o")]) == 2


def test_a_batch_gives_what_edit_gives_for_each_photo(
    shoot, stopped_and_resumed, emitting_engine, emitting_models, tmp_path, monkeypatch
):
    from mgie_desktop.engine import pipeline

    out = stopped_and_resumed["out"]
    # edit loads an engine per run: here they share one (the batch loaded its own).
    monkeypatch.setattr(pipeline, "MgieEngine", lambda *args, **kwargs: emitting_engine)
    for path in sorted(shoot["in"].glob("frame0*")) + sorted(shoot["in"].glob("frame1*")):
        if path.name == "frame99.jpg":
            continue
        alone = tmp_path / f"{path.stem}.png"
        assert (
            main(
                [
                    "edit",
                    str(path),
                    *sum((["-i", t] for t in INSTRUCTIONS), []),
                    "-e",
                    STEERED,
                    "--mask",
                    str(shoot["mask"]),
                    "--preset",
                    "draft",
                    "--steps",
                    "1",
                    "--seed",
                    str(derived_seed(path.name)),
                    "--models",
                    str(emitting_models),
                    "-o",
                    str(alone),
                    "--json",
                ]
            )
            == 0
        )
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
    assert run["first"] == [
        "frame00.jpg",
        "frame01.png",
        "frame02.png",
    ]  # the third finished, then it stopped
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


def test_batch_on_a_local_ray_instance_gives_the_same_outputs(
    shoot, stopped_and_resumed, emitting_models, tmp_path, capsys
):
    ray = pytest.importorskip("ray")
    few = tmp_path / "few"
    few.mkdir()
    for name in ("frame00.jpg", "frame05.png", "frame99.jpg"):
        shutil.copy(shoot["in"] / name, few / name)
    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = main(
            [
                "batch",
                str(shoot["recipe"]),
                str(few),
                str(out),
                "--format",
                "png",
                "--models",
                str(emitting_models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--ray",
                "--json",
            ]
        )
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
        "frame00.jpg": "ok",
        "frame05.png": "ok",
        "frame99.jpg": "failed",
    }
    # The same resume rules: nothing finished is done again (Ray is not even started).
    assert (
        main(
            [
                "batch",
                str(shoot["recipe"]),
                str(few),
                str(out),
                "--format",
                "png",
                "--models",
                str(emitting_models),
                "--ray",
                "--json",
            ]
        )
        == 1
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["skipped"] == 2


def test_ray_missing_says_how_to_install_it(shoot, tmp_path, monkeypatch, capsys):
    from mgie_desktop.batch import on_ray

    monkeypatch.setattr(on_ray, "ray_available", lambda: False)
    assert main(["batch", str(shoot["recipe"]), str(shoot["in"]), str(tmp_path / "o"), "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'mgie-desktop[cluster]'" in err[0]


# ---- hostile and odd surroundings (issue 25, item 8): a clear line and exit 2, nothing lost


def _few(shoot, tmp_path, *names: str) -> Path:
    few = tmp_path / "few"
    few.mkdir()
    for name in names:
        shutil.copy(shoot["in"] / name, few / name)
    return few


def _run(shoot, few, models, out) -> int:
    return main(
        [
            "batch",
            str(shoot["recipe"]),
            str(few),
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
        ]
    )


def _count_engines(monkeypatch) -> list:
    """Every PhotoEditor made (each one loads the models)."""
    from mgie_desktop.batch.photo import PhotoEditor

    made, real_init = [], PhotoEditor.__init__

    def init(self, *args, **kwargs):
        made.append(True)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(PhotoEditor, "__init__", init)
    return made


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_full_disk_under_the_results_file_is_one_line_and_exit_2(
    shoot, emitting_models, tmp_path, monkeypatch, capsys
):
    few, out = _few(shoot, tmp_path, "frame00.jpg", "frame05.png"), tmp_path / "out"
    real_write = os.write

    def write(fd, data):  # the second photo's line: half of it goes down, then the disk is full
        if bytes(data).startswith(b'{"photo": "frame05.png"'):
            return real_write(fd, bytes(data)[: len(data) // 2])
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    assert _run(shoot, few, emitting_models, out) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]  # after the progress lines
    assert "Traceback" not in err and line.startswith("mgie-desktop: ")
    assert str(out / "results.jsonl") in line and "the disk is full" in line
    # The first photo's line stays whole; the half line is taken back, so the next line is not swallowed.
    assert [entry["photo"] for entry in _lines(out)] == ["frame00.jpg"]
    assert (out / "results.jsonl").read_bytes().endswith(b"\n")


def _edits(monkeypatch) -> list:
    """The name of every photo rendered (each render can take minutes on a real photo)."""
    from mgie_desktop.batch.photo import PhotoEditor

    rendered, real_edit = [], PhotoEditor._edit

    def edit(self, job, *args, **kwargs):
        rendered.append(job.name)
        return real_edit(self, job, *args, **kwargs)

    monkeypatch.setattr(PhotoEditor, "_edit", edit)
    return rendered


@pytest.mark.parametrize("how", ["writer", "rename"])
def test_a_full_disk_under_the_outputs_stops_the_batch_at_the_first_photo_it_refuses(
    shoot, emitting_models, tmp_path, monkeypatch, capsys, how
):
    from mgie_desktop.core import imaging

    few, out = _few(shoot, tmp_path, "frame00.jpg", "frame05.png", "frame07.png"), tmp_path / "out"
    if how == "writer":  # the writer itself says so
        real_save = imaging.save_photo

        def save_photo(image, path, **kwargs):
            if Path(path).name != "frame00.png":
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            real_save(image, path, **kwargs)

        monkeypatch.setattr(imaging, "save_photo", save_photo)
    else:  # deeper down, over quota: core.files.atomic_write turns it into its InputError
        real_replace = os.replace

        def replace_(src, dst, *args, **kwargs):
            if Path(dst).parent == out and Path(dst).name != "frame00.png":
                raise OSError(errno.EDQUOT, "Disk quota exceeded", str(dst))
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace_)
    rendered = _edits(monkeypatch)
    assert _run(shoot, few, emitting_models, out) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]  # after the progress lines
    assert "Traceback" not in err and line.startswith("mgie-desktop: ") and "frame05.png" in line, err
    assert ("disk is full" if how == "writer" else "quota") in line and "rerun" in line, line
    # The room: what is free (a quota's is not the disk's), what the 2 photos left need, at frame00's size.
    need = -(-2 * (out / "frame00.png").stat().st_size // 1024)
    assert f"the 2 photo(s) left need about {need} KB" in line and (" free; " in line) == (how == "writer"), (
        line
    )
    assert rendered == ["frame00.jpg", "frame05.png"]  # frame07 is not rendered only to fail the same way
    # What was done is kept and recorded; the refused photo has no line, so a rerun does it.
    assert [(e["photo"], e["status"]) for e in _lines(out)] == [("frame00.jpg", "ok")]
    assert sorted(p.name for p in out.iterdir()) == [
        "frame00.png",
        "results.jsonl",
    ]  # no marker, no temporary
    monkeypatch.undo()  # space was freed
    assert _run(shoot, few, emitting_models, out) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["skipped"], summary["done"], summary["failed"]) == (1, 2, 0)


def test_a_read_only_results_file_is_refused_before_the_models_load(
    shoot, emitting_models, tmp_path, monkeypatch, capsys
):
    few, out = _few(shoot, tmp_path, "frame00.jpg"), tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text("")
    real_open, results = os.open, str(out / "results.jsonl")

    def open_(path, flags, *args, **kwargs):
        if str(path) == results and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    made = _count_engines(monkeypatch)
    assert _run(shoot, few, emitting_models, out) == 2
    line = _one_line(capsys.readouterr().err)
    assert results in line and "read-only" in line and not made


def test_an_unwritable_output_folder_is_refused_before_any_render(
    shoot, emitting_models, tmp_path, monkeypatch, capsys
):
    import tempfile

    few, out = _few(shoot, tmp_path, "frame00.jpg"), tmp_path / "out"
    out.mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 (tempfile's own name)
        if dir is not None and Path(dir) == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    made = _count_engines(monkeypatch)
    assert _run(shoot, few, emitting_models, out) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"output folder {out}" in line and "permission denied" in line and not made


def test_a_torn_last_line_is_repaired_on_resume(shoot, emitting_models, tmp_path, capsys):
    few, out = _few(shoot, tmp_path, "frame00.jpg", "frame05.png", "frame07.png"), tmp_path / "out"
    assert _run(shoot, few, emitting_models, out) == 0
    results = out / "results.jsonl"
    whole = results.read_bytes().splitlines(keepends=True)
    # Killed while writing the last line: half of it on disk.
    results.write_bytes(whole[0] + whole[1] + whole[2][: len(whole[2]) // 2])
    capsys.readouterr()
    assert _run(shoot, few, emitting_models, out) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 1  # frame07 again: its line was torn
    assert [entry["photo"] for entry in _lines(out)] == ["frame00.jpg", "frame05.png", "frame07.png"]
    results.write_bytes(results.read_bytes()[:-1])  # the newline alone lost: the line is whole, kept
    assert _run(shoot, few, emitting_models, out) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 3
    assert len(_lines(out)) == 3 and results.read_bytes().endswith(b"\n")


def test_leftovers_of_a_crash_are_cleaned_and_the_folder_is_fsynced(
    shoot, emitting_models, tmp_path, monkeypatch
):
    few, out = _few(shoot, tmp_path, "frame00.jpg", "frame05.png"), tmp_path / "out"
    out.mkdir()
    leftover = out / ".frame00.png.k2j_8xq1.tmp"  # core.files.atomic_write's temporary, its rename never done
    leftover.write_bytes(b"half a PNG")
    marker = out / ".frame05.png.editing"  # a kill mid-edit: this run tries the photo again all the same
    marker.touch()
    strangers = [out / ".notes.txt.abcdefgh.tmp", out / "frame00.png.tmp", out / "mine.tmp"]
    for path in strangers:
        path.write_bytes(b"not ours")
    real_fsync, folder_syncs = os.fsync, []

    def fsync(fd):
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode) and st.st_ino == out.stat().st_ino:
            folder_syncs.append(sorted(p.name for p in out.glob("frame*.png")))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert _run(shoot, few, emitting_models, out) == 0
    assert not leftover.exists() and not marker.exists() and all(path.exists() for path in strangers)
    # After each rename, the folder: else a power cut can lose an output its results line calls done.
    assert ["frame00.png"] in folder_syncs and ["frame00.png", "frame05.png"] in folder_syncs


def test_json_gives_no_rate_when_no_photo_was_done(shoot, emitting_models, tmp_path, capsys):
    few, out = _few(shoot, tmp_path, "frame99.jpg"), tmp_path / "out"
    assert _run(shoot, few, emitting_models, out) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], summary["photos_per_minute"]) == (0, 1, None)


def test_on_ray_a_photo_that_kills_its_worker_is_not_edited_again(shoot, emitting_models, tmp_path, capsys):
    """A worker dies editing a photo (as an out-of-memory kill does): Ray restarts it, and the
    restart edits the other photos and records that one as failed, not editing it again (which
    would kill it again, reload the models and so on). And a results file that fills the disk in a
    worker ends the batch with one line, as it does locally."""
    ray = pytest.importorskip("ray")
    few, out, flags = (
        _few(shoot, tmp_path, "frame00.jpg", "frame05.png", "frame07.png"),
        tmp_path / "out",
        tmp_path,
    )
    loads = flags / "loads"

    def in_each_worker():  # runs in every Ray worker process as it starts
        import errno as errors
        import os as system

        from mgie_desktop.batch import photo, results

        real_init, real_edit, real_write = (
            photo.PhotoEditor.__init__,
            photo.PhotoEditor._edit,
            results._write_whole,
        )

        def init(self, *args, **kwargs):
            with open(loads, "a") as fh:
                fh.write("load\n")
            real_init(self, *args, **kwargs)

        def edit(self, job, *args, **kwargs):  # the render, once the photo is read
            if (
                job.name == "frame05.png"
                and len(loads.read_text().split()) < 4
                and not (flags / "full").exists()
            ):
                system._exit(1)
            return real_edit(self, job, *args, **kwargs)

        def write_whole(fd, data):
            if (flags / "full").exists():
                raise OSError(errors.ENOSPC, "No space left on device")
            real_write(fd, data)

        photo.PhotoEditor.__init__, photo.PhotoEditor._edit, results._write_whole = init, edit, write_whole

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": in_each_worker},
    )
    try:
        code = main(
            [
                "batch",
                str(shoot["recipe"]),
                str(few),
                str(out),
                "--format",
                "png",
                "--models",
                str(emitting_models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--ray",
                "--json",
            ]
        )
        summary = json.loads(capsys.readouterr().out.splitlines()[-1])
        engines = len(loads.read_text().split())  # 4 at most: the old code went on until then
        (flags / "full").touch()
        (out / "frame07.png").unlink()
        full_code = main(
            [
                "batch",
                str(shoot["recipe"]),
                str(few),
                str(out),
                "--format",
                "png",
                "--models",
                str(emitting_models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--ray",
                "--json",
            ]
        )
        err = capsys.readouterr().err
    finally:
        ray.shutdown()
    assert code == 1 and (summary["done"], summary["failed"]) == (2, 1)
    assert engines == 2  # the first actor, and its one restart
    failed = {line["photo"]: line["error"] for line in _lines(out) if line["status"] != "ok"}
    assert list(failed) == ["frame05.png"] and "stopped while editing it" in failed["frame05.png"]
    assert not list(out.glob(".*"))  # no marker, no temporary left
    assert full_code == 2 and "Traceback" not in err
    assert (
        err.strip().splitlines()[-1]
        == f"mgie-desktop: cannot write the results file {out / 'results.jsonl'}: "
        "the disk is full"
    )


def test_on_ray_a_full_disk_reaches_the_driver_with_what_it_needs():
    """A worker's OutputDiskFull crosses to the driver as a row (a raised one would be a Ray
    traceback) and is rebuilt there whole, so the driver's line says the room the rest need."""
    from mgie_desktop.batch import on_ray
    from mgie_desktop.batch.space import OutputDiskFull

    class FullDisk:
        def edit(self, job, **_kwargs):
            raise OutputDiskFull(job.name, job.output, True, 1234)

    actor = on_ray._Editor.__new__(on_ray._Editor)  # no models: the editor is the stand-in
    actor.editor = FullDisk()
    batch = {
        "name": np.array(["a.jpg"]),
        "path": np.array(["/in/a.jpg"]),
        "output": np.array(["/out/a.png"]),
        "clash": np.array([""]),
        "photo": np.array([b""], dtype=object),
        "error": np.array([""]),
        "read_s": np.array([0.0]),
    }
    row = json.loads(actor(batch)["entry"][0])
    again = OutputDiskFull.from_row(row[on_ray.DISK_FULL])
    assert (again.photo, again.output, again.quota, again.estimate) == ("a.jpg", "/out/a.png", True, 1234)
    assert (
        row[on_ray.FATAL]
        == str(again)
        == "stopped at a.jpg: cannot write /out/a.png: the disk quota is used up"
    )


# ---- on Ray: any failure of a photo's task is one line, that photo's, and the batch goes on


class RayTaskErrorStub(Exception):
    """Shaped as ray.exceptions.RayTaskError (without importing Ray): the original as ``cause``,
    the worker's traceback in the text."""

    def __init__(self, cause: BaseException, text: str = ""):
        super().__init__(
            text
            or f"\x1b[36mray::MapWorker(MapBatches(_Editor)).submit()\x1b[39m (pid=7, ip=10.0.0.2)\n"
            f'  File "on_ray.py", line 75, in __call__\n{type(cause).__name__}: {cause}'
        )
        self.cause = cause


# Ray Data's shape: the cause is its own generic UserCodeException; the original is in the text.
RAY_DATA_TEXT = (
    "\x1b[36mray::MapWorker(MapBatches(_Editor)).submit()\x1b[39m (pid=13194, ip=192.0.2.2)\n"
    '  File "/work/mgie_desktop/batch/on_ray.py", line 75, in __call__\n'
    "    entry = self.editor.edit(job, photo=photo)\n"
    "_pickle.UnpicklingError: invalid load key, 'n'.\n\n"
    "The above exception was the direct cause of the following exception:\n\n"
    "\x1b[36mray::MapWorker(MapBatches(_Editor)).submit()\x1b[39m (pid=13194, ip=192.0.2.2)\n"
    "ray.exceptions.UserCodeException: UDF failed to process a data block.\n"
    "Failed to apply UDF transform after 1/1 attempts (total backoff 0.0s)."
)


# An engine that cannot start on a node (the driver's error: no photo to pin it on, the batch stops).
ACTOR_DIED_TEXT = (
    "The actor died because of an error raised in its creation task, \x1b[36mray::MapWorker("
    "MapBatches(_Editor)).__init__()\x1b[39m (pid=14992, ip=192.0.2.2)\n"
    '  File "/work/mgie_desktop/batch/on_ray.py", line 64, in __init__\n'
    "    self.editor = PhotoEditor(recipe_data, models_dir, fmt, results_path, engine_options)\n"
    "RuntimeError: no torch on this node"
)


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (RayTaskErrorStub(ValueError("the photo's pixels are 0x0")), "the photo's pixels are 0x0"),
        (
            RayTaskErrorStub(RayTaskErrorStub(OSError("the shared folder went away"))),
            "the shared folder went away",
        ),
        (
            RayTaskErrorStub(Exception("UDF failed to process a data block."), RAY_DATA_TEXT),
            "invalid load key, 'n'.",
        ),
        (RayTaskErrorStub(Exception("actor died"), ACTOR_DIED_TEXT), "no torch on this node"),
        (RuntimeError("first line\nsecond line"), "first line"),
        (InputError("cannot save 'a.png': the disk is full"), "cannot save 'a.png': the disk is full"),
        (KeyError(), "KeyError"),
    ],
)
def test_a_failure_on_ray_is_told_by_its_cause_in_one_line(exc, line):
    from mgie_desktop.batch.failure import failure_text

    assert failure_text(exc) == line


def test_on_ray_a_photo_whose_task_fails_is_recorded_and_the_next_one_edited(tmp_path):
    """A failure outside the photo's own edit (its pickled photo unreadable on this node, or
    anything raised around the edit) was raised out of the actor: Ray Data then ended the whole
    batch with its traceback. Now it is that photo's results line, and the batch goes on."""
    from mgie_desktop.batch import on_ray
    from mgie_desktop.batch.photo import PhotoEditor
    from mgie_desktop.batch.results import recipe_digest

    editor = PhotoEditor.__new__(PhotoEditor)  # no models: no photo here gets as far as a render
    editor.digest, editor.results_path = recipe_digest({}, "png"), tmp_path / "results.jsonl"
    real_edit = PhotoEditor.edit

    def edit(job, **kwargs):
        if job.name == "b.jpg":
            raise RayTaskErrorStub(ValueError("the node cannot decode b.jpg"))
        return real_edit(editor, job, **kwargs)

    editor.edit = edit
    actor = on_ray._Editor.__new__(on_ray._Editor)
    actor.editor = editor
    names = ["a.jpg", "b.jpg", "c.jpg"]
    batch = {
        "name": np.array(names),
        "path": np.array([f"/in/{n}" for n in names]),
        "output": np.array([str(tmp_path / n.replace(".jpg", ".png")) for n in names]),
        "clash": np.array(["", "", ""]),
        "photo": np.array([b"not a pickle", b"", b""], dtype=object),
        "error": np.array(["", "", "cannot read c.jpg: not a photo"]),
        "read_s": np.array([0.0, 0.0, 0.0]),
    }
    rows = [json.loads(line) for line in actor(batch)["entry"]]
    assert [(r["photo"], r["status"]) for r in rows] == [
        ("a.jpg", "failed"),
        ("b.jpg", "failed"),
        ("c.jpg", "failed"),
    ]
    errors = [r["error"] for r in rows]
    assert errors[1:] == ["the node cannot decode b.jpg", "cannot read c.jpg: not a photo"]
    assert "load key" in errors[0] and all("\n" not in e for e in errors)
    assert [line["photo"] for line in _lines(tmp_path)] == names  # recorded: a rerun tries them again
    assert not list(tmp_path.glob(".*.editing"))


def test_on_ray_a_failure_raised_around_the_edit_is_that_photos_and_the_batch_goes_on(
    shoot, emitting_models, tmp_path, capsys
):
    ray = pytest.importorskip("ray")
    few, out = _few(shoot, tmp_path, "frame00.jpg", "frame05.png", "frame07.png"), tmp_path / "out"

    def in_each_worker():  # runs in every Ray worker process as it starts
        from mgie_desktop.batch import photo

        real_edit = photo.PhotoEditor.edit

        def edit(self, job, *args, **kwargs):
            if job.name == "frame05.png":
                raise RuntimeError("this node cannot edit frame05.png")
            return real_edit(self, job, *args, **kwargs)

        photo.PhotoEditor.edit = edit

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": in_each_worker},
    )
    capsys.readouterr()  # Ray's own start-up notes (a handler an earlier Ray test left may fail to write)
    try:
        code = main(
            [
                "batch",
                str(shoot["recipe"]),
                str(few),
                str(out),
                "--format",
                "png",
                "--models",
                str(emitting_models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--ray",
                "--json",
            ]
        )
    finally:
        ray.shutdown()
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err + captured.out, (
        captured.err
    )  # was Ray's; the batch ended
    summary = json.loads(captured.out.splitlines()[-1])
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert summary["failures"] == [{"photo": "frame05.png", "error": "this node cannot edit frame05.png"}]
    assert {line["photo"]: line["status"] for line in _lines(out)} == {
        "frame00.jpg": "ok",
        "frame05.png": "failed",
        "frame07.png": "ok",
    }
