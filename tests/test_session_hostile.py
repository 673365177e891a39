"""Hostile and odd input in sessions and instructions (issue 25, items 5 and 7): deep histories,
numbers that are not numbers, terminal escapes, text that is not text. Each is accepted, or
refused with one InputError line naming the file and field; never a traceback."""

from __future__ import annotations

import io
import json
import os
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from mgie_desktop.cli import main
from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History, ImageStore
from mgie_desktop.core.instruction import InstructionLimit, Level, check_text
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.session import format_session_info, limits, open_session, save_session, session_info
from mgie_desktop.core.step_params import StepParams

ESCAPES = (
    "clear \x1b[2J\x1b[H title \x1b]0;pwned\x07 c1 \x9b31m red \x1bPdcs\x1b\\ bell\x07 nul\x00 rlo\u202e end"
)


def tiny_png(color=(0, 0, 0), size=(4, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


PNG = tiny_png()


def chain_history(folder: Path, steps: int, **push) -> History:
    """The opened photo and ``steps`` edits, each made from the one before."""
    history = History(ImageStore(folder))
    history.start(Image.new("RGB", (4, 4)))
    for i in range(steps):
        history.push(Image.new("RGB", (4, 4), (i % 256, 0, 0)), instruction=f"step {i}", **push)
    return history


def write_session(path: Path, manifest_text: str | bytes, ids=(0,), png: bytes = PNG) -> Path:
    """A .mgie zip by hand: any manifest text at all, and a PNG for each id."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("session.json", manifest_text)
        for step_id in ids:
            zf.writestr(f"steps/step-{step_id:05d}.png", png)
    return path


def manifest(steps: list[dict] | None = None, **top) -> dict:
    steps = (
        steps
        if steps is not None
        else [{"id": 0, "parent": None}, {"id": 1, "parent": 0, "instruction": "x"}]
    )
    return {
        "format": "mgie-session",
        "version": 1,
        "app": {"name": "MGIE Desktop", "version": "0"},
        "saved": 1_700_000_000.0,
        "current": steps[-1]["id"],
        "steps": steps,
        "source": {"name": "a.jpg"},
        **top,
    }


def session_with(tmp_path: Path, name: str = "s.mgie", **top) -> Path:
    m = manifest(**top)
    return write_session(tmp_path / name, json.dumps(m), [s["id"] for s in m["steps"]])


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def refused_in_one_line(code: int, err: str, *words: str) -> None:
    """Exit 2 and one line saying why (after any notes the run printed before it)."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines and all(line.startswith("mgie-desktop: ") for line in lines), err
    for word in words:
        assert word in lines[-1], err


def has_controls(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs") and c != "\n" for c in text) or "\u202e" in text


# --------------------------------------------------------------------------- deep histories


def test_info_and_open_walk_a_1500_step_chain(tmp_path, capsys):
    history = chain_history(tmp_path / "store", 1500)
    path = save_session(history, tmp_path / "deep.mgie")
    history.close()
    text = format_session_info(session_info(path))  # was RecursionError at about 1000 steps
    assert (
        text.count("\n#") == 1501
        and "\n   " not in text
        and "#1500" in text
        and text.rstrip().endswith("<- current")
    )
    code, out, err = cli(capsys, "session", "info", path)
    assert code == 0 and out.strip() == text and not err
    session = open_session(path, tmp_path / "work")
    try:
        assert len(session.history) == 1501 and session.history.depth(1500) == 1500
    finally:
        session.close()


def test_a_deep_chain_below_full_strength_blends_without_recursion(tmp_path):
    # Each edit shown at half strength, then edited again: the app can make this.
    history = History(ImageStore(tmp_path / "store"))
    history.start(Image.new("RGB", (4, 4), (0, 0, 0)))
    for _ in range(1500):
        history.push(Image.new("RGB", (4, 4), (200, 0, 0)), instruction="redder")
        history.set_strength(history.current.id, 0.5)
    try:
        assert history.image().getpixel((0, 0))[0] in (199, 200)  # was RecursionError
        # Nothing else changed: one level of blending is still source and render mixed.
        assert history.image(1).getpixel((0, 0)) == (100, 0, 0)
    finally:
        history.close()


def test_the_root_is_always_at_full_strength(tmp_path):
    m = manifest(steps=[{"id": 0, "parent": None, "params": {"strength": 0.5}}])
    path = write_session(tmp_path / "root.mgie", json.dumps(m))
    session = open_session(path)
    try:
        assert session.history.strength(0) == 1.0 and session.history.image().size == (4, 4)
    finally:
        session.close()


def test_a_10000_step_chain_stored_leaf_first_is_checked_in_linear_time(tmp_path):
    import time

    from mgie_desktop.core.history import validate_manifest

    steps = [{"id": i, "parent": i - 1 if i else None} for i in reversed(range(limits.MAX_STEPS))]
    started = time.perf_counter()
    validate_manifest({"current": 0, "steps": steps})
    assert time.perf_counter() - started < 2.0  # was a list scan per hop: minutes


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "saved", ["NaN", "Infinity", "-Infinity", "1e400", "-1", "1e300", "9" * 4000, "true", '"yesterday"']
)
def test_a_saved_time_that_is_no_time_is_refused_naming_file_and_field(tmp_path, capsys, saved):
    text = json.dumps(manifest()).replace('"saved": 1700000000.0', f'"saved": {saved}')
    path = write_session(tmp_path / "odd.mgie", text, (0, 1))
    for read in (session_info, open_session):
        with pytest.raises(InputError, match=r"odd\.mgie.*'saved'"):
            read(path)
    refused_in_one_line(*cli(capsys, "session", "info", path)[::2], "odd.mgie", "saved")


def test_a_5000_digit_integer_is_refused(tmp_path, capsys):
    text = json.dumps(manifest()).replace('"saved": 1700000000.0', f'"saved": {"7" * 5000}')
    path = write_session(tmp_path / "digits.mgie", text, (0, 1))
    with pytest.raises(InputError, match="digits.mgie.*number too long"):
        session_info(path)
    refused_in_one_line(*cli(capsys, "session", "info", path)[::2], "digits.mgie")


def test_no_saved_time_is_shown_as_unknown(tmp_path):
    m = manifest()
    del m["saved"]
    info = session_info(write_session(tmp_path / "nosave.mgie", json.dumps(m), (0, 1)))
    assert info["saved"] is None and "saved ?" in format_session_info(info)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("created", "NaN", "'created'"),
        ("created", "1e400", "'created'"),
        ("params", '{"seed": NaN}', "'params.seed'"),
        ("params", '{"seed": ' + "9" * 30 + "}", "'params.seed'"),
        ("params", '{"geometry": {"angle": Infinity}}', "'params.geometry.angle'"),
        ("timings", '{"render_s": -Infinity}', "'timings.render_s'"),
    ],
)
def test_step_numbers_are_finite_and_bounded(tmp_path, capsys, field, value, named):
    text = json.dumps(manifest()).replace('"instruction": "x"', f'"instruction": "x", "{field}": {value}')
    path = write_session(tmp_path / "num.mgie", text, (0, 1))
    with pytest.raises(InputError, match=f"num.mgie.*step 1.*{named}"):
        open_session(path)
    refused_in_one_line(*cli(capsys, "session", "info", path)[::2], "num.mgie", named)


