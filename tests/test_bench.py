"""`mgie-desktop bench`: the reference path against ours in one run, and the JSON contract."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from mgie_desktop.core.errors import InputError
from mgie_desktop.testing.random_models import SMALL

TINY_RUN = {"side": 64, "load_unet": SMALL.unet}


def test_tiny_bench_times_both_paths_and_loads_a_unet_both_ways():
    from mgie_desktop.testing import engine_bench as bench

    messages = []
    report = bench.run("cpu", Image.new("RGB", (80, 60), "teal"), messages.append, size="tiny", **TINY_RUN)
    edit, load = report["edit"], report["load"]
    assert report["device"] == "cpu" and report["size"] == "tiny"
    assert edit["reference_steps"] == 100 and edit["default_steps"] == 25
    assert edit["speedup"] == pytest.approx(edit["reference_s"] / edit["default_s"])
    assert edit["default"]["tokens"] > 0
    assert load["speedup"] == pytest.approx(load["reference_s"] / load["bundle_s"])
    assert "UNet" in load["what"] and any("both ways" in m for m in messages)
    assert (
        report["low_memory"]["peak_gpu_reserved_mb"] is None
    )  # the 8 GB check needs full-size models on a GPU


def test_bench_on_installed_models_lets_the_reference_write_as_many_tokens_as_ours(
    emitting_models, tmp_path, monkeypatch
):
    from mgie_desktop.testing import engine_bench as bench
    from mgie_desktop.testing.reference_path import ReferencePath

    models = tmp_path / "models"
    shutil.copytree(emitting_models / "bundle", models / "bundle")
    asked = []
    real_edit = ReferencePath.edit
    monkeypatch.setattr(ReferencePath, "edit", lambda self, *a: asked.append(a[-1]) or real_edit(self, *a))
    report = bench.run(
        "cpu", Image.new("RGB", (80, 60), "teal"), lambda msg: None, models_dir=models, side=64
    )
    ours = report["edit"]["default"]["tokens"]
    assert ours < 96 and asked == [
        ours + 1,
        ours + 1,
    ]  # warm-up and timed run; the reference ran one token on
    assert report["size"] == "installed" and "UNet" in report["load"]["what"]
    assert not (models / "sources").exists()  # the freed-sources case: the bundle's UNet was pickled aside


def test_bench_json_has_the_keys_other_tools_read(capsys):
    from mgie_desktop.benchmark.run import run

    assert run("tiny", "cpu", True, history_edits=2, **TINY_RUN) == 0
    report = json.loads(capsys.readouterr().out)
    for key in (
        "edit.reference_s",
        "edit.default_s",
        "edit.speedup",
        "load.speedup",
        "window.ratio",
        "ui.max_stall_ms",
    ):
        node = report
        for part in key.split("."):
            node = node[part]
        assert isinstance(node, float) and node > 0, key
    assert report["device"] == "cpu"
    assert set(report["targets"]) >= {"edit.speedup", "load.speedup", "window.ratio", "ui.max_stall_ms"}
    measured = {key: t for key, t in report["targets"].items() if key != "low_memory.peak_gpu_reserved_mb"}
    assert all(isinstance(t["met"], bool) for t in measured.values())
    assert report["targets"]["low_memory.peak_gpu_reserved_mb"]["met"] is None  # not measurable without a GPU


def test_bench_refuses_full_size_together_with_installed_models(tmp_path, capsys):
    from mgie_desktop.cli import main

    assert main(["bench", "--size", "full", "--models", str(tmp_path), "--device", "cuda"]) == 2
    assert "--models" in capsys.readouterr().err


def test_bench_engine_is_for_the_full_size_cpu_report_and_reaches_it(monkeypatch, capsys):
    from mgie_desktop.benchmark import run
    from mgie_desktop.cli import main

    assert main(["bench", "--engine", "klein"]) == 2 and "--size full --device cpu" in capsys.readouterr().err
    asked = []
    monkeypatch.setattr(run, "run_full_cpu", lambda as_json, work, **options: asked.append(options) or 0)
    assert main(["bench", "--size", "full", "--device", "cpu", "--engine", "klein"]) == 0
    assert main(["bench", "--size", "full", "--device", "cpu"]) == 0
    assert asked == [{"parts": ("klein",)}, {"parts": ("mgie", "klein")}]


def test_bench_without_pyside6_skips_the_window_measures_and_says_so(monkeypatch, capsys):
    """A headless GPU server has no Qt: the engine measures still run, the UI ones say why not."""
    import importlib.util

    from mgie_desktop.benchmark import run as bench_run

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "PySide6" else real_find_spec(name, *a)
    )
    assert bench_run.run("tiny", "cpu", False, history_edits=1, **TINY_RUN) == 0
    text = capsys.readouterr().out
    assert "speedup" in text and "PySide6 is not installed" in text
    assert "n/a  window.ratio = not measured" in text and "n/a  ui.max_stall_ms = not measured" in text
    assert "edit.speedup = " in text and "load.speedup = " in text


def test_measures_needing_a_fresh_python_say_why_they_were_not_made(monkeypatch):
    import sys

    from mgie_desktop.benchmark.fresh_python import NotMeasurable, run_script

    with pytest.raises(NotMeasurable, match="failed.*ZeroDivisionError"):
        run_script("1 / 0", timeout=60)
    assert run_script("print('ok')", timeout=60).strip() == "ok"
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # the PyInstaller app: no python -c
    with pytest.raises(NotMeasurable, match="installed app"):
        run_script("print('ok')", timeout=60)


def test_the_full_size_cpu_bench_runs_its_whole_path_on_a_tiny_stand_in(tmp_path):
    """`bench --size full --device cpu` scaled down: stand-in, import against one read, an edit in
    a process of its own, the render half in both precisions, the reference's need, the machines."""
    import io

    from mgie_desktop.benchmark.run import run_full_cpu

    out = io.StringIO()
    # 128 px: the bf16 half stays quick where bf16 is emulated (hundreds of times fp32 without AVX-512)
    assert (
        run_full_cpu(True, tmp_path / "work", out=out, size="tiny", steps=2, tokens=3, cold=False, side=128)
        == 0
    )
    report = json.loads(out.getvalue())
    imp, edit, render = report["import"], report["edit"], report["render"]
    assert (
        report["standin"]["reused"] is False
        and (tmp_path / "work" / "models" / "bundle" / "bundle.json").is_file()
    )
    assert imp["ratio"] == pytest.approx(imp["seconds"] / imp["read_once_s"]) and imp["peak_anon_gb"] > 0
    # auto's precision is this CPU's (bf16 where it is native, by the probe; fp32 elsewhere): both
    # branches of the choice are tested in test_memory.py and test_devices.py
    from mgie_desktop.engine.devices import cpu_runs_bf16

    native = cpu_runs_bf16()
    assert (
        edit["precision"] == ("bf16" if native else "fp32")
        and edit["llm_quant"] == "8bit"  # the plan within issue 28's 12 GB
        and edit["steps"] == 2
    )
    assert ("natively" if native else "no native bf16") in edit["plan"]
    assert edit["new_tokens"] == 3 and edit["peak_anon_gb"] > 0 and edit["render_s"] > 0
    assert render["bf16_speedup"] == pytest.approx(render["fp32_s"] / render["bf16_s"])
    assert render["fp32_s"] == pytest.approx(render["fp32_vae_s"] + render["steps"] * render["fp32_step_s"])
    # The UNet step's arithmetic, and what each precision sustained of it.
    assert render["unet_step_tflop"] > 0
    assert render["bf16_gflops"] == pytest.approx(render["unet_step_tflop"] * 1000 / render["bf16_step_s"])
    # Issue 28's edit target, by what this CPU computes natively.
    fast = report["targets"]["edit.instruct_render_s"]
    assert fast["target"] == ("<= 120.0" if edit["precision"] == "bf16" else "<= 300.0")
    assert fast["value"] == pytest.approx(edit["instruct_s"] + edit["render_s"])
    assert report["targets"]["edit.peak_anon_gb"]["met"] == (edit["peak_anon_gb"] <= 12.0)
    assert report["reference"]["fits"] is True  # a tiny bundle fits anywhere
    assert set(report["machines"]) == {"16gb_no_bf16", "16gb_native_bf16", "32gb_no_bf16", "32gb_native_bf16"}
    memory = report["memory"]
    assert (memory["bf16_8bit"]["precision"], memory["bf16_8bit"]["llm_quant"]) == ("bf16", "8bit")
    assert (memory["bf16"]["precision"], memory["bf16"]["llm_quant"]) == ("bf16", "none")
    assert memory["bf16_8bit"]["steps"] == 1 and memory["bf16"]["peak_anon_gb"] > 0
    assert report["targets"]["memory.bf16_8bit.peak_anon_gb"]["target"] == "<= 12.0"
    assert report["targets"]["import.ratio"]["met"] == (imp["ratio"] <= 3.0)

    klein = report["klein"]  # FLUX.2 [klein], installed from the stand-in after MGIE's measures
    assert klein["linked"] is True and klein["steps"] == 4 and klein["passes_per_step"] == 1
    assert klein["precision"] == ("bf16" if native else "fp32") and "8 bits" in klein["plan"]
    assert klein["memory"]["precision"] == "bf16" and klein["memory"]["peak_anon_gb"] > 0
    assert report["targets"]["klein.memory.peak_anon_gb"]["target"] == "<= 12.0"
    assert not (tmp_path / "work" / "models" / "bundle" / "klein.partial").exists()

    again = io.StringIO()  # the stand-in kept in --work is reused, not written again
    run_full_cpu(False, tmp_path / "work", out=again, size="tiny", steps=1, tokens=2, cold=False, side=128)
    assert "full-size stand-in on the CPU" in again.getvalue() and "import:" in again.getvalue()
    assert "FLUX.2 [klein]" in again.getvalue() and "projected" in again.getvalue()


