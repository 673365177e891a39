"""``batch --contact-sheet``, the review file and re-renders, on tiny models: the sheet's pages,
what each cell says, a finished batch that makes its sheet without loading the models, broken
photos as placeholders, and a photo rejected in review rendered again with the seed or the
expressive instruction asked for while the others are skipped.

One batch (three photos and a broken one, 64x48, one render step at a 64x64 budget) is run once
for the module; tests that change its folder work on a copy."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgie_desktop.batch.contact_sheet import (
    A4,
    SheetLayout,
    cell_lines,
    font,
    is_sheet_page,
    page_paths,
    status_text,
    wrap,
    write_contact_sheet,
)
from mgie_desktop.batch.overview import DAMAGED, BatchPhoto, PhotoStatus, overview_of_folder
from mgie_desktop.batch.review import (
    Decision,
    PhotoReview,
    Rerender,
    ReviewError,
    pending,
    read_review,
    write_review,
)
from mgie_desktop.batch.thumbnails import ThumbnailError, thumbnail
from mgie_desktop.cli import main
from mgie_desktop.core.errors import InputError

INSTRUCTIONS = ("make it warmer", "add snow")
GOOD = ("a.png", "b.png", "c.png")
BROKEN = "d.jpg"


def _photo(index: int) -> Image.Image:
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 3 + index * 40, y * 4 + index * 20, (x + y) * 2], axis=-1) % 256
    rgb[10:30, 20:40] = (250, 200 - index * 50, 40)
    return Image.fromarray(rgb.astype("uint8"), "RGB")


def _recipe(path: Path, last_model: str = "mgie") -> Path:
    def step(text, model="mgie", seed=None):
        return {
            "kind": "edit",
            "instruction": text,
            "model": model,
            "preset": "draft",
            "steps": 1,
            "pixel_budget": 64 * 64,
            "seed": {"policy": "fixed", "value": seed} if seed is not None else {"policy": "file_name"},
        }

    data = {
        "format": "mgie-recipe",
        "version": 1,
        "source": {"photo": "a.png"},
        "finish": "detail",
        "steps": [step(INSTRUCTIONS[0]), step(INSTRUCTIONS[1], last_model, seed=7)],
    }
    path.write_text(json.dumps(data))
    return path


def _batch(root: Path, models: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "batch",
            str(root / "look.json"),
            str(root / "in"),
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


def _rendered(monkeypatch) -> list:
    """The name of every photo rendered, and the job it was rendered for."""
    from mgie_desktop.batch.photo import PhotoEditor

    rendered, real_edit = [], PhotoEditor._edit

    def edit(self, job, *args, **kwargs):
        rendered.append(job)
        return real_edit(self, job, *args, **kwargs)

    monkeypatch.setattr(PhotoEditor, "_edit", edit)
    return rendered


def _engines(monkeypatch) -> list:
    from mgie_desktop.batch.photo import PhotoEditor

    made, real_init = [], PhotoEditor.__init__

    def init(self, *args, **kwargs):
        made.append(True)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(PhotoEditor, "__init__", init)
    return made


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, emitting_models):
    """A finished batch (one photo failed: a broken file) and its contact sheet."""
    root = tmp_path_factory.mktemp("review")
    photos = root / "in"
    photos.mkdir()
    for index, name in enumerate(GOOD):
        _photo(index).save(photos / name)
    (photos / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    _recipe(root / "look.json")
    out, sheet = root / "out", root / "sheet.jpg"
    code = _batch(root, emitting_models, out, "--contact-sheet", str(sheet))
    return {"root": root, "out": out, "sheet": sheet, "code": code, "models": emitting_models}


@pytest.fixture
def copy(finished, tmp_path):
    """The finished batch's folders, copied, its results lines naming the copies."""
    root = tmp_path / "copy"
    shutil.copytree(finished["root"], root)
    results = root / "out" / "results.jsonl"
    results.write_text(results.read_text().replace(str(finished["root"]), str(root)))
    return root


# ---- the sheet ---------------------------------------------------------------------------------
def _ink(region: Image.Image) -> int:
    """How many pixels of ``region`` are not near white."""
    grey = np.asarray(region.convert("L"))
    return int((grey < 200).sum())


