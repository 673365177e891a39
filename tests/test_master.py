"""16-bit masters (core/master.py): deep PNG and TIFF open with all their levels, keep them
through edits where the edit left pixels alone, and export them at 16 bits."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import png
import pytest
import tifffile
from PIL import Image

from mgie_desktop.core.document import Document, export_step, open_document, save_document
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.geometry import ROTATE_RIGHT, crop
from mgie_desktop.core.imaging import load_photo, save_photo
from mgie_desktop.core.master import LEVEL, derived, levels, to_8bit
from mgie_desktop.core.step_params import StepParams

W, H = 96, 64


def gradient() -> np.ndarray:
    """A smooth 16-bit ramp: far more than 256 levels in every channel."""
    x = np.linspace(0, 65535, W * H).reshape(H, W)
    return np.dstack([x, 65535 - x, (x * 0.5 + 9000)]).astype(np.uint16)


def png16_bytes(master: np.ndarray, sub_filter: bool = False) -> bytes:
    """A 48-bit PNG; ``sub_filter`` writes every row with filter type 1 (each byte minus the one
    a pixel, 6 bytes, to its left), the way most encoders write photos, so a reader that took
    the wrong pixel size would decode garbage."""
    if not sub_filter:
        buf = io.BytesIO()
        png.Writer(W, H, greyscale=False, bitdepth=16).write(buf, master.reshape(H, W * 3))
        return buf.getvalue()
    raw = master.astype(">u2").view(np.uint8).reshape(H, W * 6)
    filtered = raw.astype(np.int16)
    filtered[:, 6:] -= raw[:, :-6]
    rows = np.hstack([np.ones((H, 1), np.uint8), (filtered % 256).astype(np.uint8)])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", W, H, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes()))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("sub_filter", [False, True])
def test_a_48_bit_png_opens_with_every_level(tmp_path, sub_filter):
    master = gradient()
    path = tmp_path / "deep.png"
    path.write_bytes(png16_bytes(master, sub_filter))
    photo = load_photo(path)
    assert photo.master is not None and np.array_equal(photo.master, master)
    assert min(levels(photo.master)) > 256
    # the 8-bit image the history works on is the master rounded
    assert np.array_equal(np.asarray(photo.rgb), np.asarray(to_8bit(master)))


def test_a_16_bit_and_a_float_tiff_open_with_their_levels(tmp_path):
    master = gradient()
    tifffile.imwrite(tmp_path / "deep.tif", master, photometric="rgb", compression="zlib")
    assert np.array_equal(load_photo(tmp_path / "deep.tif").master, master)
    tifffile.imwrite(tmp_path / "float.tif", (master / 65535).astype(np.float32), photometric="rgb")
    photo = load_photo(tmp_path / "float.tif")  # Pillow alone cannot open this one at all
    assert photo.master is not None and np.abs(photo.master.astype(int) - master).max() <= 1
    assert photo.size == (W, H)


def test_an_8_bit_photo_has_no_master(tmp_path):
    Image.new("RGB", (W, H), "teal").save(tmp_path / "flat.png")
    assert load_photo(tmp_path / "flat.png").master is None


def test_exif_orientation_turns_the_master_with_the_photo(tmp_path):
    master = gradient()
    path = tmp_path / "turned.png"
    data = png16_bytes(master)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    body = exif.tobytes().removeprefix(b"Exif\x00\x00")
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    path.write_bytes(data[:33] + chunk + data[33:])  # after the signature and IHDR
    photo = load_photo(path)
    assert photo.size == (H, W) and photo.master.shape == (W, H, 3)
    assert np.array_equal(np.asarray(photo.rgb), np.asarray(to_8bit(photo.master)))


def edited(document: Document) -> None:
    """An edit that changes the left half of the photo (as the model's 8-bit render would)."""
    image = np.asarray(document.history.image()).copy()
    image[:, : W // 2] = 255 - image[:, : W // 2]
    document.history.push(Image.fromarray(image), instruction="invert the left")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_an_edit_keeps_16_bit_levels_where_it_left_the_photo_alone(tmp_path, suffix):
    source = tmp_path / "deep.png"
    source.write_bytes(png16_bytes(gradient()))
    document = Document.from_photo(load_photo(source))
    try:
        edited(document)
        out = tmp_path / f"out{suffix}"
        save_photo(document.photo_for_export(with_master=True), out, record={"steps": []})
    finally:
        document.close()
    back = load_photo(out)
    assert back.master is not None
    untouched = back.master[:, W // 2 :]
    assert min(levels(untouched)) > 256  # more than 8 bits survived the edit and the export
    assert np.array_equal(untouched, gradient()[:, W // 2 :])  # exactly the opened photo's
    edited_half = np.asarray(back.rgb)[:, : W // 2].astype(int)
    assert np.array_equal(edited_half, 255 - np.asarray(to_8bit(gradient()))[:, : W // 2])


def test_a_master_always_rounds_to_its_step_and_follows_crops_and_turns(tmp_path):
    source = tmp_path / "deep.png"
    source.write_bytes(png16_bytes(gradient()))
    document = Document.from_photo(load_photo(source))
    history = document.history
    try:
        edited(document)
        history.set_strength(history.current.id, 0.4)  # a live blend: the step as it looks
        for op in (ROTATE_RIGHT, crop((4, 8, 40, 90))):
            from mgie_desktop.core.geometry import apply

            history.push(apply(history.image(), op), instruction="turn", params=StepParams.of_geometry(op))
        for step in history.steps:
            master = derived(history, step.id)
            assert np.array_equal(np.asarray(to_8bit(master)), np.asarray(history.image(step.id)))
        assert derived(history, history.current.id).shape == (82, 36, 3)
    finally:
        document.close()


def test_8_bit_formats_and_8_bit_photos_export_as_before(tmp_path):
    source = tmp_path / "deep.png"
    source.write_bytes(png16_bytes(gradient()))
    document = Document.from_photo(load_photo(source))
    try:
        save_photo(document.photo_for_export(with_master=True), tmp_path / "out.jpg")
        save_photo(document.photo_for_export(), tmp_path / "plain.png")  # without: 8 bits
    finally:
        document.close()
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"
    assert load_photo(tmp_path / "plain.png").master is None


def test_the_master_keeps_its_profile_and_record_in_png_and_tiff(tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = load_photo(_written(tmp_path))
    from dataclasses import replace

    photo = replace(photo, icc_profile=icc)
    save_photo(photo, tmp_path / "a.png", record={"instruction": "warmer"})
    save_photo(photo, tmp_path / "a.tif", record={"instruction": "warmer"})
    for name in ("a.png", "a.tif"):
        back = load_photo(tmp_path / name)
        assert back.icc_profile == icc and np.array_equal(back.master, photo.master)
    assert b"warmer" in (tmp_path / "a.png").read_bytes() and b"warmer" in (tmp_path / "a.tif").read_bytes()


def _written(tmp_path):
    path = tmp_path / "deep.png"
    path.write_bytes(png16_bytes(gradient()))
    return path


def test_a_session_keeps_the_master_and_old_sessions_open(tmp_path):
    document = Document.from_photo(load_photo(_written(tmp_path)))
    try:
        edited(document)
        save_document(document, tmp_path / "deep.mgie")
    finally:
        document.close()
    again = open_document(tmp_path / "deep.mgie")
    try:
        assert again.has_master
        assert np.array_equal(derived(again.history, 0), gradient())
    finally:
        again.close()
    flat = Document.from_photo(load_photo(_flat(tmp_path)))
    try:
        save_document(flat, tmp_path / "flat.mgie")
    finally:
        flat.close()
    import json
    import zipfile

    with zipfile.ZipFile(tmp_path / "flat.mgie") as zf:  # no master: the format older apps read
        assert json.loads(zf.read("session.json"))["version"] == 1
    reopened = open_document(tmp_path / "flat.mgie")
    try:
        assert not reopened.has_master
    finally:
        reopened.close()


def _flat(tmp_path):
    Image.new("RGB", (W, H), "teal").save(tmp_path / "flat.png")
    return tmp_path / "flat.png"


def test_a_hostile_master_in_a_session_is_one_clear_line(tmp_path):
    document = Document.from_photo(load_photo(_written(tmp_path)))
    try:
        save_document(document, tmp_path / "deep.mgie")
    finally:
        document.close()
    import zipfile

    bad = tmp_path / "bad.mgie"
    with zipfile.ZipFile(tmp_path / "deep.mgie") as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith(".tif"):
                buf = io.BytesIO()
                tifffile.imwrite(buf, np.zeros((5, 7, 3), np.uint16), photometric="rgb")
                data = buf.getvalue()
            dst.writestr(item, data)
    with pytest.raises(InputError, match="master") as caught:
        open_document(bad)
    assert "\n" not in str(caught.value)


def test_levels_counts_distinct_values():
    flat = np.full((4, 4, 3), 7 * LEVEL, np.uint16)
    assert levels(flat) == [1, 1, 1] and min(levels(gradient())) > 256


def test_crash_recovery_keeps_the_master(tmp_path):
    from mgie_desktop.core.autosave import Autosaver, find_recoverable
    from mgie_desktop.core.session import SourceMeta

    document = Document.from_photo(load_photo(_written(tmp_path)))
    saver = Autosaver(tmp_path / "autosave")
    try:
        edited(document)
        saver.save(document.history, document.source)
        edited(document)
        saver.save(document.history, SourceMeta(name="deep.png"))  # copied once, still there
        saver.release()  # as if the app had died: the autosave stays for recovery
        (found,) = find_recoverable(tmp_path / "autosave")
        session = found.open(tmp_path / "work")
        try:
            assert session.history.store.master_path.is_file()
            assert np.array_equal(derived(session.history, 0), gradient())
        finally:
            session.close()
    finally:
        document.close()


def test_a_masked_render_by_the_engine_keeps_the_master_outside_the_mask(engine, tmp_path):
    from mgie_desktop.core.params import EditParams

    document = Document.from_photo(load_photo(_written(tmp_path)))
    try:
        photo = document.history.image()
        mask = Image.new("L", photo.size, 0)
        mask.paste(255, (0, 0, W // 2, H))
        guide = engine.instruct(photo, "make the sky a sunset")
        render = engine.render(photo, guide.conditioning, EditParams(steps=2, seed=3), mask=mask)
        document.history.push(render, instruction="make the sky a sunset")
        out = tmp_path / "out.tif"
        assert export_step(document, document.history.current.id, out)
    finally:
        document.close()
    back = load_photo(out).master
    assert np.array_equal(back[:, W // 2 + 2 :], gradient()[:, W // 2 + 2 :])  # beyond the soft edge
    assert min(levels(back[:, W // 2 + 2 :])) > 256
    assert not np.array_equal(back[:, : W // 2 - 2], gradient()[:, : W // 2 - 2])  # the edit is there


def test_the_window_says_16_bits_and_exports_them(qtbot, tmp_path, tiny_models, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    from test_ui import TIMEOUT, make_window, open_photo

    window = make_window(qtbot, tmp_path, tiny_models, ready=False)
    statuses = []
    window.document.status.connect(lambda text, _ms: statuses.append(text))
    open_photo(qtbot, window, _written(tmp_path))
    qtbot.waitUntil(lambda: any("16 bits per channel" in s for s in statuses), timeout=TIMEOUT)
    offered = []

    def save_dialog(_parent, _title, start, filters, chosen):
        offered.append((filters, chosen))
        return str(tmp_path / "export"), chosen  # typed without a suffix: the filter's format

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window.documents.export_dialog()
    out = tmp_path / "export.png"
    qtbot.waitUntil(lambda: window.documents.last_export == out, timeout=TIMEOUT)
    assert offered[0][1] == "PNG, 16 bits (*.png)" and "TIFF, 16 bits" in offered[0][0]
    assert np.array_equal(load_photo(out).master, gradient())
    assert any(s.endswith("at 16 bits per channel") for s in statuses)


def test_a_master_that_could_not_be_written_is_held_and_written_again(tmp_path, monkeypatch):
    from mgie_desktop.core import history as history_module

    real, failures = history_module.atomic_write, []

    def full_disk_once(path, write, what, *args):
        if not failures:
            failures.append(what)
            raise InputError(f"cannot save {what}: the disk is full")
        return real(path, write, what, *args)

    monkeypatch.setattr(history_module, "atomic_write", full_disk_once)
    document = Document.from_photo(load_photo(_written(tmp_path)))
    try:
        assert document.has_master and np.array_equal(document.history.store.master(), gradient())
        save_document(document, tmp_path / "kept.mgie")  # its flush writes the master again
        assert failures == ["the photo's 16-bit master"] and document.history.store.master_path.is_file()
    finally:
        document.close()
    again = open_document(tmp_path / "kept.mgie")
    try:
        assert np.array_equal(again.history.store.master(), gradient())
    finally:
        again.close()


def test_edit_and_batch_write_16_bits_from_a_16_bit_photo(tiny_models, tmp_path, capsys):
    from mgie_desktop.cli import main

    source = _written(tmp_path)
    settings = ["--preset", "draft", "--steps", "1", "--models", str(tiny_models), "--device", "cpu"]
    out = tmp_path / "edited.png"
    assert (
        main(
            [
                "edit",
                str(source),
                "-i",
                "make it warmer",
                "-o",
                str(out),
                *settings,
                "--session",
                str(tmp_path / "s.mgie"),
            ]
        )
        == 0
    )
    edited = load_photo(out)
    assert edited.master is not None and edited.source_mode == "RGB;16"
    assert min(levels(edited.master)) > 256  # the change rides on the photo's own levels
    session = open_document(tmp_path / "s.mgie")  # the session keeps the master too
    try:
        assert session.deep
    finally:
        session.close()
    recipe = tmp_path / "look.json"
    assert main(["recipe", "export", str(tmp_path / "s.mgie"), "-o", str(recipe)]) == 0
    (tmp_path / "in").mkdir()
    source.rename(tmp_path / "in" / "deep.png")
    assert (
        main(
            [
                "batch",
                str(recipe),
                str(tmp_path / "in"),
                str(tmp_path / "out"),
                "--format",
                "tiff",
                "--models",
                str(tiny_models),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    batched = load_photo(tmp_path / "out" / "deep.tif")
    assert batched.master is not None and min(levels(batched.master)) > 256


def test_tiffs_with_a_plane_per_sample_open_honestly_and_within_the_pixel_limit(tmp_path, monkeypatch):
    master = gradient()
    planar = tmp_path / "planar16.tif"
    tifffile.imwrite(
        planar, master.transpose(2, 0, 1), photometric="rgb", planarconfig="separate", compression="zlib"
    )
    photo = load_photo(planar)  # libtiff's decoder would not give its low bytes: not called 16-bit
    assert photo.master is None and photo.size == (W, H)
    floating = tmp_path / "planar-float.tif"
    data = (master / 65535).astype(np.float32).transpose(2, 0, 1)
    tifffile.imwrite(floating, data, photometric="rgb", planarconfig="separate", compression="zlib")
    assert np.abs(load_photo(floating).master.astype(int) - master).max() <= 1  # samples put back together
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", W * H - 1)  # all of its pixels count, not 3 x H
    with pytest.raises(InputError, match="too large"):
        load_photo(floating)


def test_a_float_tiff_needing_a_codec_says_which(tmp_path, monkeypatch):
    path = tmp_path / "lzw.tif"
    tifffile.imwrite(path, np.zeros((H, W, 3), np.float32), photometric="rgb")

    def needs_codec(self, *args, **kwargs):
        raise KeyError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", needs_codec)
    with pytest.raises(InputError, match=r"needs the optional 'imagecodecs' package") as caught:
        load_photo(path)
    assert "\n" not in str(caught.value)


def test_a_crop_that_does_not_fit_its_step_is_one_line_not_a_broken_file(tmp_path):
    document = Document.from_photo(load_photo(_written(tmp_path)))
    try:
        odd = StepParams.of_geometry({"op": "crop", "box": [-5, -5, 10, 10]})  # as a damaged session holds
        document.history.push(Image.new("RGB", (10, 10)), instruction="Crop", params=odd)
        with pytest.raises(InputError, match="does not fit the photo's master"):
            export_step(document, document.history.current.id, tmp_path / "o.png")
        assert not (tmp_path / "o.png").exists()
    finally:
        document.close()


def test_a_chain_s_master_is_written_only_if_its_session_is_saved(tmp_path):
    from mgie_desktop.core.document import chain_photo
    from mgie_desktop.core.history import History
    from mgie_desktop.core.session import save_session

    photo = load_photo(_written(tmp_path))
    history = History()
    history.start(photo.rgb)
    try:
        exported = chain_photo(photo, history)
        assert np.array_equal(exported.master, gradient())
        assert not history.store.master_path.exists()  # edit and batch save the output and forget the chain
        save_session(history, tmp_path / "chain.mgie", photo)
        assert history.store.master_path.is_file()
    finally:
        history.close()
    again = open_document(tmp_path / "chain.mgie")
    try:
        assert again.deep and np.array_equal(again.history.store.master(), gradient())
    finally:
        again.close()


def test_a_16_bit_grey_photo_keeps_its_levels_too(tmp_path):
    ramp = np.linspace(0, 65535, W * H).reshape(H, W).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    photo = load_photo(tmp_path / "grey16.png")
    assert photo.master is not None and photo.source_mode == "I;16"
    assert all(np.array_equal(photo.master[:, :, c], ramp) for c in range(3))
    document = Document.from_photo(photo)
    try:
        assert document.deep and export_step(document, 0, tmp_path / "out.tif")
    finally:
        document.close()
    assert np.array_equal(load_photo(tmp_path / "out.tif").master[:, :, 0], ramp)