@pytest.mark.parametrize("field", ["id", "parent"])
def test_a_huge_step_id_is_refused_in_a_short_line(tmp_path, field):
    text = json.dumps(manifest()).replace(f'"{field}": 0', f'"{field}": {"9" * 4000}', 1)
    with pytest.raises(InputError) as refused:
        session_info(write_session(tmp_path / "ids.mgie", text, (0, 1)))
    assert len(str(refused.value)) < 200  # not a 4000-digit file name in the message


# --------------------------------------------------------------------------- text shown


def test_display_text_keeps_unicode_and_drops_controls():
    assert display_text("golden hour ☀, café, 日本, 😀 e\u0301") == "golden hour ☀, café, 日本, 😀 e\u0301"
    assert display_text(ESCAPES) == "clear  title  c1  red  bell nul rlo end"
    assert display_text("a\tb\r\nc\rd\ne\u2028f") == "a b c d e f"
    assert display_text("a\r\nb\x85c", keep_newlines=True) == "a\nb\nc"
    assert display_text("half \ud800 pair") == "half \ufffd pair"
    assert display_text("unterminated \x1b]0;title") == "unterminated 0;title"  # harmless once ESC is gone
    assert display_text("abcdefgh", width=6) == "abc..." and display_text("abc", width=6) == "abc"


