"""Recipes without models: crops travel as fractions, each photo's chain is fitted to its size,
and a chain's strength and geometry steps are run as the window shows them."""

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from mgie_desktop.batch.photo import chain_for
from mgie_desktop.core.chain import run_chain
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.geometry import crop
from mgie_desktop.core.history import History, validate_manifest
from mgie_desktop.core.params import EditParams, params_for
from mgie_desktop.core.recipe import MAX_BYTES, geometry_for, load_recipe, parse_recipe, recipe_from_history
from mgie_desktop.core.step_params import StepKind, StepParams


def test_a_crop_and_a_turn_fit_photos_of_any_size():
    history = History()
    history.start(Image.new("RGB", (200, 100)))
    history.push(
        Image.new("RGB", (200, 100)),
        instruction="warmer",
        params=StepParams.edit(EditParams(seed=3, steps=2), strength=0.5),
    )
    history.push(
        Image.new("RGB", (100, 100)),
        instruction="Crop",
        params=StepParams.of_geometry(crop((50, 0, 150, 100))),
    )
    history.push(
        Image.new("RGB", (100, 100)),
        instruction="Rotate",
        params=StepParams.of_geometry({"op": "rotate", "degrees": 90}),
    )
    data = recipe_from_history(history)
    history.close()
    assert data["steps"][1] == {"kind": "geometry", "op": {"op": "crop", "fraction": [0.25, 0.0, 0.75, 1.0]}}
    recipe = parse_recipe(data)
    assert recipe.steps[0].strength == 0.5 and recipe.steps[0].params.seed == 3
    assert geometry_for(recipe.steps[1].geometry, (200, 100)) == {"op": "crop", "box": [50, 0, 150, 100]}
    steps = chain_for(recipe, {}, "any.jpg", (400, 300))  # a photo of another size: the same part of it
    assert steps[1].geometry == {"op": "crop", "box": [100, 0, 300, 300]}
    assert steps[2].geometry == {"op": "rotate", "degrees": 90}


def test_run_chain_blends_a_step_below_full_strength_and_applies_geometry():
    white = Image.new("RGB", (40, 20), (255, 255, 255))

    def edit(image, text, params, finish, expressive, mask):  # an engine that paints black
        black = Image.new("RGB", image.size)
        return SimpleNamespace(
            image=black,
            timings={"instruct_s": 0, "render_s": 0},
            working_size=image.size,
            instruction=SimpleNamespace(text="Black.", steered=False, emitted_image_tokens=True),
        )

    from mgie_desktop.core.chain import ChainStep

    steps = [
        ChainStep("darker", params_for("draft"), strength=0.25),
        ChainStep(geometry={"op": "rotate", "degrees": 90}),
    ]
    history, image, records = run_chain(SimpleNamespace(edit=edit), white, steps)
    try:
        assert image.size == (20, 40) and image.getpixel((5, 5)) == (
            191,
            191,
            191,
        )  # 25 % of the way to black
        assert history.image().tobytes() == image.tobytes()  # what the window would show and export
        assert [r["expressive_instruction"] for r in records] == ["Black."]
    finally:
        history.close()


# ---- hostile and odd input (issue 25, item 6) ----------------------------------------------------
EDIT = {"kind": "edit", "instruction": "make it winter", "seed": {"policy": "fixed", "value": 7}}


def _document(**step) -> dict:
    return {"format": "mgie-recipe", "version": 1, "steps": [{**EDIT, **step}]}


@pytest.mark.parametrize(
    "geometry",
    [
        "rotate",
        7,
        ["crop"],
        {"degrees": 90},
        {"op": "crop"},
        {"op": "crop", "box": ["a", 0, 10, 10]},
        {"op": "crop", "box": [0, 0, 10]},
        {"op": "crop", "box": None},
        {"op": "crop", "box": [0, 0, 10**5000, 10]},
        {"op": "crop", "box": [0, 0, float("nan"), 10]},
        {"op": "rotate", "degrees": 45},
        {"op": "rotate"},
        {"op": "flip", "axis": []},
        {"op": []},
    ],
)
def test_odd_geometry_in_a_session_is_refused_where_it_enters_naming_the_step(geometry):
    manifest = _manifest({"seed": 3, "steps": 2})
    manifest["steps"].append({"id": 2, "parent": 1, "instruction": "Odd", "params": {"geometry": geometry}})
    with pytest.raises(InputError, match="step 2") as caught:
        validate_manifest(manifest)
    assert "\n" not in str(caught.value)


