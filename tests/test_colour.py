"""Colour spaces (core/colour.py): a photo in Adobe RGB (or Display P3...) is edited as sRGB and
exported in its own space with its profile, its untouched pixels exactly as they came."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageCms

from mgie_desktop.core.colour import colour_space
from mgie_desktop.core.document import Document, export_step, open_document, save_document
from mgie_desktop.core.imaging import load_photo

W, H = 64, 48
# Adobe RGB (1998)'s colorants, adapted to the D50 of the profile connection space.
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))


def rgb_profile(name: str, colorants=ADOBE_RGB, gamma: float = 563 / 256) -> bytes:
    """A matrix/TRC RGB display profile (ICC v2), the kind cameras and editors embed."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(s15(v) for v in values)

    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = name.encode("ascii") + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(colorants[0])),
        (b"gXYZ", xyz(colorants[1])),
        (b"bXYZ", xyz(colorants[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def saturated() -> np.ndarray:
    """A green and a red, whose numbers mean other colours in Adobe RGB than in sRGB, beside greys."""
    pixels = np.zeros((H, W, 3), np.uint8)
    pixels[: H // 2] = (60, 200, 90)
    pixels[H // 2 :] = (200, 80, 60)
    pixels[:, W // 2 :] = np.linspace(40, 220, W // 2, dtype=np.uint8)[None, :, None]
    return pixels


def adobe_photo(tmp_path, suffix=".png"):
    path = tmp_path / f"adobe{suffix}"
    Image.fromarray(saturated()).save(path, icc_profile=rgb_profile("Adobe RGB (1998)"), quality=100)
    return path


def test_srgb_and_no_profile_need_no_converting_and_adobe_rgb_does():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert colour_space(None) is None and colour_space(srgb) is None
    assert colour_space(b"not a profile" * 20) is None  # damaged: shown as its numbers say
    space = colour_space(rgb_profile("Adobe RGB (1998)"))
    assert space is not None and space.name == "Adobe RGB (1998)"


def test_an_adobe_rgb_photo_is_seen_as_srgb_and_exported_in_its_own_space_unchanged(tmp_path):
    photo = load_photo(adobe_photo(tmp_path))
    seen = np.asarray(photo.rgb).astype(int)
    assert np.abs(seen[: H // 2, : W // 2] - saturated()[: H // 2, : W // 2]).max() > 20  # converted
    assert photo.master is not None and photo.icc_profile == rgb_profile("Adobe RGB (1998)")
    document = Document.from_photo(photo)
    try:
        assert document.colour is not None and not document.deep
        for name in ("same.jpg", "same.png"):
            export_step(document, 0, tmp_path / name, quality=100)
    finally:
        document.close()
    png = load_photo(tmp_path / "same.png")
    assert png.icc_profile == photo.icc_profile and png.master is not None  # in Adobe RGB again
    assert np.array_equal(png.master // 257, saturated())  # exactly the photo's own numbers
    assert Image.open(tmp_path / "same.png").mode == "RGB"  # 8 bits in, 8 bits out
    jpeg = np.asarray(Image.open(tmp_path / "same.jpg")).astype(int)
    assert np.abs(jpeg - saturated()).max() <= 3  # JPEG's own rounding only


def test_an_edit_made_in_srgb_reaches_the_photo_s_own_pixels_and_leaves_the_rest(tmp_path):
    document = Document.from_photo(load_photo(adobe_photo(tmp_path)))
    try:
        seen = np.asarray(document.history.image())
        image = seen.copy()
        image[:, : W // 4] = 255 - image[:, : W // 4]  # an edit of the left quarter, made in sRGB
        document.history.push(Image.fromarray(image), instruction="invert a strip")
        save_document(document, tmp_path / "adobe.mgie")
    finally:
        document.close()
    again = open_document(tmp_path / "adobe.mgie")  # the session keeps the photo's own pixels
    try:
        assert again.colour is not None
        export_step(again, again.history.current.id, tmp_path / "out.png")
    finally:
        again.close()
    out = np.asarray(load_photo(tmp_path / "out.png").master // 257).astype(int)
    assert np.array_equal(out[:, W // 4 :], saturated()[:, W // 4 :])  # untouched: exactly as it came
    space = colour_space(rgb_profile("Adobe RGB (1998)"))
    before = np.asarray(space.from_srgb(Image.fromarray(seen))).astype(int)
    after = np.asarray(space.from_srgb(Image.fromarray(image))).astype(int)
    # The change, in Adobe RGB: a colour beyond sRGB keeps what sRGB could not show of it.
    expected = np.clip(saturated().astype(int) + after - before, 0, 255)
    assert np.array_equal(out, expected) and (out[:, : W // 4] != saturated()[:, : W // 4]).all()


def test_a_16_bit_adobe_rgb_photo_keeps_both_its_depth_and_its_space(tmp_path):
    import png as pypng

    master = (np.linspace(0, 65535, W * H * 3).reshape(H, W, 3)).astype(np.uint16)
    buffer = io.BytesIO()
    pypng.Writer(W, H, greyscale=False, bitdepth=16).write(buffer, master.reshape(H, W * 3))
    plain = tmp_path / "plain16.png"
    plain.write_bytes(buffer.getvalue())
    from dataclasses import replace

    from mgie_desktop.core.imaging import save_photo

    tagged = tmp_path / "adobe16.png"
    save_photo(replace(load_photo(plain), icc_profile=rgb_profile("Adobe RGB (1998)")), tagged)
    document = Document.from_photo(load_photo(tagged))
    try:
        assert document.deep and document.colour is not None
        assert export_step(document, 0, tmp_path / "out.tif")
    finally:
        document.close()
    back = load_photo(tmp_path / "out.tif")
    assert np.array_equal(back.master, master) and back.icc_profile == rgb_profile("Adobe RGB (1998)")


def test_a_chain_s_result_is_saved_in_the_photo_s_own_space_as_the_window_exports_it(tmp_path):
    from mgie_desktop.core.chain import ChainStep, run_chain
    from mgie_desktop.core.document import chain_photo
    from mgie_desktop.core.geometry import ROTATE_RIGHT
    from mgie_desktop.core.imaging import save_photo

    class Inverts:
        """An engine stub: inverts the left quarter of what it is given."""

        def edit(self, image, text, params, **_):
            from types import SimpleNamespace

            pixels = np.asarray(image).copy()
            pixels[:, : pixels.shape[1] // 4] = 255 - pixels[:, : pixels.shape[1] // 4]
            said = SimpleNamespace(text="Inverted.", steered=False, emitted_image_tokens=True)
            return SimpleNamespace(
                image=Image.fromarray(pixels), timings={}, instruction=said, working_size=image.size
            )

    from mgie_desktop.core.params import EditParams

    photo = load_photo(adobe_photo(tmp_path))
    steps = [ChainStep("invert", EditParams()), ChainStep(geometry=ROTATE_RIGHT)]
    history, _image, _records = run_chain(Inverts(), photo.rgb, steps)
    try:
        save_photo(chain_photo(photo, history), tmp_path / "out.png")
    finally:
        history.close()
    out = load_photo(tmp_path / "out.png")
    assert out.icc_profile == photo.icc_profile and out.size == (H, W)  # turned, in Adobe RGB
    own = np.rot90(saturated(), -1)
    assert np.array_equal((out.master // 257)[W // 4 :], own[W // 4 :])  # untouched: as it came