def test_session_info_shows_no_terminal_escapes(tmp_path, capsys):
    history = chain_history(tmp_path / "store", 0)
    history.push(
        Image.new("RGB", (4, 4)),
        instruction=ESCAPES,
        expressive_instruction="\x1b[31mred",
        steered_instruction="\x9b2J",
        params=StepParams.edit(EditParams(seed=5)),
    )
    path = save_session(history, tmp_path / "esc.mgie", {"name": "photo\x1b]0;x\x07.jpg"})
    history.close()
    text = format_session_info(session_info(path))
    assert not has_controls(text)
    assert (
        '"clear title c1 red bell nul rlo end" -> "red" -> steered: ""' in text
        and "Source: photo.jpg" in text
    )
    code, out, _ = cli(capsys, "session", "info", path)
    assert code == 0 and not has_controls(out)
    code, out, _ = cli(capsys, "session", "info", "--json", path)  # JSON escapes them: exact and safe
    assert code == 0 and not has_controls(out) and json.loads(out)["steps"][1]["instruction"] == ESCAPES


def test_the_window_shows_no_control_characters(qtbot, tmp_path):
    from mgie_desktop.ui.expressive_box import ExpressiveBox
    from mgie_desktop.ui.history_panel import HistoryPanel

    history = chain_history(tmp_path / "store", 0)
    history.push(
        Image.new("RGB", (4, 4)),
        instruction=ESCAPES,
        expressive_instruction="MGIE\x1b[2J said",
        params=StepParams.edit(EditParams(scheduler="\x9b6n")),
    )
    history.push(Image.new("RGB", (4, 4)), instruction="x", steered_instruction="line one\nline\x07 two")
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.refresh(history)
    shown = [panel.item(i).text() + panel.item(i).toolTip() for i in range(panel.count())]
    assert len(shown) == 3 and not any(has_controls(text) for text in shown)
    assert "clear  title" in shown[1] and "MGIE said" in shown[1]
    box = ExpressiveBox()
    qtbot.addWidget(box)
    box.show_step("MGIE\x1b[2J said", "line one\nline\x07 two")
    assert box.text() == "line one\nline two" and box.edited() == ""  # shown as is: not an edit
    assert "MGIE said" in box.mgie_said.text() and not has_controls(box.mgie_said.text())
    history.close()


def test_refusals_quote_names_from_the_archive_and_the_disk_without_escapes(tmp_path, capsys):
    evil = "\x1b]0;pwned\x07" + "x" * 500
    path = tmp_path / "evil\x1b[2J.mgie"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as zf:
        zf.writestr(evil, b"1")
        zf.writestr(evil, b"2")
    with pytest.raises(InputError, match="twice") as refused:
        session_info(path)
    assert not has_controls(str(refused.value)) and len(str(refused.value)) < 200
    code, _, err = cli(capsys, "session", "info", path)
    refused_in_one_line(code, err, "twice")
    assert not has_controls(err.strip())


# --------------------------------------------------------------------------- text that is not text


def test_check_text_refuses_lone_surrogates_and_undecodable_argv():
    for text in ("make it \ud800", b"make it \xff snowy".decode("utf-8", "surrogateescape")):
        with pytest.raises(InputError, match="the instruction is not valid text"):
            check_text(text)
    check_text("make it snowy ☀ 😀")


def test_an_instruction_limit_refuses_before_the_tokenizer_sees_it():
    def tokenizer_that_cannot_take_it(text: str) -> int:
        text.encode("utf-8")  # what sentencepiece's C++ cast does, as a UnicodeEncodeError here
        return len(text.split())

    limit = InstructionLimit(tokenizer_that_cannot_take_it, 100)
    verdict = limit.verdict("make it \udcff")
    assert verdict.level == Level.NOT_TEXT and verdict.level != "ok" and "not valid text" in verdict.message
    with pytest.raises(InputError, match="not valid text"):
        limit.check("make it \udcff")
    assert limit.verdict("make it snowy").level == "ok"  # a str enum: the window compares with words