def test_export_refuses_a_crop_outside_its_image_naming_the_step():
    history = History()
    history.start(Image.new("RGB", (20, 10)))
    history.push(
        Image.new("RGB", (20, 10)), instruction="Odd", params=StepParams.of_geometry(crop((0, 0, 40, 10)))
    )
    try:
        with pytest.raises(InputError, match="step 1"):
            recipe_from_history(history)
    finally:
        history.close()


def _manifest(stored: dict) -> dict:
    """A session's history: the photo, then one edit whose settings are ``stored``."""
    steps = [{"id": 0, "parent": None}, {"id": 1, "parent": 0, "instruction": "warmer", "params": stored}]
    return {"current": 1, "steps": steps}


@pytest.mark.parametrize(
    ("stored", "field"),
    [
        ({"seed": "x"}, "params.seed"),
        ({"seed": True}, "params.seed"),
        ({"steps": 10**5000}, "params.steps"),
        ({"text_guidance": float("nan")}, "params.text_guidance"),
        ({"steps": []}, "params.steps"),
        ({"strength": "strong"}, "params.strength"),
        ({"strength": [1]}, "params.strength"),
        ({"strength": 1.5}, "params.strength"),
        ({"model": "dall-e"}, "params.model"),
        ({"geometry": [1]}, "params.geometry"),
    ],
)
def test_odd_settings_in_a_session_are_refused_where_it_enters_naming_the_step_and_field(stored, field):
    with pytest.raises(InputError, match="step 1") as caught:
        validate_manifest(_manifest({"seed": 3, "steps": 2, **stored}))
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_settings_from_an_older_version_open_and_export_refuses_what_a_recipe_cannot_hold():
    # typed where the session entered; ranges are a render's (and a recipe's): the step still opens
    (_, step), _, _ = validate_manifest(
        _manifest({"seed": 3, "steps": 900, "model": "ip2p", "strength": 0.25})
    )
    assert step.kind is StepKind.IP2P and step.params.strength == 0.25
    assert step.params.render == EditParams(seed=3, steps=900)
    history = History()
    history.start(Image.new("RGB", (20, 10)))
    history.push(Image.new("RGB", (20, 10)), instruction="warmer", params=step.params)
    try:
        with pytest.raises(InputError, match=r"step 1 .*steps must be from 1 to 500, not 900"):
            recipe_from_history(history)
    finally:
        history.close()


def test_a_steps_settings_round_trip_through_the_session_format():
    for params in (
        StepParams.edit(EditParams(seed=2**62, steps=7, text_guidance=3.25, scheduler="ddim"), strength=0.5),
        StepParams.edit(EditParams(pixel_budget=128 * 128), StepKind.IP2P),
        StepParams.of_geometry({"op": "rotate", "degrees": 90}),
    ):
        stored = json.loads(json.dumps(params.to_json()))
        assert StepParams.from_json(stored, root=False) == params
    assert StepParams.from_json({"seed": 5}, root=True) == StepParams()  # the photo: nothing to render
    # an edit written before every setting was stored: the rest are the defaults, as then
    assert StepParams.from_json({"seed": 5}, root=False) == StepParams.edit(EditParams(seed=5))