def test_a_batch_writes_a_printable_sheet(finished, capsys):
    assert finished["code"] == 1  # the broken photo failed; the rest are done
    with Image.open(finished["sheet"]) as page:
        assert page.format == "JPEG" and page.size == (A4.width, A4.height)
        assert tuple(round(d) for d in page.info["dpi"]) == (150, 150)
        page = page.convert("RGB")
    assert not Path(str(finished["sheet"]).replace("sheet", "sheet-2")).exists()  # four photos: one page
    box, (cell_w, _) = A4.thumb_box, A4.cell_size
    for index in range(4):
        x, y = A4.cell_origin(index)
        before = page.crop((x, y, x + box[0], y + box[1]))
        after = page.crop((x + box[0] + 10, y, x + 2 * box[0] + 10, y + box[1]))
        text = page.crop((x, y + box[1] + 26, x + cell_w, y + box[1] + 60))  # the name's line
        assert _ink(text) > 50, index
        if index < 3:  # a photo and its edit: colour, not a grey placeholder
            assert np.asarray(before).std() > 20 and np.asarray(after).std() > 20, index
        else:  # the broken photo: grey boxes with their reason
            assert np.asarray(before).std() < 40 and 200 < np.asarray(before).mean() < 245
    x, y = A4.cell_origin(4)
    assert _ink(page.crop((x, y, x + cell_w, y + 100))) == 0  # nothing past the last photo


def test_each_cell_says_name_steps_expressive_and_status(finished):
    overview = overview_of_folder(finished["out"])
    photos = {p.name: p for p in overview.photos}
    assert overview.instructions == INSTRUCTIONS and overview.fmt == "png"
    lines = [text for text, *_ in cell_lines(photos["a.png"], overview.instructions)]
    assert lines[0] == "a.png"
    assert lines[1] == "make it warmer · MGIE: “The sky will be orange.”"
    assert lines[2].startswith("add snow · MGIE: ")
    assert lines[3].startswith("OK, seeds ") and lines[3].endswith(", 7")
    failed = photos[BROKEN]
    assert failed.status is PhotoStatus.FAILED and failed.after is None
    assert status_text(failed).startswith("FAILED: cannot open") and "damaged" in status_text(failed)


def test_a_finished_batch_makes_its_sheet_without_loading_the_models(finished, copy, monkeypatch, capsys):
    made, out = _engines(monkeypatch), copy / "out"
    (copy / "in" / BROKEN).unlink()  # every photo left is done: nothing to edit
    sheet = copy / "again.png"
    assert _batch(copy, finished["models"], out, "--contact-sheet", str(sheet)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["skipped"], summary["contact_sheet"]) == (0, 3, [str(sheet)])
    assert not made and sheet.is_file()
    # A failed photo would be tried again (so the models would load): --sheet-only edits nothing.
    (copy / "in" / BROKEN).write_bytes(b"broken")
    sheet.unlink()
    assert _batch(copy, finished["models"], out, "--contact-sheet", str(sheet), "--sheet-only") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["ok"], summary["failed"], summary["photos"]) == (3, 1, 4)
    assert not made and sheet.is_file()


def test_more_photos_than_a_page_make_numbered_pages_and_old_extra_pages_go(finished, tmp_path):
    overview = overview_of_folder(finished["out"])
    small = SheetLayout(columns=1, rows=1)
    path = tmp_path / "sheet.png"
    (tmp_path / "sheet-7.png").write_bytes(b"not ours: not the next page of this sheet")
    assert write_contact_sheet(overview, path, small) == page_paths(path, 4)
    assert [p.name for p in page_paths(path, 3)] == ["sheet.png", "sheet-2.png", "sheet-3.png"]
    two = SheetLayout(columns=2, rows=1)
    assert write_contact_sheet(overview, path, two) == page_paths(path, 2)
    assert not (tmp_path / "sheet-3.png").exists() and not (tmp_path / "sheet-4.png").exists()
    assert (tmp_path / "sheet-7.png").exists()
    assert A4.pages(0) == 1 and A4.pages(8) == 1 and A4.pages(9) == 2