def test_edit_from_argv_with_invalid_utf8_is_refused_in_one_line(tiny_models, photo_path, tmp_path, capsys):
    # Bytes that are not UTF-8 reach Python's argv as surrogate escapes (os.fsdecode does the
    # same): the same class as a lone surrogate from JSON. Was a pybind11 cast RuntimeError from
    # sentencepiece, with a traceback.
    output = tmp_path / "out.png"
    instruction = os.fsdecode(b"make it \xff snowy \xed\xa0\x80")
    code, _, err = cli(
        capsys,
        "edit",
        photo_path,
        "-i",
        instruction,
        "-o",
        output,
        "--models",
        tiny_models,
        "--steps",
        "2",
        "--device",
        "cpu",
    )
    refused_in_one_line(code, err, "not valid text")
    assert not output.exists()


def test_a_session_instruction_that_is_not_text_is_refused(tmp_path, capsys):
    path = session_with(
        tmp_path,
        "sur.mgie",
        steps=[{"id": 0, "parent": None}, {"id": 1, "parent": 0, "instruction": "\ud800 x"}],
    )
    with pytest.raises(InputError, match=r"sur\.mgie.*step 1.*'instruction'.*not valid text"):
        open_session(path)  # else it opens, and every later save or autosave fails
    refused_in_one_line(*cli(capsys, "session", "info", path)[::2], "sur.mgie", "instruction")
    path = session_with(tmp_path, "name.mgie", source={"name": "\udcff.jpg"})
    with pytest.raises(InputError, match=r"name\.mgie.*'source\.name'.*not valid text"):
        open_session(path)


# --------------------------------------------------------------------------- damaged pixels


def lying_png(width: int, height: int, png: bytes = PNG) -> bytes:
    """``png`` with an IHDR claiming another size, its CRC right: the chunks check, the pixels do not."""
    ihdr = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + png[24:29]
    return png[:12] + ihdr + zlib.crc32(ihdr).to_bytes(4, "big") + png[33:]


def scrambled_idat(png: bytes = PNG) -> bytes:
    """``png`` with its compressed pixels overwritten and the chunk's CRC made right again."""
    start = png.index(b"IDAT")
    length = int.from_bytes(png[start - 4 : start], "big")
    chunk = b"IDAT" + png[start + 4 : start + 6] + b"\xff" * (length - 2)
    return png[:start] + chunk + zlib.crc32(chunk).to_bytes(4, "big") + png[start + 4 + length + 4 :]


