"""Camera RAW (core/raw.py): developed once by LibRaw into a 16-bit master; without rawpy, one
line saying what to install."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from mgie_desktop.core.document import Document, export_step
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.imaging import load_photo
from mgie_desktop.core.master import levels

W, H = 64, 48
IDENTITY = [1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1]  # a 3x3 matrix of SRATIONALs


def linear_dng(path, height=H, width=W):
    """A linear (demosaiced) DNG, as converters write them: 16-bit samples, a smooth ramp."""
    ramp = np.linspace(0.05, 0.9, height * width).reshape(height, width, 1) * np.ones((1, 1, 3))
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "Test Camera", True),  # UniqueCameraModel
        (50721, "2i", 9, IDENTITY, True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, [1, 1, 1, 1, 1, 1], True),  # AsShotNeutral
        (50717, "I", 1, 65535, True),  # WhiteLevel
        (50714, "I", 1, 0, True),  # BlackLevel
    ]
    tifffile.imwrite(path, (ramp * 60000).astype(np.uint16), photometric=34892, extratags=tags, subfiletype=0)
    return path


def test_a_raw_file_is_developed_into_a_16_bit_master(tmp_path):
    pytest.importorskip("rawpy")
    photo = load_photo(linear_dng(tmp_path / "shot.dng"))
    assert photo.source_format == "RAW" and photo.size == (W, H)
    assert photo.master is not None and min(levels(photo.master)) > 256
    document = Document.from_photo(photo)
    try:
        assert document.deep and export_step(document, 0, tmp_path / "shot.tif")
    finally:
        document.close()
    assert np.array_equal(load_photo(tmp_path / "shot.tif").master, photo.master)


def test_without_rawpy_or_with_a_damaged_raw_file_one_line_says_why(tmp_path, monkeypatch):
    pytest.importorskip("rawpy")
    bad = tmp_path / "broken.nef"
    bad.write_bytes(b"not a raw file at all" * 100)
    with pytest.raises(InputError, match=r"^cannot open '.*broken\.nef': LibRaw cannot develop it"):
        load_photo(bad)
    from mgie_desktop.core import raw

    def missing(name, *_):
        raise ImportError(name)

    monkeypatch.setattr(raw, "load", missing)
    with pytest.raises(InputError, match=r"need the optional 'rawpy' package") as caught:
        load_photo(linear_dng(tmp_path / "shot.dng"))
    assert "\n" not in str(caught.value)


def test_the_open_dialog_offers_raw_files():
    from mgie_desktop.ui.document_actions import open_filter

    photos, _sessions, raw, _all = open_filter().split(";;")
    assert "*.dng" in photos and "*.nef" in raw and "*.mgie" in photos and "{" not in photos


def test_a_batch_folder_of_raw_and_jpeg_pairs_edits_the_jpegs_without_clashes(tmp_path):
    from PIL import Image

    from mgie_desktop.batch.folder import list_photos

    Image.new("RGB", (8, 8)).save(tmp_path / "IMG_0001.JPG")
    (tmp_path / "IMG_0001.CR2").write_bytes(b"raw sensor data")
    jobs = list_photos(tmp_path, tmp_path / "out", "jpg")
    assert [(job.name, job.clash) for job in jobs] == [("IMG_0001.JPG", "")]
