"""The headless CLI: the documented command works; bad input exits 2 with one clear line."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from mgie_desktop.cli import main
from mgie_desktop.core.edit_record import record_from_xmp
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.step_params import StepParams


@pytest.fixture
def photo_file(tmp_path, photo):
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=95)
    return path


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mgie_desktop", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_the_documented_command_end_to_end(tmp_path, photo_file):
    models = tmp_path / "m"
    made = run_cli("models", "tiny", models)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out.png"
    done = run_cli(
        "edit",
        photo_file,
        "--instruction",
        "make the sky a sunset",
        "--output",
        out,
        "--models",
        models,
        "--json",
        "--steps",
        "3",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in (
        "expressive_instruction",
        "seed",
        "steps",
        "text_guidance",
        "image_guidance",
        "width",
        "height",
        "load_s",
        "instruct_s",
        "render_s",
    ):
        assert key in result
    assert (result["width"], result["height"], result["steps"], result["seed"]) == (96, 64, 3, 13331)
    assert Image.open(out).size == (96, 64)
    assert "Traceback" not in done.stderr
    # `models tiny` speaks as MGIE does, so a newcomer's first try reads like it
    assert result["expressive_instruction"] == "The sky will be orange."


def test_chained_instructions_and_env_models_dir(tiny_models, photo_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MGIE_MODELS", str(tiny_models))
    out = tmp_path / "chain.webp"
    code = main(
        [
            "edit",
            str(photo_file),
            "-i",
            "make it warmer",
            "-i",
            "add more contrast",
            "-o",
            str(out),
            "--json",
            "--preset",
            "draft",
            "--steps",
            "2",
            "--seed",
            "5",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [e["instruction"] for e in result["edits"]] == ["make it warmer", "add more contrast"]
    assert result["seed"] == 5 and out.exists()
    with Image.open(out) as im:  # the whole chain travels with the photo, as JSON in XMP
        record = record_from_xmp(im.info["xmp"])
    assert [s["instruction"] for s in record["steps"]] == ["make it warmer", "add more contrast"]
    assert record["steps"][1]["settings"]["seed"] == 5 and record["models"]["bundle"]


def test_emitting_models_print_the_expressive_instruction(emitting_models, photo_file, tmp_path, capsys):
    code = main(
        [
            "edit",
            str(photo_file),
            "-i",
            "make the sky a sunset",
            "-o",
            str(tmp_path / "o.png"),
            "--models",
            str(emitting_models),
            "--steps",
            "2",
        ]
    )
    assert code == 0
    assert "The sky will be orange." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing-image", "nope.jpg"),
        ("unreadable-image", "bad.jpg"),
        ("empty-instruction", "empty"),
        ("no-models", "models tiny"),
        ("unknown-device", "device"),
        ("bad-output", ".png"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case, needle, tmp_path, photo_file, tiny_models, capsys
):
    out = tmp_path / "out.png"
    args = {
        "image": str(photo_file),
        "instruction": "make it red",
        "models": str(tiny_models),
        "out": str(out),
    }
    if case == "missing-image":
        args["image"] = str(tmp_path / "nope.jpg")
    elif case == "unreadable-image":
        (tmp_path / "bad.jpg").write_bytes(b"not a jpeg at all")
        args["image"] = str(tmp_path / "bad.jpg")
    elif case == "empty-instruction":
        args["instruction"] = "   "
    elif case == "no-models":
        args["models"] = str(tmp_path / "empty-models")
    elif case == "bad-output":
        args["out"] = out = str(tmp_path / "out.gif")
    argv = ["edit", args["image"], "-i", args["instruction"], "-o", args["out"], "--models", args["models"]]
    if case == "unknown-device":
        argv += ["--device", "tpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not os.path.exists(out)


def test_unavailable_cuda_is_a_clear_error(tiny_models, photo_file, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # any machine, a GPU or not
    code = main(
        [
            "edit",
            str(photo_file),
            "-i",
            "x",
            "-o",
            str(tmp_path / "o.png"),
            "--models",
            str(tiny_models),
            "--device",
            "cuda",
        ]
    )
    assert code == 2 and "cuda" in capsys.readouterr().err


def test_models_list_verify_and_path(tiny_models, tmp_path, capsys):
    assert main(["models", "list", "--json", "--models", str(tiny_models)]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["state"] == "installed" and listing["size"] > 0
    assert main(["models", "list", "--models", str(tiny_models)]) == 0
    text = capsys.readouterr().out
    assert "converted bundle" in text and "installed" in text and "license:" in text  # licences listed
    assert main(["models", "verify", "--models", str(tiny_models)]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["models", "path", "--models", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path)
    assert main(["models", "list", "--json", "--models", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "missing"


def test_models_import_converts_a_reference_layout(tiny_models, tmp_path, capsys):
    assert (
        main(["models", "import", str(tiny_models / "tiny-reference"), "--dest", str(tmp_path / "imported")])
        == 0
    )
    assert (tmp_path / "imported" / "bundle" / "bundle.json").exists()
    assert main(["models", "import", str(tmp_path / "nothing-here"), "--dest", str(tmp_path / "x")]) == 2
    assert "missing" in capsys.readouterr().err


def test_edit_saves_the_chain_as_a_session(tiny_models, photo_file, tmp_path, capsys):
    session = tmp_path / "chain.mgie"
    code = main(
        [
            "edit",
            str(photo_file),
            "-i",
            "make it warmer",
            "-i",
            "add snow",
            "-o",
            str(tmp_path / "o.png"),
            "--models",
            str(tiny_models),
            "--steps",
            "2",
            "--seed",
            "9",
            "--session",
            str(session),
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert main(["session", "info", str(session), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    steps = {s["id"]: s for s in info["steps"]}
    edits = [s for s in info["steps"] if s["instruction"]]
    assert [s["instruction"] for s in edits] == ["make it warmer", "add snow"]
    assert all(s["seed"] == 9 for s in edits)
    assert steps[edits[1]["parent"]]["instruction"] == "make it warmer"
    assert info["current"] == edits[1]["id"]
    assert main(["session", "info", str(session)]) == 0
    assert "add snow" in capsys.readouterr().out
    (tmp_path / "junk.mgie").write_bytes(b"PK\x03\x04 nope")
    assert main(["session", "info", str(tmp_path / "junk.mgie")]) == 2


def test_help_lists_every_subcommand_and_explains_the_edit_settings(capsys):
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert all(name in top for name in ("edit", "models", "bench", "session"))
    assert main(["edit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in (
        ("--preset", "default: balanced"),
        ("--seed", "default: 13331"),
        ("--text-guidance", "default: 7.5"),
        ("--image-guidance", "default: 1.5"),
        ("--steps", "default: the preset's"),
    ):
        assert flag in text and default in text


def test_a_missing_photo_is_named_with_the_folder_typed(tmp_path, tiny_models, capsys):
    typed = str(tmp_path / "shoot" / "x.jpg")
    assert (
        main(["edit", typed, "-i", "warmer", "-o", str(tmp_path / "o.png"), "--models", str(tiny_models)])
        == 2
    )
    assert f"cannot open '{typed}'" in capsys.readouterr().err


def test_missing_models_point_to_models_download(tmp_path, photo_file, capsys):
    assert (
        main(
            [
                "edit",
                str(photo_file),
                "-i",
                "warmer",
                "-o",
                str(tmp_path / "o.png"),
                "--models",
                str(tmp_path / "none"),
            ]
        )
        == 2
    )
    assert "mgie-desktop models download" in capsys.readouterr().err


@pytest.mark.parametrize("failure", ["disk-full", "folder-gone"])
def test_a_session_that_cannot_be_saved_keeps_the_output_and_warns(
    failure, tiny_models, photo_file, tmp_path, capsys, monkeypatch
):
    from mgie_desktop.core import imaging, session
    from mgie_desktop.core.exit_codes import ExitCode

    out, folder = tmp_path / "o.png", tmp_path / "sessions"
    folder.mkdir()
    if failure == "disk-full":

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(session, "save_session", full)
    else:  # the session's folder disappears (a card pulled out) after the photo is written
        real_save_photo = imaging.save_photo

        def save_then_lose_the_folder(*args, **kwargs):
            real_save_photo(*args, **kwargs)
            folder.rmdir()

        monkeypatch.setattr(imaging, "save_photo", save_then_lose_the_folder)
    code = main(
        [
            "edit",
            str(photo_file),
            "-i",
            "make it warmer",
            "-o",
            str(out),
            "--models",
            str(tiny_models),
            "--steps",
            "1",
            "--json",
            "--session",
            str(folder / "chain.mgie"),
        ]
    )
    assert code == ExitCode.OUTPUT_KEPT == 3
    with Image.open(out) as kept:
        assert kept.size == (96, 64)
    captured = capsys.readouterr()
    assert json.loads(captured.out)["output"] == str(out)
    warning = [line for line in captured.err.splitlines() if "warning" in line]  # besides any device note
    assert len(warning) == 1 and "chain.mgie" in warning[0]
    assert "Traceback" not in captured.err and not (folder / "chain.mgie").exists()
    if failure == "disk-full":
        assert "No space left on device" in warning[0]


def test_edit_help_lists_the_exit_statuses(capsys):
    assert main(["edit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status" in text and "3" in text and "session could not be saved" in text


@pytest.mark.parametrize("case", ["dev-zero", "deep", "5000-digits", "unhashable-preset", "nan", "surrogate"])
def test_a_hostile_recipe_exits_2_in_one_line_naming_it(case, tmp_path, photo_file, capsys):
    recipe = tmp_path / "hostile.json"
    step = '{"instruction": "x"%s}'
    text = {
        "deep": "[" * 100_000 + "]" * 100_000,
        "5000-digits": step % (', "steps": ' + "9" * 5000),
        "unhashable-preset": step % ', "preset": []',
        "nan": step % ', "text_guidance": NaN',
        "surrogate": '{"instruction": "\\ud800"}',
    }.get(case)
    if case == "dev-zero":
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero here")
        recipe.symlink_to("/dev/zero")
    else:
        recipe.write_text(
            '{"format": "mgie-recipe", "version": 1, "steps": [' + text + "]}"
            if text.startswith("{")
            else text
        )
    out = tmp_path / "out"
    assert main(["batch", str(recipe), str(photo_file.parent), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hostile.json" in err and "Traceback" not in err
    assert not out.exists()


def test_recipe_export_of_odd_geometry_exits_2_naming_the_step(tmp_path, capsys):
    from mgie_desktop.core.history import History
    from mgie_desktop.core.session import save_session

    history = History()
    history.start(Image.new("RGB", (20, 10)))
    history.push(
        Image.new("RGB", (20, 10)), instruction="warmer", params=StepParams.edit(EditParams(seed=3, steps=2))
    )
    history.push(
        Image.new("RGB", (10, 10)),
        instruction="Odd",
        params=StepParams.of_geometry({"op": "crop", "box": ["a"]}),
    )
    session = tmp_path / "odd.mgie"
    try:
        save_session(history, session)
    finally:
        history.close()
    out = tmp_path / "r.json"
    assert main(["recipe", "export", str(session), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and not out.exists()
    assert "step 2" in err or "odd.mgie" in err  # refused by the recipe export or by the session's own check
