"""A guidance sweep: its grid and its hostile specs (core.sweep), one LLM pass rendering every cell
(engine.jobs), and ``edit --sweep`` (files, JSON, exit statuses); and ``edit``'s warning when a
result barely differs from its source."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from test_cli import run_cli

from mgie_desktop import cli
from mgie_desktop.core.errors import EditCancelled, InputError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.sweep import Sweep, Varies, around, cell_label, cell_suffix, parse_sweep

SMALL = EditParams(steps=2, pixel_budget=64 * 64, scheduler="euler")


# ---- the grid --------------------------------------------------------------------------------
def test_the_default_grids_sit_about_the_chosen_guidance():
    chosen = EditParams(text_guidance=7.5, image_guidance=1.5)
    assert around(chosen, Varies.TEXT) == Sweep((5.0, 7.5, 10.0), ())
    assert around(chosen, Varies.IMAGE) == Sweep((), (1.2, 1.5, 1.8))
    both = around(chosen, Varies.BOTH)
    assert (both.rows, both.columns) == (3, 3)
    # At the ends of a range the grid moves inward and keeps the chosen value.
    edge = around(EditParams(text_guidance=30.0, image_guidance=1.0), Varies.BOTH)
    assert edge.text == (13.3, 20.0, 30.0) and edge.image == (1.0, 1.3, 1.6)
    assert around(EditParams(image_guidance=10.0), Varies.IMAGE).image == (9.4, 9.7, 10.0)


def test_cells_are_rows_of_text_guidance_across_image_guidance():
    cells = Sweep((5.0, 10.0), (1.2, 1.5, 1.8)).cells(SMALL)
    assert [(c.text_guidance, c.image_guidance) for c in cells] == [
        (5.0, 1.2),
        (5.0, 1.5),
        (5.0, 1.8),
        (10.0, 1.2),
        (10.0, 1.5),
        (10.0, 1.8),
    ]
    assert all(c.seed == SMALL.seed and c.steps == SMALL.steps for c in cells)
    assert [c.image_guidance for c in Sweep((5.0,), ()).cells(SMALL)] == [SMALL.image_guidance]
    assert cell_label(cells[0]) == "text 5 · image 1.2" and cell_suffix(cells[0]) == "-t5-i1.2"


def test_a_spec_names_axes_values_or_the_default_grid():
    chosen = EditParams()
    assert parse_sweep("both", chosen) == around(chosen, Varies.BOTH)
    assert parse_sweep(" text = 5, 7.5 : image ", chosen) == Sweep((5.0, 7.5), (1.2, 1.5, 1.8))
    assert parse_sweep("image=1.2,1.5", chosen) == Sweep((), (1.2, 1.5))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "cannot read the sweep"),
        ("seeds", "cannot read the sweep"),
        ("text=nan", "finite"),
        ("image=inf", "finite"),
        ("text=1e400", "finite"),
        ("text=" + "9" * 5000, "finite"),
        ("text=31", "from 0 to 30"),
        ("image=0.5", "from 1 to 10"),
        ("text=five", "not a number"),
        ("text=1,2,3,4,5,6", "at most 5 text guidance values"),
        ("text=" + ",".join(["1"] * 1_000_000), "not 1000000"),
        ("text=1,2,3,4,5:image=1,2,3,4", "at most 16 cells"),
        ("text=5,5", "twice"),
        ("text=7.5,7.5000001", r"text guidance 7.5 is in the sweep twice \(to 2 decimals\)"),
        ("image=1.204,1.2", r"image guidance 1.2 is in the sweep twice \(to 2 decimals\)"),
        ("text=5:text=6", "twice"),
    ],
)
def test_a_hostile_spec_is_one_clear_line(spec, words):
    with pytest.raises(InputError, match=words) as refused:
        parse_sweep(spec, EditParams())
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 200


def test_values_are_rounded_to_two_decimals_so_every_cell_is_named_apart():
    sweep = parse_sweep("text=7.123, 7.5:image=1.456", EditParams())
    assert sweep == Sweep((7.12, 7.5), (1.46,))
    names = [cell_suffix(c) for c in sweep.cells(SMALL)]
    assert names == ["-t7.12-i1.46", "-t7.5-i1.46"]
    # Every way in rounds alike (the wire's sweep and the default grid are validated the same way).
    assert Sweep((7.4999999, 10.0), ()).validated() == Sweep((7.5, 10.0), ())
    with pytest.raises(InputError, match="twice"):
        Sweep((), (1.5, 1.5000001)).validated()


def test_a_job_sweeps_alone():
    image = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="alone"):
        EditJob(0, 0, 0, image, "x", SMALL, variations=2, sweep=Sweep((5.0,), ()))


# ---- the engine --------------------------------------------------------------------------------
def test_a_sweep_renders_each_cell_from_one_llm_pass(engine, photo, monkeypatch):
    from mgie_desktop.engine.jobs import GuideCache, run_job

    asked = []
    instruct = engine.instruct
    monkeypatch.setattr(engine, "instruct", lambda *a, **k: asked.append(a) or instruct(*a, **k))
    heard = []
    sweep = Sweep((5.0, 10.0), (1.2, 1.8))
    job = EditJob(0, 0, 0, photo, "make it warmer", SMALL, sweep=sweep)
    result = run_job(engine, job, GuideCache(), "k", lambda s, t, left, make: heard.append((s, t)))
    assert len(asked) == 1  # one LLM pass for four renders
    assert len(result.images) == 4 and result.params == sweep.cells(SMALL)
    assert result.seeds == [SMALL.seed] * 4 and result.models == ["mgie"] * 4
    assert heard == [(step, 8) for step in range(1, 9)]  # counted over every cell: the bar fills once
    guide = instruct(photo, "make it warmer")
    for image, cell in zip(result.images, result.params, strict=True):
        alone = engine.render(photo, guide.conditioning, cell)
        assert np.abs(np.asarray(image, np.int16) - np.asarray(alone, np.int16)).max() <= 1
    assert not np.array_equal(np.asarray(result.images[0]), np.asarray(result.images[3]))


def test_a_sweep_stops_between_cells_when_cancelled(engine, photo):
    import threading

    from mgie_desktop.engine.jobs import GuideCache, run_job

    cancel = threading.Event()

    def progress(step, total, _left, _make):
        if step == 2:  # the first cell's last step: the second cell never starts
            cancel.set()

    job = EditJob(0, 0, 0, photo, "make it warmer", SMALL, sweep=Sweep((5.0, 10.0), ()))
    with pytest.raises(EditCancelled):
        run_job(engine, job, GuideCache(), "k", progress, cancel)


def test_plain_variations_say_each_images_settings(engine, photo):
    from mgie_desktop.engine.jobs import GuideCache, run_job

    result = run_job(engine, EditJob(0, 0, 0, photo, "x", SMALL, variations=2), GuideCache(), "k")
    assert [p.seed for p in result.params] == result.seeds and result.params[0] == SMALL


# ---- the command line --------------------------------------------------------------------------
def test_edit_sweep_writes_each_cell_a_grid_and_says_them_in_json(tiny_models, photo_path, tmp_path):
    out = tmp_path / "out.png"
    done = run_cli(
        "edit",
        photo_path,
        "-i",
        "make it warmer",
        "--sweep",
        "text=5,10",
        "--steps",
        "1",
        "-o",
        out,
        "--models",
        tiny_models,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rows"], report["columns"]) == (2, 1)
    assert [c["label"] for c in report["cells"]] == ["text 5 · image 1.5", "text 10 · image 1.5"]
    assert [c["output"] for c in report["cells"]] == [
        str(tmp_path / "out-t5-i1.5.png"),
        str(tmp_path / "out-t10-i1.5.png"),
    ]
    assert [c["text_guidance"] for c in report["cells"]] == [5.0, 10.0]
    assert report["grid"] == str(tmp_path / "out-grid.png") and (tmp_path / "out-grid.png").is_file()
    assert not out.exists()  # each cell has its own name; nothing pretends to be the one result
    first = Image.open(tmp_path / "out-t5-i1.5.png")
    assert first.size == Image.open(photo_path).size
    record = json.loads(first.text["mgie:edit"])  # the cell's own settings in its edit record
    assert record["steps"][0]["settings"]["text_guidance"] == 5.0


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--sweep", "text=nan"], "finite"),
        (["--sweep", "text=7.5,7.5000001"], "text guidance 7.5 is in the sweep twice"),
        (["--sweep", "text=1,2,3,4,5:image=1,2,3,4,5"], "at most 16 cells"),
        (["--sweep", "both", "-i", "and brighter"], "just one"),
        (["--sweep", "both", "--mode", "both"], "not both"),
    ],
)
def test_edit_sweep_refuses_bad_input_with_exit_2_before_loading(photo_path, tmp_path, extra, words):
    done = run_cli("edit", photo_path, "-i", "make it warmer", "-o", tmp_path / "o.png", *extra)
    assert done.returncode == 2 and words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "o.png").exists()


class _Unchanging:
    """An engine that hands every photo back as it came: the failure MGIE sometimes has."""

    def __init__(self, *_args, **_kwargs):
        self.device, self.dtype, self.load_seconds, self.device_note = "cpu", "float32", 0.0, ""

    def memory_report(self) -> dict:
        return {}

    def edit(self, image, instruction, params, finish="detail", expressive=None, mask=None):
        said = SimpleNamespace(text="nothing changes", steered=False, emitted_image_tokens=True)
        timings = {"instruct_s": 0.0, "render_s": 0.0}
        return SimpleNamespace(image=image.copy(), instruction=said, working_size=image.size, timings=timings)

    def instruct(self, image, instruction, cancel=None):
        return SimpleNamespace(
            text="nothing changes", conditioning=None, seconds=0.0, steered=False, emitted_image_tokens=True
        )

    def render_variations(self, image, conditioning, params, seeds, *_args, **_kwargs):
        return [image.copy() for _ in seeds]


@pytest.fixture
def unchanging(monkeypatch):
    from mgie_desktop.engine import pipeline

    monkeypatch.setattr(pipeline, "MgieEngine", _Unchanging)


def test_edit_warns_when_its_result_is_its_source(unchanging, tiny_models, photo_path, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["edit", str(photo_path), "-i", "make it warmer", "-o", str(out), "--models", str(tiny_models)]
    assert cli.main(argv) == 0
    warned = capsys.readouterr().err.strip().splitlines()
    assert len(warned) == 1 and "'make it warmer' barely changed the photo" in warned[0]
    assert cli.main([*argv, "--json"]) == 0
    said = capsys.readouterr()
    report = json.loads(said.out)
    assert report["did_nothing"] is True and report["edits"][0]["did_nothing"] is True
    assert "barely" not in said.err  # --json says it in its key


def test_edit_sweep_warns_of_cells_that_changed_nothing(
    unchanging, tiny_models, photo_path, tmp_path, capsys
):
    out = tmp_path / "out.png"
    argv = [
        "edit",
        str(photo_path),
        "-i",
        "x",
        "-o",
        str(out),
        "--models",
        str(tiny_models),
        "--sweep",
        "image",
    ]
    assert cli.main(argv) == 0
    assert "3 of 3 cells barely changed the photo" in capsys.readouterr().err
    assert cli.main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["did_nothing"] is True and all(c["did_nothing"] for c in report["cells"])


def test_edit_says_nothing_of_a_real_change(tiny_models, photo_path, tmp_path):
    done = run_cli(
        "edit", photo_path, "-i", "make it warmer", "-o", tmp_path / "o.png", "--steps", "1",
        "--models", tiny_models, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["did_nothing"] is False and "barely" not in done.stderr