def test_only_the_sheets_own_pages_are_removed_never_a_photo_named_like_one(finished, tmp_path):
    overview = overview_of_folder(finished["out"])
    sheet = tmp_path / "holiday.jpg"
    for number in (2, 3):  # the person's own photos, named as pages of the sheet would be
        _photo(number).save(tmp_path / f"holiday-{number}.jpg")
    mine = {n: (tmp_path / f"holiday-{n}.jpg").read_bytes() for n in (2, 3)}
    assert write_contact_sheet(overview, sheet) == [sheet]  # four photos: one page
    assert {n: (tmp_path / f"holiday-{n}.jpg").read_bytes() for n in (2, 3)} == mine
    assert is_sheet_page(sheet) and not is_sheet_page(tmp_path / "holiday-2.jpg")
    # A longer sheet of the same name made before: its own extra pages go, up to a file not its own.
    for suffix in (".jpg", ".png"):
        path = tmp_path / f"old{suffix}"
        pages = write_contact_sheet(overview, path, SheetLayout(columns=1, rows=1))
        assert len(pages) == 4 and all(is_sheet_page(p) for p in pages)
        _photo(5).save(tmp_path / f"old-6{suffix}")  # after a gap-free run of pages: still a photo
        (tmp_path / f"old-5{suffix}").write_bytes((tmp_path / f"old-6{suffix}").read_bytes())
        assert write_contact_sheet(overview, path, SheetLayout(columns=2, rows=1)) == page_paths(path, 2)
        assert not (tmp_path / f"old-3{suffix}").exists() and not (tmp_path / f"old-4{suffix}").exists()
        assert (tmp_path / f"old-5{suffix}").exists() and (tmp_path / f"old-6{suffix}").exists()
    # A sheet whose later pages would land on the person's photos is refused, writing nothing.
    before = {n: (tmp_path / f"holiday-{n}.jpg").read_bytes() for n in (2, 3)}
    with pytest.raises(InputError, match=r"page holiday-2\.jpg would replace a file that is not") as caught:
        write_contact_sheet(overview, sheet, SheetLayout(columns=1, rows=1))
    assert "\n" not in str(caught.value)
    assert {n: (tmp_path / f"holiday-{n}.jpg").read_bytes() for n in (2, 3)} == before


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--contact-sheet", "{tmp}/sheet.gif"], "give a .jpg or .png file name"),
        (["--contact-sheet", "{tmp}/nowhere/sheet.jpg"], "does not exist"),
        (["--contact-sheet", "{tmp}/s.jpg", "--watch"], "leave out --watch"),
        (["--sheet-only"], "--sheet-only goes with --contact-sheet"),
        (["--contact-sheet", "{copy}/in/sheet.jpg"], "would read it as a photo"),
    ],
)
def test_a_sheet_that_cannot_be_made_is_refused_before_the_models_load(
    finished, copy, monkeypatch, capsys, tmp_path, flags, said
):
    made = _engines(monkeypatch)
    flags = [f.format(tmp=tmp_path, copy=copy) for f in flags]
    assert _batch(copy, finished["models"], copy / "out", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err and "Traceback" not in err and not made


def test_thumbnails_of_bad_files_say_why(tmp_path):
    with pytest.raises(ThumbnailError, match="missing"):
        thumbnail(tmp_path / "gone.jpg", (100, 100))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    with pytest.raises(ThumbnailError, match="damaged"):
        thumbnail(tmp_path / "bad.jpg", (100, 100))
    big = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(big)
    small = thumbnail(big, (200, 150))
    assert small.size == (200, 150) and small.mode == "RGB"
    assert abs(small.getpixel((100, 75))[0] - 200) < 8  # a scaled decode (draft), still the colour
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held upright: shown turned, as every viewer shows it
    Image.new("RGB", (300, 200), "white").save(turned, exif=exif)
    assert thumbnail(turned, (100, 100)).size == (67, 100)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"


def test_a_thumbnail_never_asks_eps_and_ghostscript_of_a_disguised_file(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    Image.init()
    asked = []
    factory, accept = Image.OPEN["EPS"]

    def spy_accept(prefix):
        asked.append("accept")
        return accept(prefix)

    def spy_factory(*args, **kwargs):
        asked.append("open")
        return factory(*args, **kwargs)

    monkeypatch.setitem(Image.OPEN, "EPS", (spy_factory, spy_accept))
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: asked.append("ghostscript"))
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    disguised = tmp_path / "x.jpg"
    disguised.write_bytes(EPS)
    with pytest.raises(ThumbnailError, match="damaged"):
        thumbnail(disguised, (100, 100))
    assert asked == []
    sheet = tmp_path / "pair.png"  # the sheet's own cells: a grey box, no traceback
    from mgie_desktop.batch.thumbnails import pair_image

    pair_image(disguised, disguised, "", 64).save(sheet)
    assert asked == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_thumbnail_of_a_fifo_or_a_folder_is_a_placeholder_at_once(tmp_path):
    fifo = tmp_path / "frame.jpg"
    os.mkfifo(fifo)
    said: list[str] = []

    def show():
        try:
            thumbnail(fifo, (100, 100))
        except ThumbnailError as exc:
            said.append(str(exc))

    reader = threading.Thread(target=show, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # blocked opening the FIFO: a writer lets it go, then the test fails
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    assert said == ["unsupported"]
    with pytest.raises(ThumbnailError, match="unsupported"):
        thumbnail(tmp_path, (100, 100))
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ThumbnailError, match="damaged"):
        thumbnail(tmp_path / "empty.jpg", (100, 100))


def test_long_text_wraps_and_ends_in_an_ellipsis():
    face = font(16)
    lines = wrap("word " * 200, face, 300, 2)
    assert len(lines) == 2 and lines[-1].endswith("...")
    assert all(face.getlength(line) <= 300 for line in lines)
    cut = wrap("x" * 500, face, 100, 10)  # one word wider than a line is cut, not overflowing
    assert all(face.getlength(line) <= 100 for line in cut)


def test_damaged_results_lines_show_as_failures_not_tracebacks(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    lines = [
        {"photo": "ok.png", "status": "ok", "output": str(out / "ok.png"), "seeds": ["x"]},
        {"photo": "odd.png", "status": "maybe", "output": 3},
        {"photo": "fine.png", "status": "failed", "output": "x", "error": "boom", "source": 5},
        ["not", "an", "object"],
    ]
    (out / "results.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n{torn")
    overview = overview_of_folder(out)
    photos = {p.name: p for p in overview.photos}
    assert photos["ok.png"].error == DAMAGED and photos["odd.png"].error == DAMAGED
    assert photos["fine.png"].error == "boom" and photos["fine.png"].before is None
    write_contact_sheet(overview, tmp_path / "sheet.jpg")  # placeholders, no exception
    with pytest.raises(InputError, match="holds no batch results"):
        overview_of_folder(tmp_path)


# ---- review.json -------------------------------------------------------------------------------
def test_decisions_round_trip_and_undecided_photos_are_left_out(tmp_path):
    reviews = {
        "a.png": PhotoReview(Decision.APPROVED),
        "b.png": PhotoReview(Decision.REJECTED, Rerender(seed=42, expressive="Snow on the roofs.")),
        "c.png": PhotoReview(),
    }
    write_review(tmp_path, reviews)
    assert read_review(tmp_path) == {k: v for k, v in reviews.items() if k != "c.png"}
    assert json.loads((tmp_path / "review.json").read_text())["photos"]["b.png"] == {
        "decision": "rejected",
        "rerender": {"seed": 42, "expressive": "Snow on the roofs."},
    }
    assert read_review(tmp_path / "none") == {}
    with pytest.raises(InputError, match="only a rejected photo"):
        PhotoReview(Decision.APPROVED, Rerender(seed=1))
    with pytest.raises(InputError, match="a new seed or an expressive"):
        Rerender()
    with pytest.raises(InputError, match="the seed must be from 0"):
        Rerender(seed=-1)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfe", "not JSON text"),
        (b"[]", "not an MGIE review file"),
        (b'{"format": "mgie-review", "version": 99}', "newer version"),
        (b'{"format": "mgie-review", "version": 1, "photos": []}', '"photos" must be an object'),
        (
            b'{"format": "mgie-review", "version": 1, "photos": {"a": {"decision": "maybe"}}}',
            "'a': \"decision\"",
        ),
        (
            b'{"format": "mgie-review", "version": 1, "photos": {"a": {"decision": "rejected", '
            b'"rerender": {"seed": 1e400}}}}',
            '"seed" must be a whole number',
        ),
        (
            b'{"format": "mgie-review", "version": 1, "photos": {"a": {"decision": "rejected", '
            b'"rerender": {"seed": 99999999999999999999999}}}}',
            "the seed must be from 0",
        ),
        (b"[" * 100000 + b"]" * 100000, "not JSON text"),
    ],
)
def test_a_hostile_review_file_is_one_line(tmp_path, content, said):
    (tmp_path / "review.json").write_bytes(content)
    with pytest.raises(ReviewError) as caught:
        read_review(tmp_path)
    text = str(caught.value)
    assert said in text and "\n" not in text and str(tmp_path / "review.json") in text