def test_the_full_size_cpu_bench_measures_klein_alone(tmp_path):
    """`parts=("klein",)`: klein's stand-in only, installed into a tiny MGIE bundle, then loaded
    alone and timed piece by piece; the 4-step edit is projected from the pieces by the formula
    the report states, and its peak memory is judged in bf16."""
    import io

    from mgie_desktop.benchmark.full_cpu import run
    from mgie_desktop.benchmark.run import run_full_cpu
    from mgie_desktop.engine.inventory import has_klein

    out = io.StringIO()
    work = tmp_path / "work"
    assert (
        run_full_cpu(True, work, out=out, size="tiny", cold=False, parts=("klein",), klein_budget=64 * 64)
        == 0
    )
    report = json.loads(out.getvalue())
    assert report["parts"] == ["klein"] and report["standin"]["written"] == ["klein"]
    assert not {"import", "edit", "render", "memory"} & set(report)  # MGIE's half was not run
    assert not (work / "standin" / "mgie_7b").exists() and has_klein(work / "models")
    k = report["klein"]
    assert (
        k["host"]["mgie"] == "tiny"
        and k["steps"] == 4
        and k["megapixels"] == pytest.approx(4 * 64 * 64 / 1e6, rel=0.3)
    )
    image_tokens = (k["size"][0] // 16) * (k["size"][1] // 16)
    assert k["tokens"] == {"image_and_reference": 2 * image_tokens, "text": 512}  # the prompt padded to 512
    pieces = ("text_s", "vae_encode_s", "vae_decode_s", "other_s", "finish_s")
    assert k["projected_edit_s"] == pytest.approx(sum(k[p] for p in pieces) + 4 * k["step_s"])
    assert "steps * passes_per_step * step_s" in k["projection"]["formula"]
    assert k["load_s"] > 0 and k["peak_anon_gb"] >= k["anon_after_load_gb"] > 0
    assert k["peak_rss_gb"] >= k["anon_after_load_gb"]
    targets = report["targets"]
    assert targets["klein.memory.peak_anon_gb"]["met"] is True  # a tiny model is far below 12 GB
    assert targets["import.ratio"]["met"] is None and targets["memory.bf16.peak_anon_gb"]["value"] is None

    text = io.StringIO()  # again, in words: the stand-in and the bundle are reused
    run_full_cpu(False, work, out=text, size="tiny", cold=False, parts=("klein",), klein_budget=64 * 64)
    assert "FLUX.2 [klein]" in text.getvalue() and "import:" not in text.getvalue()
    with pytest.raises(InputError, match="parts measured"):
        run(Image.new("RGB", (8, 8)), lambda msg: None, work, parts=("sdxl",))


def test_the_full_size_cpu_bench_says_when_klein_cannot_be_measured(tmp_path, monkeypatch):
    import io

    from mgie_desktop.benchmark import full_cpu

    monkeypatch.setattr(full_cpu, "_missing", lambda src, parts: ())  # a stand-in written without klein
    (tmp_path / "work" / "standin").mkdir(parents=True)
    report = full_cpu.run(
        Image.new("RGB", (8, 8)), lambda msg: None, tmp_path / "work", size="tiny", parts=("klein",)
    )
    assert "no FLUX.2 [klein]" in report["klein"]["skipped"]
    assert report["targets"]["klein.memory.peak_anon_gb"]["met"] is None
    out = io.StringIO()
    full_cpu.print_text(report, out)
    assert "FLUX.2 [klein]: not measured" in out.getvalue()