def session_with_pngs(path: Path, steps: list[dict], pngs: dict[int, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("session.json", json.dumps(manifest(steps)))
        for step_id, png in pngs.items():
            zf.writestr(f"steps/step-{step_id:05d}.png", png)
    return path


@pytest.mark.parametrize(
    "bad", [lying_png(64, 64), lying_png(5, 4), scrambled_idat()], ids=["larger", "wider", "scrambled"]
)
def test_a_step_with_damaged_pixels_opens_and_only_that_step_is_refused(tmp_path, capsys, bad):
    from mgie_desktop.core.history import DamagedImage

    steps = [
        {"id": 0, "parent": None},
        {"id": 1, "parent": 0, "instruction": "x"},
        {"id": 2, "parent": 1, "instruction": "y"},
    ]
    path = session_with_pngs(tmp_path / "hurt.mgie", steps, {0: PNG, 1: bad, 2: tiny_png((9, 9, 9))})
    session = open_session(path, tmp_path / "work")
    try:
        assert session.history.image(0).size == (4, 4) and session.history.image(2).getpixel((0, 0)) == (
            9,
            9,
            9,
        )
        for _ in range(2):
            with pytest.raises(DamagedImage, match=r"^the image of step 1 is damaged and cannot be shown"):
                session.history.image(1)  # was Pillow's OSError: a traceback in the window
        assert session.history.store.damaged.keys() == {1}
        saved = save_session(session.history, tmp_path / "again.mgie", session.source)
    finally:
        session.close()
    with zipfile.ZipFile(saved) as zf:
        assert zf.read("steps/step-00001.png") == bad  # nothing lost: saved as it came
    code, out, err = cli(capsys, "session", "info", path)
    assert code == 0 and "#1" in out and not err


def test_exporting_a_recipe_through_a_damaged_step_is_one_line(tmp_path, capsys):
    steps = [
        {"id": 0, "parent": None},
        {"id": 1, "parent": 0, "instruction": "x"},
        {"id": 2, "parent": 1, "params": {"geometry": {"op": "crop", "box": [0, 0, 2, 2]}}},
    ]
    path = session_with_pngs(
        tmp_path / "crop.mgie", steps, {0: PNG, 1: lying_png(64, 64), 2: tiny_png(size=(2, 2))}
    )
    code, _, err = cli(capsys, "recipe", "export", path, "-o", tmp_path / "r.json")  # reads step 1's size
    refused_in_one_line(code, err, "step 1", "damaged")
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------- properties

HOSTILE_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64),
    st.sampled_from([10**4000, -(10**4000), 2**63, -(2**63) - 1, float("nan"), float("inf"), 1e400]),
)
# Any character, with lone surrogates, controls and format characters (bidi) drawn often.
ANY_CHARACTER = st.characters() | st.characters(categories=["Cs", "Cc", "Cf"])
HOSTILE_TEXT = st.text(ANY_CHARACTER, max_size=40) | st.sampled_from(
    [ESCAPES, "\ud800", "\udcff" * 3, "x" * 100_000, "\u202e", ""]
)
SCALARS = st.none() | st.booleans() | HOSTILE_NUMBERS | HOSTILE_TEXT
# The known-bad first, half the time: arbitrary values alone rarely land NaN on 'saved'.
KNOWN_BAD = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        10**4000,
        2**64,
        -1,
        1e300,
        "\ud800",
        ESCAPES,
        "\x9b2J",
        {"seed": float("nan")},
        {"geometry": {"angle": float("inf")}},
        {"\udcff": 1},
        [[[[]]]],
        {},
        [],
        "",
        True,
        None,
    ]
)
JSON_VALUES = KNOWN_BAD | st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=20,
)
FIELDS = [
    "id",
    "parent",
    "instruction",
    "expressive_instruction",
    "steered_instruction",
    "mask",
    "params",
    "timings",
    "created",
    "redo_child",
    "image",
]
TOP_FIELDS = ["format", "version", "app", "saved", "current", "steps", "source"]