def test_a_hostile_review_file_stops_the_batch_before_the_models_load(finished, copy, monkeypatch, capsys):
    made = _engines(monkeypatch)
    (copy / "out" / "review.json").write_text('{"format": "mgie-review", "version": 1, "photos": 3}')
    assert _batch(copy, finished["models"], copy / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "review file" in err and not made


def _results_folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    line = {"photo": "a.png", "status": "failed", "output": str(out / "a.png"), "error": "boom"}
    (out / "results.jsonl").write_text(json.dumps(line) + "\n")
    return out


def _not_a_review(out: Path, kind: str, monkeypatch) -> None:
    from mgie_desktop.batch import review

    path = out / "review.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        monkeypatch.setattr(review, "MAX_BYTES", 2**20)
        path.write_bytes(b" " * (2**20 + 1))


KINDS = [
    pytest.param("folder", "not a regular file"),
    pytest.param(
        "fifo",
        "not a regular file",
        marks=pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs"),
    ),
    pytest.param("large", "larger than 1 MB"),
]


@pytest.mark.parametrize(("kind", "said"), KINDS)
def test_a_review_file_that_is_no_file_or_too_large_is_one_line_and_the_sheet_still_shows(
    tmp_path, monkeypatch, kind, said
):
    out = _results_folder(tmp_path)
    _not_a_review(out, kind, monkeypatch)
    with pytest.raises(ReviewError) as caught:
        read_review(out)
    text = str(caught.value)
    assert said in text and str(out / "review.json") in text and "\n" not in text
    overview = overview_of_folder(out)  # the review window and the sheet: shown, saying why
    assert [p.name for p in overview.photos] == ["a.png"] and overview.reviews == {}
    assert overview.review_problem == text and text in overview.problems


@pytest.mark.parametrize(("kind", "said"), KINDS[:2])
def test_a_review_file_that_is_no_file_stops_the_batch_in_one_line_naming_it(
    finished, copy, monkeypatch, capsys, kind, said
):
    made = _engines(monkeypatch)
    _not_a_review(copy / "out", kind, monkeypatch)
    assert _batch(copy, finished["models"], copy / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err and str(copy / "out" / "review.json") in err
    assert "Traceback" not in err and not made


def test_a_file_name_that_is_not_utf8_is_saved_and_read_back_and_later_saves_go_on(tmp_path):
    odd = "caf\udce9.jpg"  # the bytes caf\xe9.jpg of a Latin-1 file name, as Python holds them
    reviews = {odd: PhotoReview(Decision.APPROVED), "b.png": PhotoReview(Decision.REJECTED, Rerender(seed=3))}
    write_review(tmp_path, reviews)
    assert read_review(tmp_path) == reviews
    reviews["c.png"] = PhotoReview(Decision.APPROVED)  # the next decision saves too
    write_review(tmp_path, reviews)
    assert read_review(tmp_path) == reviews
    (tmp_path / "review.json").read_text(encoding="ascii")


# ---- re-renders --------------------------------------------------------------------------------
def test_a_rejected_photo_is_rendered_again_with_its_new_seed_and_the_others_are_skipped(
    finished, copy, monkeypatch, capsys
):
    out = copy / "out"
    (copy / "in" / BROKEN).unlink()
    before = {line["photo"]: line for line in _lines(out)}
    write_review(
        out,
        {
            "a.png": PhotoReview(Decision.APPROVED),
            "b.png": PhotoReview(Decision.REJECTED, Rerender(seed=4242)),
            "c.png": PhotoReview(Decision.REJECTED),  # rejected, no re-render asked: left alone
        },
    )
    old_pixels = np.asarray(Image.open(out / "b.png"))
    rendered = _rendered(monkeypatch)
    assert _batch(copy, finished["models"], out, "--contact-sheet", str(copy / "s.jpg")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [job.name for job in rendered] == ["b.png"] and rendered[0].rerender == Rerender(seed=4242)
    assert (summary["done"], summary["skipped"], summary["rerendered"]) == (1, 2, 1)
    line = _lines(out)[-1]
    assert line["photo"] == "b.png" and line["seeds"] == [4242, 4242] != before["b.png"]["seeds"]
    assert line["rerender"] == {"seed": 4242} and line["status"] == "ok"
    assert not np.array_equal(np.asarray(Image.open(out / "b.png")), old_pixels)
    # The mark is cleared (the new render awaits review); the other decisions stay.
    assert read_review(out) == {
        "a.png": PhotoReview(Decision.APPROVED),
        "c.png": PhotoReview(Decision.REJECTED),
    }
    b = next(p for p in overview_of_folder(out).photos if p.name == "b.png")
    assert b.rerendered and "re-rendered" in status_text(b)
    rendered.clear()
    assert _batch(copy, finished["models"], out) == 0  # nothing asked any more: nothing rendered
    assert rendered == []


def test_a_corrected_expressive_instruction_steers_the_last_edit(finished, copy, monkeypatch, capsys):
    out = copy / "out"
    (copy / "in" / BROKEN).unlink()
    request = Rerender(expressive="Fresh snow lies on every branch.")
    write_review(out, {"c.png": PhotoReview(Decision.REJECTED, request)})
    rendered = _rendered(monkeypatch)
    assert _batch(copy, finished["models"], out) == 0
    assert [job.name for job in rendered] == ["c.png"]
    line = _lines(out)[-1]
    assert line["expressive_instructions"][-1] == request.expressive
    assert line["expressive_instructions"][0] != request.expressive  # the first step: MGIE's own
    assert read_review(out) == {}
    c = next(p for p in overview_of_folder(out).photos if p.name == "c.png")
    said = [text for text, *_ in cell_lines(c, INSTRUCTIONS)]
    assert said[1].startswith("make it warmer · MGIE: ")  # whose words each are
    assert said[2] == f"add snow · yours: “{request.expressive}”"


def test_a_made_re_render_is_not_made_again_if_its_mark_came_back(finished, copy, monkeypatch):
    """A window still showing the old review may write the request back: the results line says
    it was made, so the next run clears it without rendering."""
    out = copy / "out"
    (copy / "in" / BROKEN).unlink()
    request = PhotoReview(Decision.REJECTED, Rerender(seed=5))
    write_review(out, {"a.png": request})
    assert _batch(copy, finished["models"], out) == 0
    write_review(out, {"a.png": request})
    latest = {line["photo"]: line for line in _lines(out)}
    assert pending(read_review(out), latest) == {}
    rendered = _rendered(monkeypatch)
    assert _batch(copy, finished["models"], out) == 0
    assert rendered == [] and read_review(out) == {}


def test_overview_rerun_command_names_the_recipe_and_folders(finished):
    overview = overview_of_folder(finished["out"])
    command = overview.rerun_command()
    root = finished["root"].resolve()
    assert command.startswith("mgie-desktop batch ")
    assert str(root / "look.json") in command and str(root / "in") in command
    assert command.endswith("--format png")


def test_batch_photo_of_no_line_is_not_done():
    photo = BatchPhoto.from_line("x.png", None, None, PhotoReview())
    assert photo.status is PhotoStatus.NOT_DONE and status_text(photo).startswith("NOT DONE")
