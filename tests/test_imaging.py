"""Image I/O: every input mode to RGB, orientation, refusal of bad files, metadata-keeping atomic
saves, and carrying a small edit back to full resolution. Generated images only."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from mgie_desktop.core import files, imaging
from mgie_desktop.core.edit_record import record_from_xmp
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.imaging import Photo, carry_edit_to_full_resolution, load_photo, save_photo

RNG = np.random.default_rng(1234)


def pixels(im: Image.Image) -> list:
    """Pixel values in raster order: tuples for multi-band images, ints for one band."""
    arr = np.asarray(im)
    return (
        arr.reshape(-1).tolist()
        if arr.ndim == 2
        else [tuple(p) for p in arr.reshape(-1, arr.shape[2]).tolist()]
    )


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def noise_rgb(w: int, h: int) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8))


# --------------------------------------------------------------------------- modes


def _grey_ramp() -> np.ndarray:
    return np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))  # 8x16


def test_rgb_png(tmp_path):
    src = noise_rgb(16, 8)
    src.save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert isinstance(photo, Photo)
    assert photo.rgb.mode == "RGB" and photo.alpha is None
    assert photo.source_format == "PNG" and photo.source_mode == "RGB"
    assert photo.path == tmp_path / "a.png"
    assert np.array_equal(np.asarray(photo.rgb), np.asarray(src))


def test_rgba_png_keeps_alpha(tmp_path):
    rgba = np.dstack([np.asarray(noise_rgb(16, 8)), _grey_ramp()])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert photo.source_mode == "RGBA" and photo.rgb.mode == "RGB"
    assert np.array_equal(np.asarray(photo.rgb), rgba[:, :, :3])
    assert photo.alpha is not None and photo.alpha.mode == "L"
    assert np.array_equal(np.asarray(photo.alpha), rgba[:, :, 3])


def test_opaque_rgba_has_no_alpha(tmp_path):
    noise_rgb(8, 8).convert("RGBA").save(tmp_path / "a.png")
    assert load_photo(tmp_path / "a.png").alpha is None


def test_l_png(tmp_path):
    Image.fromarray(_grey_ramp()).save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert photo.source_mode == "L" and photo.alpha is None
    arr = np.asarray(photo.rgb)
    assert all(np.array_equal(arr[:, :, c], _grey_ramp()) for c in range(3))


def test_la_png(tmp_path):
    grey = _grey_ramp()
    a = 255 - grey
    Image.merge("LA", [Image.fromarray(grey), Image.fromarray(a)]).save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert photo.source_mode == "LA"
    assert np.array_equal(np.asarray(photo.rgb)[:, :, 1], grey)
    assert np.array_equal(np.asarray(photo.alpha), a)


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (4, 2))
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 1, 1, 0, 2, 2])
    im.info["transparency"] = 0
    im.save(tmp_path / "p.png", transparency=0)
    photo = load_photo(tmp_path / "p.png")
    assert photo.source_mode == "P"
    assert pixels(photo.alpha) == [0, 255, 255, 255, 255, 0, 255, 255]
    assert photo.rgb.getpixel((1, 0)) == (255, 0, 0)
    assert photo.rgb.getpixel((2, 0)) == (0, 255, 0)


def test_palette_gif_transparency(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6))
    im.putdata([0, 1])
    im.save(tmp_path / "p.gif", transparency=0)
    photo = load_photo(tmp_path / "p.gif")
    assert pixels(photo.alpha) == [0, 255]
    assert photo.rgb.getpixel((1, 0)) == (200, 100, 50)


def test_cmyk_tiff(tmp_path):
    cmyk = Image.new("CMYK", (4, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255), (0, 255, 255, 0)])
    cmyk.save(tmp_path / "c.tif")
    photo = load_photo(tmp_path / "c.tif")
    assert photo.source_mode == "CMYK" and photo.rgb.mode == "RGB" and photo.alpha is None
    assert photo.icc_profile is None
    assert pixels(photo.rgb) == [(255, 255, 255), (0, 255, 255), (0, 0, 0), (255, 0, 0)]


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    photo = load_photo(tmp_path / "c.jpg")
    assert photo.source_mode == "CMYK"
    r, g, b = photo.rgb.getpixel((8, 8))
    assert r > 240 and g < 15 and b < 15


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_scales_instead_of_clipping(tmp_path, ext):
    values = np.array([[0, 257 * 100, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / f"a{ext}")
    photo = load_photo(tmp_path / f"a{ext}")
    assert photo.source_mode.startswith("I")
    assert [p[0] for p in pixels(photo.rgb)] == [0, 100, 128, 255]


def test_16_bit_big_endian(tmp_path):
    values = np.array([[0, 257 * 7, 65535]], dtype=">u2")
    im = Image.fromarray(values)
    assert im.mode == "I;16B"
    photo_rgb, alpha, _ = imaging._to_rgb8(im, None)
    assert alpha is None
    assert [p[0] for p in pixels(photo_rgb)] == [0, 7, 255]


def test_32_bit_int(tmp_path):
    Image.fromarray(np.array([[0, 257 * 50, 65535, 70000]], dtype=np.int32)).save(tmp_path / "i.tif")
    photo = load_photo(tmp_path / "i.tif")
    assert photo.source_mode == "I"
    assert [p[0] for p in pixels(photo.rgb)] == [0, 50, 255, 255]


def test_float_unit_range(tmp_path):
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    photo = load_photo(tmp_path / "f.tif")
    assert photo.source_mode == "F"
    assert [p[0] for p in pixels(photo.rgb)] == [0, 128, 255]


def test_float_byte_range_clips(tmp_path):
    Image.fromarray(np.array([[-5.0, 100.4, 300.0, np.nan]], dtype=np.float32)).save(tmp_path / "f.tif")
    assert [p[0] for p in pixels(load_photo(tmp_path / "f.tif").rgb)] == [0, 100, 255, 0]


def test_one_bit(tmp_path):
    im = Image.new("1", (2, 1))
    im.putdata([0, 1])
    im.save(tmp_path / "b.png")
    photo = load_photo(tmp_path / "b.png")
    assert photo.source_mode == "1"
    assert pixels(photo.rgb) == [(0, 0, 0), (255, 255, 255)]


def test_bmp_and_webp(tmp_path):
    src = noise_rgb(8, 8)
    src.save(tmp_path / "a.bmp")
    src.save(tmp_path / "a.webp", lossless=True)
    for name in ("a.bmp", "a.webp"):
        assert np.array_equal(np.asarray(load_photo(tmp_path / name).rgb), np.asarray(src))


def test_grey_icc_is_not_attached_to_rgb(tmp_path):
    grey_icc = bytearray(srgb_icc())
    grey_icc[16:20] = b"GRAY"  # a corrupt grey profile: conversion fails, the profile must be dropped
    Image.fromarray(_grey_ramp()).save(tmp_path / "g.png", icc_profile=bytes(grey_icc))
    photo = load_photo(tmp_path / "g.png")
    assert photo.icc_profile is None
    assert np.array_equal(np.asarray(photo.rgb)[:, :, 0], _grey_ramp())


# --------------------------------------------------------------------------- orientation


def _oriented_jpeg(tmp_path, orientation: int):
    im = Image.new("RGB", (60, 40), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 12, 12))  # red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    path = tmp_path / f"o{orientation}.jpg"
    im.save(path, exif=exif, quality=95)
    return path


def _is_red(px) -> bool:
    return px[0] > 200 and px[1] < 60 and px[2] < 60


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(6, "top_right"), (8, "bottom_left")],  # 6: turn 90 clockwise to view; 8: 90 anticlockwise
)
def test_exif_orientation(tmp_path, orientation, corner):
    photo = load_photo(_oriented_jpeg(tmp_path, orientation))
    assert photo.rgb.size == (40, 60)
    w, h = photo.rgb.size
    spots = {
        "top_left": (3, 3),
        "top_right": (w - 4, 3),
        "bottom_left": (3, h - 4),
        "bottom_right": (w - 4, h - 4),
    }
    for name, xy in spots.items():
        assert _is_red(photo.rgb.getpixel(xy)) == (name == corner), name
    exif = Image.Exif()
    exif.load(photo.exif)
    assert exif[0x0112] == 1
    assert exif[0x010F] == "TestCam"


def test_orientation_rotates_alpha_too(tmp_path):
    im = Image.new("RGBA", (6, 4), (0, 0, 255, 255))
    im.putpixel((0, 0), (255, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / "a.png", exif=exif)
    photo = load_photo(tmp_path / "a.png")
    assert photo.rgb.size == photo.alpha.size == (4, 6)
    assert photo.alpha.getpixel((3, 0)) == 0 and photo.rgb.getpixel((3, 0)) == (255, 0, 0)


# --------------------------------------------------------------------------- bad files


def _truncated(tmp_path, ext):
    path = tmp_path / f"t{ext}"
    noise_rgb(256, 256).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated(tmp_path, ext):
    with pytest.raises(InputError, match=r"truncated|damaged"):
        load_photo(_truncated(tmp_path, ext))


def test_zero_bytes(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty") as info:
        load_photo(tmp_path / "e.jpg")
    assert "e.jpg" in str(info.value)


def test_text_file(tmp_path):
    (tmp_path / "notes.png").write_text("hello, not a picture\n")
    with pytest.raises(InputError, match="not a supported image"):
        load_photo(tmp_path / "notes.png")


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_photo(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="folder"):
        load_photo(tmp_path)


def test_refuses_other_pillow_formats(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.ppm")
    with pytest.raises(InputError, match="not a supported image"):
        load_photo(tmp_path / "a.ppm")


def _png_with_ihdr(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bomb_header(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_with_ihdr(100_000, 100_000))
    with pytest.raises(InputError, match="too large"):
        load_photo(tmp_path / "bomb.png")


@pytest.mark.parametrize("pixels", [1500, 100])  # 1500: Pillow only warns; 100: Pillow raises
def test_bomb_limit(tmp_path, monkeypatch, pixels):
    noise_rgb(40, 40).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels)
    with pytest.raises(InputError, match="too large"):
        load_photo(tmp_path / "a.png")


def test_heic_without_pillow_heif(tmp_path, monkeypatch):
    monkeypatch.setattr(imaging, "_register_heif", lambda: False)  # as on a system without the package
    (tmp_path / "a.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    with pytest.raises(InputError, match="pillow-heif"):
        load_photo(tmp_path / "a.heic")


# --------------------------------------------------------------------------- saving


def _read_exif(im: Image.Image) -> Image.Exif:
    return im.getexif()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
def test_save_round_trip_metadata(tmp_path, ext):
    icc = srgb_icc()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = 1
    exif[0x010E] = "Sunset over the bay"  # the photographer's caption
    record = {
        "format": "mgie-edit",
        "steps": [
            {
                "instruction": "make it snowy",
                "expressive_instruction": "add snow, café ☃ <&>",
                "settings": {"seed": 42},
            }
        ],
    }
    src = Image.fromarray(np.full((16, 24, 3), (200, 80, 40), dtype=np.uint8))
    out = tmp_path / f"out{ext}"
    save_photo(src, out, icc_profile=icc, exif=exif.tobytes(), record=record)

    with Image.open(out) as im:
        im.load()
        assert im.info.get("icc_profile") == icc
        got = im.getexif()
        assert got.get(0x010F) == "TestCam"
        assert got.get(0x010E) == "Sunset over the bay"  # kept, not overwritten by the record
        assert record_from_xmp(im.info.get("xmp")) == record
        if ext == ".png":
            assert json.loads(im.text["mgie:edit"]) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]

    photo = load_photo(out)  # and our own loader reads it back
    assert photo.icc_profile == icc
    r, g, b = photo.rgb.getpixel((5, 5))
    assert abs(r - 200) < 6 and abs(g - 80) < 6 and abs(b - 40) < 6


@pytest.mark.parametrize("ext", [".png", ".webp", ".tif"])
def test_save_keeps_alpha(tmp_path, ext):
    alpha = Image.fromarray(np.tile(np.array([0, 255], dtype=np.uint8), (8, 4)))
    photo = Photo(
        rgb=noise_rgb(8, 8),
        alpha=alpha,
        icc_profile=None,
        exif=None,
        source_format=None,
        source_mode="RGBA",
        path=None,
    )
    save_photo(photo, tmp_path / f"a{ext}")
    back = load_photo(tmp_path / f"a{ext}")
    assert back.alpha is not None
    assert np.array_equal(np.asarray(back.alpha), np.asarray(alpha))
    if ext != ".webp":
        assert np.array_equal(np.asarray(back.rgb), np.asarray(photo.rgb))


def test_png_alpha_is_exact_and_jpeg_flattens(tmp_path):
    src = load_photo_from(tmp_path, Image.new("RGBA", (8, 8), (0, 0, 0, 0)))
    save_photo(src, tmp_path / "flat.jpg")
    with Image.open(tmp_path / "flat.jpg") as im:
        assert im.mode == "RGB"
        assert all(c > 245 for c in im.getpixel((4, 4)))  # transparent areas become white


def load_photo_from(tmp_path, im: Image.Image) -> Photo:
    im.save(tmp_path / "src.png")
    return load_photo(tmp_path / "src.png")


def test_save_photo_carries_its_metadata(tmp_path):
    icc = srgb_icc()
    exif = Image.Exif()
    exif[0x0110] = "ModelX"
    noise_rgb(8, 8).save(tmp_path / "in.jpg", icc_profile=icc, exif=exif)
    photo = load_photo(tmp_path / "in.jpg")
    save_photo(photo, tmp_path / "out.png", record={"steps": [{"settings": {"seed": 7}}]})
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x0110] == "ModelX"
        assert json.loads(im.text["mgie:edit"]) == {"steps": [{"settings": {"seed": 7}}]}


def test_save_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="unknown file type"):
        save_photo(noise_rgb(4, 4), tmp_path / "a.gif")


def test_save_replaces_existing_file(tmp_path):
    out = tmp_path / "a.png"
    noise_rgb(4, 4).save(out)
    new = noise_rgb(6, 6)
    save_photo(new, out)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(new))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_save_into_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot write"):
            save_photo(noise_rgb(4, 4), folder / "a.png")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_save_read_only_folder_simulated(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)
    with pytest.raises(InputError, match="cannot write"):
        save_photo(noise_rgb(4, 4), tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_encoder_failure_leaves_nothing(tmp_path, monkeypatch, ext):
    out = tmp_path / f"a{ext}"
    before = noise_rgb(4, 4)
    before.save(out)
    original_bytes = out.read_bytes()

    def failing_save(self, fp, format=None, **params):
        fp.write(b"partial data")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(InputError, match="the disk is full"):
        save_photo(noise_rgb(8, 8), out)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert out.read_bytes() == original_bytes


def test_save_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        save_photo(noise_rgb(4, 4), tmp_path / "nope" / "a.png")


def test_png_text_chunks_are_itxt_for_unicode(tmp_path):
    save_photo(noise_rgb(4, 4), tmp_path / "a.png", record={"instruction": "нарисуй снег"})
    with Image.open(tmp_path / "a.png") as im:
        im.load()
        assert isinstance(im.text["mgie:edit"], PngImagePlugin.iTXt)
        assert json.loads(im.text["mgie:edit"]) == {"instruction": "нарисуй снег"}


# --------------------------------------------------------------------------- full resolution


def _laplacian_var(arr: np.ndarray) -> float:
    g = arr.astype(np.float32).mean(axis=2)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


@pytest.fixture(scope="module")
def edit_case():
    rng = np.random.default_rng(7)
    h, w = 1600, 2400
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 200 / w, yy * 200 / h, np.full((h, w), 120.0)], axis=2)
    texture = rng.normal(0, 18, (h, w, 1))
    original = Image.fromarray(np.clip(base + 20 + texture, 0, 255).astype(np.uint8))
    working_input = original.resize((600, 400), Image.Resampling.LANCZOS)
    result = working_input.copy()
    result.paste((220, 40, 40), (200, 100, 300, 200))  # the model "changed" only this rectangle
    return original, working_input, result


def test_carry_edit_detail(edit_case):
    original, working_input, result = edit_case
    out = carry_edit_to_full_resolution(original, working_input, result)
    assert out.size == original.size and out.mode == "RGB"
    o = np.asarray(original)
    r = np.asarray(out)

    # Rectangle at full size is x 800..1200, y 400..800; bicubic reaches ~2 small pixels (8 px) out.
    far = np.ones(o.shape[:2], dtype=bool)
    far[400 - 16 : 800 + 16, 800 - 16 : 1200 + 16] = False
    assert np.array_equal(r[far], o[far])

    inside = r[440:760, 840:1160].reshape(-1, 3).mean(axis=0)
    assert np.allclose(inside, (220, 40, 40), atol=4)

    # Fine texture survives (the change is added, not painted over the original's detail).
    upscaled = np.asarray(carry_edit_to_full_resolution(original, working_input, result, method="upscale"))
    assert _laplacian_var(r) > 5 * _laplacian_var(upscaled)
    assert abs(_laplacian_var(r[:300, :700]) - _laplacian_var(o[:300, :700])) < 1e-6


def test_carry_edit_unchanged_result_is_original(edit_case):
    original, working_input, _ = edit_case
    out = carry_edit_to_full_resolution(original, working_input, working_input.copy())
    assert np.array_equal(np.asarray(out), np.asarray(original))


def test_carry_edit_same_size_returns_model_pixels():
    original = noise_rgb(64, 48)
    result = noise_rgb(64, 48)
    assert carry_edit_to_full_resolution(original, original, result) is result


def test_carry_edit_upscale_and_errors():
    original = noise_rgb(64, 48)
    small = original.resize((16, 12))
    up = carry_edit_to_full_resolution(original, small, small, method="upscale")
    assert up.size == (64, 48)
    with pytest.raises(ValueError, match="method"):
        carry_edit_to_full_resolution(original, small, small, method="magic")
    with pytest.raises(ValueError, match="same size"):
        carry_edit_to_full_resolution(original, small, original)


def test_jpeg_drops_oversized_maker_note(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769)[0x927C] = b"\x00" * 70_000  # too big for a JPEG APP1 segment
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"
    save_photo(noise_rgb(8, 8), tmp_path / "a.jpg", exif=exif)
    with Image.open(tmp_path / "a.jpg") as im:
        got = im.getexif()
        assert got[0x010F] == "TestCam"
        assert got.get_ifd(0x8769).get(0x9003) == "2024:01:02 03:04:05"
        assert 0x927C not in got.get_ifd(0x8769)


def test_saved_file_gets_normal_permissions(tmp_path):
    save_photo(noise_rgb(4, 4), tmp_path / "a.png")
    if os.name == "posix":
        assert (tmp_path / "a.png").stat().st_mode & 0o777 == files.default_file_mode()
        assert files.default_file_mode() & 0o444 == 0o444


def test_tiff_orientation_and_exif(tmp_path):
    im = Image.new("RGB", (6, 4), (0, 0, 255))
    im.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 8
    exif[0x0110] = "ModelT"
    im.save(tmp_path / "a.tif", exif=exif)
    photo = load_photo(tmp_path / "a.tif")
    assert photo.rgb.size == (4, 6)
    assert photo.rgb.getpixel((0, 5)) == (255, 0, 0)
    back = Image.Exif()
    back.load(photo.exif)
    assert back[0x0112] == 1 and back[0x0110] == "ModelT"
    assert 273 not in back  # the TIFF's own strip layout is not carried as EXIF


def test_heic_photos_open_with_pillow_heif(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    path = tmp_path / "phone.heic"
    Image.new("RGB", (64, 48), (200, 30, 40)).save(path, quality=90)
    photo = load_photo(path)
    assert photo.rgb.size == (64, 48) and photo.source_format == "HEIF"
    assert all(abs(a - b) <= 3 for a, b in zip(photo.rgb.getpixel((10, 10)), (200, 30, 40), strict=True))