def dump(value: object) -> str:
    """JSON as any writer might produce it, Python's limits aside (a 5000-digit int, NaN)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return repr_int(value)
    if isinstance(value, float):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)  # escapes lone surrogates as \\udxxx, as a hostile writer may
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"


def repr_int(value: int) -> str:
    if abs(value) < 10**4000:
        return str(value)
    return ("-" if value < 0 else "") + "9" * 5000  # past what Python parses by default


def base_steps(count: int, branchy: bool) -> list[dict]:
    return [
        {
            "id": i,
            "parent": None if i == 0 else (i // 2 if branchy else i - 1),
            "instruction": f"edit {i}",
            "params": {"seed": i, "strength": 1.0},
            "created": 1_700_000_000.0 + i,
        }
        for i in range(count)
    ]


def accepted_or_refused(path: Path, work: Path) -> None:
    """The one property: every reader either works or raises InputError; nothing else. What
    opens can be saved again and described."""
    try:
        text = format_session_info(session_info(path))
        assert not has_controls(text)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
    try:
        session = open_session(path, work)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        event(f"refused: {str(exc).split(': ', 1)[-1][:40]}")
        return
    event("accepted")
    try:
        for step in session.history.steps:  # each shows, or says in one line why it cannot
            try:
                session.history.image(step.id)
            except InputError as exc:
                assert "\n" not in str(exc) and len(str(exc)) < 400
        save_session(session.history, work.with_suffix(".mgie"), session.source)
    finally:
        session.close()


PROPERTY = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@PROPERTY
@given(
    count=st.integers(1, 12),
    branchy=st.booleans(),
    index=st.integers(0, 11),
    field=st.sampled_from(FIELDS),
    value=JSON_VALUES,
)
def test_any_value_in_any_step_field(count, branchy, index, field, value):
    steps = base_steps(count, branchy)
    body = json.dumps(manifest(steps)).replace(
        json.dumps(steps[index % count]),
        json.dumps(steps[index % count])[:-1] + f', "{field}": {dump(value)}}}',
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_session(Path(tmp) / "p.mgie", body, range(count))
        accepted_or_refused(path, Path(tmp) / "work")


@PROPERTY
@given(
    count=st.integers(2, 6),
    field=st.sampled_from(["instruction", "expressive_instruction", "steered_instruction", "mask"]),
    text=st.sampled_from(["\ud800", "\udcff", ESCAPES, "\x9b2J", "\x00", "a\u202eb"]) | HOSTILE_TEXT,
)
def test_any_text_in_an_edit_step(count, field, text):
    steps = base_steps(count, False)
    steps[-1][field] = text
    with tempfile.TemporaryDirectory() as tmp:
        path = write_session(Path(tmp) / "p.mgie", json.dumps(manifest(steps)), range(count))
        accepted_or_refused(path, Path(tmp) / "work")


@PROPERTY
@given(field=st.sampled_from(TOP_FIELDS), value=JSON_VALUES)
def test_any_value_in_any_top_field(field, value):
    m = manifest(base_steps(3, True))
    body = json.dumps(m)[:-1] + f', "{field}": {dump(value)}}}'  # the last of a repeated key wins
    with tempfile.TemporaryDirectory() as tmp:
        path = write_session(Path(tmp) / "p.mgie", body, range(3))
        accepted_or_refused(path, Path(tmp) / "work")


@settings(max_examples=25, deadline=None)
@given(
    depth=st.integers(1, 200_000),
    opener=st.sampled_from(["[", '{"a":']),
    where=st.sampled_from(["params", "timings", "app", "source", "top"]),
)
def test_deep_nesting(depth, opener, where):
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "0" + closer * depth
    m = manifest(base_steps(2, False))
    body = json.dumps(m)
    if where == "top":
        body = body[:-1] + f', "extra": {nested}}}'
    elif where == "params":
        body = body.replace('"params": {"seed": 1,', f'"params": {{"deep": {nested}, "seed": 1,')
    elif where == "timings":
        body = body.replace(
            '"instruction": "edit 1"', f'"instruction": "edit 1", "timings": {{"deep": {nested}}}'
        )
    else:
        body = body.replace(f'"{where}": {{', f'"{where}": {{"deep": {nested}, ')
    assert "deep" in body or where == "top"
    with tempfile.TemporaryDirectory() as tmp:
        path = write_session(Path(tmp) / "p.mgie", body, range(2))
        accepted_or_refused(path, Path(tmp) / "work")


@settings(max_examples=30, deadline=None)
@given(width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1), count=st.integers(1, 80))
def test_huge_image_sizes_and_many_steps(width, height, count):
    head = lying_png(width, height)
    old = limits.MAX_STEPS
    limits.MAX_STEPS = 50  # the same check as at 10 000, in milliseconds
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_session(
                Path(tmp) / "p.mgie", json.dumps(manifest(base_steps(count, False))), range(count), png=head
            )
            accepted_or_refused(path, Path(tmp) / "work")
    finally:
        limits.MAX_STEPS = old


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_manifest_bytes(raw):
    with tempfile.TemporaryDirectory() as tmp:
        accepted_or_refused(write_session(Path(tmp) / "p.mgie", raw), Path(tmp) / "work")


@settings(max_examples=200, deadline=None)
@given(text=st.text(ANY_CHARACTER) | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_check_text_accepts_or_refuses_any_text(text):
    try:
        check_text(text)
        text.encode("utf-8")
    except InputError as exc:
        assert str(exc) == "the instruction is not valid text (invalid UTF-8 or a lone surrogate)"
    shown = display_text(text, keep_newlines=True)
    assert not has_controls(shown)
    shown.encode("utf-8")


def test_texts_that_look_like_html_are_shown_as_text(qtbot):
    """An instruction such as '<b>bold</b> sky' is shown with its tags, never rendered as markup."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    from mgie_desktop.ui.plain_text import plain_label, plain_tooltip

    label = plain_label("make the <b>sky</b> & sea\x1b[2J")
    qtbot.addWidget(label)
    assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == "make the <b>sky</b> & sea"
    shown = QLabel(plain_tooltip("<b>sky</b> & sea\nMGIE: more"))
    qtbot.addWidget(shown)
    assert "&lt;b&gt;sky&lt;/b&gt; &amp; sea\nMGIE: more" in shown.text()
