"""Edits limited to a brushed region (issue 12): white edits, black keeps, and nothing outside
the mask's soft edge changes by a single bit."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.masks import composite, fit_mask, mask_from_text, mask_to_text, read_mask
from mgie_desktop.core.params import EditParams

PARAMS = EditParams(steps=3, seed=5, pixel_budget=64 * 64)


def _left_half(size=(40, 30)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=255)
    return mask


def test_a_mask_file_is_read_in_any_mode_and_an_empty_or_unreadable_one_is_refused(tmp_path):
    rgba = Image.new("RGBA", (20, 10), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (0, 0, 10, 10))  # transparent parts keep
    rgba.save(tmp_path / "rgba.png")
    grey = read_mask(tmp_path / "rgba.png")
    assert grey.mode == "L" and grey.getpixel((2, 2)) == 255 and grey.getpixel((15, 2)) == 0
    Image.new("L", (8, 8), 0).save(tmp_path / "black.png")
    with pytest.raises(InputError, match="the mask is empty"):
        read_mask(tmp_path / "black.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG nope")
    with pytest.raises(InputError, match="cannot read the mask"):
        read_mask(tmp_path / "junk.png")


def test_compositing_keeps_every_pixel_beyond_the_soft_edge_and_a_stored_mask_round_trips():
    original, edited = (
        Image.new("RGB", (200, 100), (10, 20, 30)),
        Image.new("RGB", (200, 100), (200, 100, 50)),
    )
    fitted = fit_mask(_left_half(), original.size)
    out = np.asarray(composite(edited, original, fitted))
    weights = np.asarray(fitted)
    assert (out[weights == 0] == (10, 20, 30)).all() and (out[weights == 255] == (200, 100, 50)).all()
    assert 0 < (weights % 255).astype(bool).sum()  # a soft edge exists
    big = _left_half((3000, 1000))
    stored = mask_from_text(mask_to_text(big))
    assert max(stored.size) == 1024 and stored.getpixel((10, 10)) == 255 and stored.getpixel((1000, 10)) == 0
    with pytest.raises(InputError, match="damaged"):
        mask_from_text("not base64 at all!")
    import base64
    import io

    broken = io.BytesIO()
    _left_half().save(broken, "PNG")
    with pytest.raises(InputError, match="damaged"):  # a hostile session: a PNG cut short
        mask_from_text(base64.b64encode(broken.getvalue()[:60]).decode())


@pytest.mark.parametrize("side", [(96, 64), (300, 200)])  # at working size, and carried to a larger photo
def test_a_masked_edit_leaves_the_outside_bit_identical(engine, side):
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (side[1], side[0], 3), dtype=np.uint8), "RGB")
    guide = engine.instruct(photo, "make the sky a sunset")
    mask = _left_half()
    masked = np.asarray(engine.render(photo, guide.conditioning, PARAMS, mask=mask))
    plain = np.asarray(engine.render(photo, guide.conditioning, PARAMS))
    weights = np.asarray(fit_mask(mask, photo.size))
    original = np.asarray(photo)
    assert (masked[weights == 0] == original[weights == 0]).all()
    inside = weights == 255
    assert (masked[inside] != original[inside]).any() and (plain[~inside] != original[~inside]).any()


@pytest.mark.parametrize("scheduler", ["euler_a", "dpmpp_2m", "ddim", "unipc", "euler"])
def test_every_sampler_keeps_the_outside_of_the_mask(engine, photo, scheduler):
    guide = engine.instruct(photo, "make the sky a sunset")
    params = EditParams(steps=3, seed=5, pixel_budget=64 * 64, scheduler=scheduler)
    masked = np.asarray(engine.render(photo, guide.conditioning, params, mask=_left_half()))
    weights = np.asarray(fit_mask(_left_half(), photo.size))
    assert (masked[weights == 0] == np.asarray(photo)[weights == 0]).all()
    assert (masked[weights == 255] != np.asarray(photo)[weights == 255]).any()


def test_an_all_white_mask_gives_the_unmasked_edit_and_an_empty_one_is_refused(engine, photo):
    guide = engine.instruct(photo, "make the sky a sunset")
    plain = engine.render(photo, guide.conditioning, PARAMS)
    white = engine.render(photo, guide.conditioning, PARAMS, mask=Image.new("L", (7, 5), 255))
    assert plain.tobytes() == white.tobytes()
    with pytest.raises(InputError, match="the mask is empty"):
        engine.edit(photo, "make the sky a sunset", PARAMS, mask=Image.new("L", (7, 5), 0))


def test_the_cli_edits_inside_the_mask_and_keeps_it_with_the_step(tiny_models, photo_path, tmp_path, capsys):
    from mgie_desktop.cli import main

    mask_path, out, session = tmp_path / "mask.png", tmp_path / "out.png", tmp_path / "masked.mgie"
    _left_half((12, 8)).save(mask_path)
    assert (
        main(
            [
                "edit",
                str(photo_path),
                "-i",
                "add snow",
                "--mask",
                str(mask_path),
                "-o",
                str(out),
                "--models",
                str(tiny_models),
                "--steps",
                "2",
                "--precision",
                "fp32",
                "--session",
                str(session),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["mask"] == str(mask_path) and report["edits"][0]["masked"] is True
    result, original = (
        np.asarray(Image.open(out).convert("RGB")),
        np.asarray(Image.open(photo_path).convert("RGB")),
    )
    weights = np.asarray(fit_mask(Image.open(mask_path), (96, 64)))
    assert (result[weights == 0] == original[weights == 0]).all()
    assert main(["session", "info", str(session), "--json"]) == 0
    steps = [s for s in json.loads(capsys.readouterr().out)["steps"] if s["instruction"]]
    assert steps[0]["masked"] is True


@pytest.mark.parametrize("kind", ["empty", "unreadable"])
def test_the_cli_refuses_an_empty_or_unreadable_mask_with_exit_2_and_writes_nothing(
    tiny_models, photo_path, tmp_path, capsys, kind
):
    from mgie_desktop.cli import main

    mask_path, out = tmp_path / "mask.png", tmp_path / "out.png"
    if kind == "empty":
        Image.new("L", (10, 10), 0).save(mask_path)
    else:
        mask_path.write_bytes(b"garbage")
    assert (
        main(
            [
                "edit",
                str(photo_path),
                "-i",
                "add snow",
                "--mask",
                str(mask_path),
                "-o",
                str(out),
                "--models",
                str(tiny_models),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert not out.exists() and len(err.strip().splitlines()) == 1
    assert ("the mask is empty" if kind == "empty" else "cannot read the mask") in err