def _refused(path: Path, *needles: str) -> str:
    with pytest.raises(InputError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert path.name in message and "\n" not in message and len(message) < 400
    for needle in needles:
        assert needle in message
    return message


def test_a_recipe_nested_100000_deep_is_refused(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    _refused(deep, "nested")
    inside = tmp_path / "inside.json"
    inside.write_text(
        '{"format": "mgie-recipe", "version": 1, "source": '
        + '{"a": ' * 100_000
        + "1"
        + "}" * 100_000
        + ', "steps": []}'
    )
    _refused(inside, "nested")


def test_deep_nesting_built_in_python_is_refused_without_recursion():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(InputError, match="nested"):
        parse_recipe({**_document(), "source": {"photo": nested}}, "deep.json")


def test_a_5000_digit_integer_is_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(
        '{"format": "mgie-recipe", "version": 1, "steps": [{"instruction": "x", "steps": '
        + "9" * 5000
        + "}]}"
    )
    _refused(big)
    for where in ("version", "steps"):
        data = _document() if where == "version" else _document(steps=10**4000)
        if where == "version":
            data["version"] = 10**4000
        with pytest.raises(InputError, match=where):
            parse_recipe(data, "big.json")
    with pytest.raises(InputError, match="seed"):
        parse_recipe(_document(seed={"policy": "fixed", "value": -(10**4000)}), "big.json")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"preset": []}, "preset"),
        ({"preset": {}}, "preset"),
        ({"model": ["mgie"]}, "model"),
        ({"kind": []}, "kind"),
        ({"scheduler": ["euler"]}, "scheduler"),
        ({"text_guidance": "7"}, "text_guidance"),
        ({"text_guidance": float("nan")}, "text_guidance"),
        ({"image_guidance": float("inf")}, "image_guidance"),
        ({"strength": float("nan")}, "strength"),
        ({"seed": {"policy": []}}, "seed"),
        ({"seed": {"policy": "fixed", "value": 1.5}}, "seed"),
        ({"instruction": "\ud800"}, "instruction"),
        ({"instruction": 5}, "instruction"),
        ({"mask": 5}, "mask"),
        ({"steps": None}, "steps"),
    ],
)
def test_odd_values_in_an_edit_step_are_refused_naming_the_field(change, field):
    with pytest.raises(InputError) as caught:
        parse_recipe(_document(**change), "odd.json")
    message = str(caught.value)
    assert message.startswith("cannot use the recipe 'odd.json': step 1: ") and field in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"finish": []}, "finish"),
        ({"version": 1.0}, "version"),
        ({"format": ["mgie-recipe"]}, "format"),
        ({"source": {"photo": float("nan")}}, "source"),
        ({"steps": {"0": EDIT}}, "steps"),
        ({"steps": [EDIT, {"kind": "geometry", "op": {"op": "rotate", "degrees": 90.0}}]}, "degrees"),
        ({"steps": [EDIT, {"kind": "geometry", "op": {"op": "rotate", "degrees": True}}]}, "degrees"),
        ({"steps": [EDIT, {"kind": "geometry", "op": {"op": []}}]}, "geometry"),
        ({"steps": [EDIT, {"kind": "geometry"}]}, "op"),
    ],
)
def test_odd_values_in_the_document_are_refused_naming_the_field(change, field):
    with pytest.raises(InputError) as caught:
        parse_recipe({**_document(), **change}, "odd.json")
    assert field in str(caught.value) and str(caught.value).startswith("cannot use the recipe 'odd.json': ")


def test_nan_and_infinity_in_the_file_are_refused(tmp_path):
    for text in ("NaN", "Infinity", "-Infinity", "1e400"):
        path = tmp_path / "nan.json"
        path.write_text(
            '{"format": "mgie-recipe", "version": 1, "steps": [{"instruction": "x", "text_guidance": '
            + text
            + "}]}"
        )
        _refused(path, "text_guidance")


def test_a_recipe_symlinked_to_dev_zero_is_refused_at_once(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    started = time.monotonic()
    _refused(link, "not a regular file")
    assert time.monotonic() - started < 5


def test_a_fifo_and_a_folder_are_refused(tmp_path):
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)
        _refused(fifo, "not a regular file")  # without a writer, opening it would wait forever
    folder = tmp_path / "folder.json"
    folder.mkdir()
    _refused(folder, "not a regular file")


def test_a_recipe_over_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    _refused(huge, "MB")


def test_save_refuses_what_could_not_be_read_back(tmp_path):
    from mgie_desktop.core.recipe import save_recipe

    data = _document()
    data["app"] = "x" * (MAX_BYTES + 1)
    with pytest.raises(InputError, match="MB"):
        save_recipe(data, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()
    save_recipe(_document(), tmp_path / "ok.json")
    assert load_recipe(tmp_path / "ok.json").steps[0].params.seed == 7
