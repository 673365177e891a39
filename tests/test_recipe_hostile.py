"""Hostile and odd recipes (issue 25, item 6), generated: deep nesting, 5000-digit integers, NaN
and infinities, lone surrogates, huge sizes, wrong types anywhere, raw bytes. Whatever the input,
a recipe is accepted, or refused with one InputError line naming the file; nothing else."""

from __future__ import annotations

import json
import math
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History, validate_manifest
from mgie_desktop.core.recipe import MAX_BYTES, load_recipe, parse_recipe, recipe_from_history

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VALID = {
    "format": "mgie-recipe",
    "version": 1,
    "app": "mgie-desktop 0.1.0",
    "source": {"photo": "a.jpg"},
    "finish": "detail",
    "steps": [
        {
            "kind": "edit",
            "instruction": "make it winter",
            "model": "mgie",
            "preset": "custom",
            "steps": 25,
            "text_guidance": 7.5,
            "image_guidance": 1.5,
            "scheduler": "dpmpp_2m",
            "pixel_budget": 262144,
            "strength": 1.0,
            "seed": {"policy": "fixed", "value": 13331},
        },
        {"kind": "geometry", "op": {"op": "rotate", "degrees": 90}},
        {"kind": "geometry", "op": {"op": "crop", "fraction": [0.1, 0.0, 0.9, 1.0]}},
        {"kind": "edit", "instruction": "warmer", "seed": {"policy": "file_name"}},
    ],
}


def nested(depth: int, leaf: object = 0) -> object:
    """``leaf`` inside ``depth`` lists, built without recursion."""
    for _ in range(depth):
        leaf = [leaf]
    return leaf


surrogates = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    st.tuples(st.text(max_size=5), surrogates).map("".join),
    st.integers(0, 2 * MAX_BYTES).map(lambda n: "x" * n),
)  # huge sizes
integers = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.integers(0, 5000).map(lambda d: 10**d),
    st.integers(1, 5000).map(lambda d: -(10**d)),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)
hostile = st.one_of(json_values, st.integers(1, 100_000).map(nested))


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in ``value`` a hostile value can go."""
    found = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found += paths(item, (*prefix, key))
    return found


PATHS = paths(VALID)
STEP_FIELDS = sorted({key for step in VALID["steps"] for key in step} | {"op", "mask", "steered_instruction"})


def replaced(document: object, path: tuple, value: object) -> object:
    """A deep copy of ``document`` with ``value`` at ``path`` (the document itself at ())."""
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return copy


def accepted_or_refused(call) -> None:
    try:
        call()
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        assert len(message) < 2000  # a hostile value is never echoed whole


def test_the_valid_recipe_is_accepted():
    assert parse_recipe(VALID).edits == 2


@FAST
@given(path=st.sampled_from(PATHS), value=hostile)
def test_any_value_anywhere_is_accepted_or_refused(path, value):
    accepted_or_refused(lambda: parse_recipe(replaced(VALID, path, value), "hostile.json"))


@FAST
@given(step=st.sampled_from([0, 1, 2, 3]), key=st.sampled_from(STEP_FIELDS), value=hostile)
def test_any_field_of_any_step_is_accepted_or_refused(step, key, value):
    document = json.loads(json.dumps(VALID))
    document["steps"][step][key] = value
    accepted_or_refused(lambda: parse_recipe(document, "hostile.json"))


@FAST
@given(step=st.sampled_from([0, 1, 2, 3]), key=st.sampled_from(STEP_FIELDS), text=texts)
def test_any_text_in_any_field_is_accepted_or_refused_without_echoing_it_whole(step, key, text):
    document = json.loads(json.dumps(VALID))
    document["steps"][step][key] = text
    accepted_or_refused(lambda: parse_recipe(document, "hostile.json"))


def json_text(value: object) -> str:
    """JSON as a hostile writer might make it: NaN and Infinity literals, lone surrogates escaped,
    integers of any length (Python's own limit on writing them lifted for the moment)."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(value, allow_nan=True)
    finally:
        sys.set_int_max_str_digits(limit)


raw_texts = st.one_of(
    st.builds(json_text, st.builds(replaced, st.just(VALID), st.sampled_from(PATHS), json_values)),
    st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 200_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(1, 20_000).map(
        lambda n: '{"format": "mgie-recipe", "version": ' + "9" * n + ', "steps": []}'
    ),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", '"\\ud800"', '"\\udfff\\ud800"']).map(
        lambda x: json_text(VALID).replace("7.5", x)
    ),
    st.integers(1, 100_000).map(lambda n: '"' + '\\"' * n),
    st.text(max_size=200),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-recipes")


@FILES
@given(text=raw_texts)
def test_any_text_in_a_file_is_accepted_or_refused(folder, text):
    path = folder / "hostile.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    accepted_or_refused(lambda: load_recipe(path))


@FILES
@given(data=st.binary(max_size=300))
def test_any_bytes_in_a_file_are_accepted_or_refused(folder, data):
    path = folder / "bytes.json"
    path.write_bytes(data)
    accepted_or_refused(lambda: load_recipe(path))


geometry_values = st.one_of(
    hostile,
    st.fixed_dictionaries(
        {"op": st.sampled_from(["crop", "rotate", "flip", "spin"])},
        optional={
            "box": st.lists(st.one_of(integers, floats, texts), max_size=5),
            "degrees": st.one_of(integers, floats, st.sampled_from([90, 180, 270])),
            "axis": st.one_of(texts, st.sampled_from(["horizontal", "vertical"])),
        },
    ),
)
settings_values = st.dictionaries(
    st.sampled_from(
        ["seed", "steps", "text_guidance", "image_guidance", "scheduler", "pixel_budget", "strength", "model"]
    ),
    hostile,
    max_size=3,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometry=geometry_values, stored=settings_values)
def test_exporting_any_stored_step_is_accepted_or_refused(geometry, stored):
    """A session's steps as a file may hold them: refused where the session enters, or exported."""
    manifest = {
        "current": 2,
        "steps": [
            {"id": 0, "parent": None},
            {"id": 1, "parent": 0, "instruction": "warmer", "params": {"seed": 3, "steps": 2, **stored}},
            {"id": 2, "parent": 1, "instruction": "Odd", "params": {"geometry": geometry}},
        ],
    }

    def export():
        steps, _, _ = validate_manifest(manifest)
        history = History()
        history.start(Image.new("RGB", (8, 6)))
        try:
            for step in steps[1:]:
                history.push(Image.new("RGB", (8, 6)), instruction=step.instruction, params=step.params)
            return parse_recipe(recipe_from_history(history), "exported.json")
        finally:
            history.close()

    accepted_or_refused(export)


def test_a_refusal_names_the_step_and_field():
    document = replaced(VALID, ("steps", 3, "text_guidance"), math.nan)
    with pytest.raises(
        InputError,
        match=r"^cannot use the recipe 'r.json': step 4: \"text_guidance\" must be a "
        r"finite number",
    ):
        parse_recipe(document, "r.json")
