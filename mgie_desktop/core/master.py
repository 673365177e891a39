"""16-bit masters: a deep photo's pixels at full depth, kept beside the 8-bit history.

A 16-bit PNG or TIFF, or a floating-point TIFF, opens as the 8-bit image that the model, the
canvas and the history work on, plus its master: the same pixels at 16 bits per channel
(H×W×3 uint16, upright). The model renders at 8 bits; a step's master follows from its parent's
by the change the step made to the 8-bit image, scaled to 16 bits:

    master(step) = master(parent) + 257 × (image(step) − image(parent))

Where an edit left a pixel alone, its master keeps all of its levels; an edited pixel keeps
its sub-8-bit detail under the change; and a master always rounds to its step's 8-bit image
(``to_8bit``), so what is exported is what was seen. A photo in another colour space than sRGB
has a master too, at its own depth and in its own space (core/colour.py): the history is its
sRGB rendering, and each step's change is converted back before it is added. Crops, rotations and flips apply to it
exactly. Only the opened photo's master is stored (beside the history's step images, and in
sessions); a step's own is derived when it is exported. Pure numpy and Pillow, no Qt, no torch.
"""

from __future__ import annotations

import io
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import png
import tifffile
from PIL import Image

from .errors import InputError

if TYPE_CHECKING:
    from .colour import ColourSpace
    from .history import History

LEVEL = 257  # 65535 / 255: an 8-bit level in 16-bit units
_ROTATE_CLOCKWISE = {90: -1, 180: 2, 270: 1}  # np.rot90's k (it turns counter-clockwise)

# Pillow reads 16-bit RGB(A) PNG and TIFF as 8-bit, keeping each sample's high byte. Its raw
# modes name the byte order, so the same decoder, told the opposite order, yields the low bytes:
# two decodes in Pillow's own C code give all 16 bits.
_DEEP_RAW_MODES = {"RGB;16B", "RGB;16L", "RGB;16N", "RGBA;16B", "RGBA;16L", "RGBA;16N"}
_NATIVE = "L" if sys.byteorder == "little" else "B"


def deep_raw_mode(im: Image.Image) -> str | None:
    """The raw mode of a not-yet-decoded 16-bit RGB(A) image (``Image.open``'s result), or None
    for any other: call before ``load()``, which forgets it."""
    tiles = getattr(im, "tile", None) or []
    tags = getattr(im, "tag_v2", None)
    if tags is not None and tags.get(284, 1) != 1:
        return None  # a TIFF with one plane per sample: libtiff's decoder ignores the byte order asked
    modes = {_raw_mode(tile[3]) for tile in tiles}
    if len(modes) == 1 and (mode := modes.pop()) in _DEEP_RAW_MODES and im.mode in ("RGB", "RGBA"):
        return mode
    return None


def _raw_mode(args: Any) -> str:
    return args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else str(args)


def low_bytes(fh: BinaryIO, raw_mode: str) -> np.ndarray:
    """The low byte of every sample of the 16-bit image in ``fh`` (decoded again by Pillow with
    the byte order swapped): H×W×channels uint8."""
    order = raw_mode[-1] if raw_mode[-1] != "N" else _NATIVE
    swapped = raw_mode[:-1] + ("L" if order == "B" else "B")
    fh.seek(0)
    im = Image.open(fh)
    im.tile = [tile._replace(args=_with_raw_mode(tile.args, swapped)) for tile in im.tile]
    im.load()
    return np.asarray(im)


def _with_raw_mode(args: Any, mode: str) -> Any:
    return (mode, *args[1:]) if isinstance(args, tuple) else mode


def join_bytes(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """16-bit samples from their high and low bytes (the RGB channels only)."""
    master = high[..., :3].astype(np.uint16) << 8
    master |= low[..., :3]
    return master


def read_float_tiff(
    path: Path, max_pixels: int | None
) -> tuple[np.ndarray, np.ndarray | None, bytes | None] | None:
    """A floating-point RGB(A) or grey TIFF (Pillow cannot open one) as (master, 8-bit alpha or
    None, ICC profile or None); None if the file is no such TIFF. Values 0..1 are the photo's
    range; beyond it they are clipped (a display-referred reading, as for Pillow's grey floats)."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            if page.dtype is None or page.dtype.kind != "f" or page.samplesperpixel not in (1, 3, 4):
                return None
            width, height = page.imagewidth, page.imagelength  # whatever the layout of its samples
            if max_pixels and width * height > max_pixels:
                raise InputError(
                    f"the image is too large ({width}x{height} pixels; the limit is {max_pixels:,})"
                )
            try:
                data = page.asarray()
            except (KeyError, ValueError) as exc:
                if "imagecodecs" in str(exc):  # LZW or the floating-point predictor, as Photoshop writes
                    raise InputError(
                        "its compression needs the optional 'imagecodecs' package (pip install imagecodecs)"
                    ) from None
                raise
            planar = (
                data.ndim == 3 and data.shape[0] == page.samplesperpixel and data.shape[1:] == (height, width)
            )
            icc = page.tags.get(34675)
            profile = bytes(icc.value) if icc is not None else None
    except InputError:
        raise
    except MemoryError:
        raise
    except Exception:  # not a TIFF tifffile understands: the caller reports the file as unsupported
        return None
    data = np.moveaxis(data, 0, -1) if planar else data  # one sample plane after another
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[:, :, None]
    if data.shape[:2] != (height, width):
        return None
    deep = np.empty((height, width, 4 if data.shape[2] == 4 else 3), np.uint16)
    for c in range(deep.shape[2]):  # a plane at a time, in place: a float copy of the whole is large
        plane = np.array(data[:, :, min(c, data.shape[2] - 1)], dtype=np.float32)
        np.nan_to_num(plane, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(plane, 0.0, 1.0, out=plane)
        plane *= 65535.0
        np.rint(plane, out=plane)
        deep[:, :, c] = plane
    alpha = to_8bit_plane(deep[:, :, 3]) if deep.shape[2] == 4 else None
    return np.ascontiguousarray(deep[:, :, :3]), alpha, profile


def to_8bit_plane(plane: np.ndarray) -> np.ndarray:
    return ((plane.astype(np.uint32) + LEVEL // 2) // LEVEL).astype(np.uint8)


def to_8bit(master: np.ndarray) -> Image.Image:
    """The master rounded to 8 bits: the image the history starts from."""
    return Image.fromarray(to_8bit_plane(master), "RGB")


def levels(master: np.ndarray) -> list[int]:
    """How many distinct values each channel holds (more than 256: deeper than 8 bits)."""
    return [int(np.unique(master[:, :, c]).size) for c in range(master.shape[2])]


# --------------------------------------------------------------------------- through the history


def transposed(master: np.ndarray, method: Image.Transpose) -> np.ndarray:
    """``Image.transpose`` for a master (EXIF orientation, rotation, flips)."""
    turns = {
        Image.Transpose.FLIP_LEFT_RIGHT: lambda a: a[:, ::-1],
        Image.Transpose.FLIP_TOP_BOTTOM: lambda a: a[::-1],
        Image.Transpose.ROTATE_90: lambda a: np.rot90(a, 1),
        Image.Transpose.ROTATE_180: lambda a: np.rot90(a, 2),
        Image.Transpose.ROTATE_270: lambda a: np.rot90(a, -1),
        Image.Transpose.TRANSPOSE: lambda a: a.transpose(1, 0, 2),
        Image.Transpose.TRANSVERSE: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    }
    return np.ascontiguousarray(turns[method](master))


def apply_geometry(master: np.ndarray, op: dict[str, Any]) -> np.ndarray:
    """A crop, rotation or flip (core/geometry.py's operations) on a master, exactly."""
    if op["op"] == "rotate":
        return np.ascontiguousarray(np.rot90(master, _ROTATE_CLOCKWISE[op["degrees"]]))
    if op["op"] == "flip":
        flipped = master[:, ::-1] if op["axis"] == "horizontal" else master[::-1]
        return np.ascontiguousarray(flipped)
    left, top, right, bottom = op["box"]
    return np.ascontiguousarray(master[top:bottom, left:right])


def carried(master: np.ndarray, before: Image.Image, after: Image.Image) -> np.ndarray:
    """The master of a step whose 8-bit image went from ``before`` to ``after``."""
    if before.size != after.size or master.shape[1::-1] != before.size:
        return np.asarray(after.convert("RGB"), dtype=np.uint16) * LEVEL  # no common ground
    out = np.empty_like(master)
    old, new = np.asarray(before.convert("RGB")), np.asarray(after.convert("RGB"))
    for c in range(3):  # a plane at a time: a 24 MP int32 plane is 96 MB
        plane = master[:, :, c].astype(np.int32)
        plane += (new[:, :, c].astype(np.int32) - old[:, :, c]) * LEVEL
        np.clip(plane, 0, 65535, out=plane)
        out[:, :, c] = plane
    return out


def derived(history: History, step_id: int, space: ColourSpace | None = None) -> np.ndarray | None:
    """Step ``step_id``'s master, from the opened photo's along its lineage (None: the history
    has none: the photo had 8 bits and was sRGB). ``space``: the photo's own colour space, in
    which the master is, while the history's images are sRGB: each change is converted back."""
    master = history.store.master()
    if master is None:
        return None
    own = space.from_srgb if space is not None else (lambda image: image)
    lineage = history.lineage(step_id)
    for parent, step in zip(lineage, lineage[1:], strict=False):
        op = step.params.geometry
        after = history.image(step.id)
        if op is not None:
            master = apply_geometry(master, op)
        else:
            master = carried(master, own(history.image(parent.id)), own(after))
        shown = after.size
        if master.shape[1::-1] != shown:  # a crop a damaged session holds that does not fit its step
            raise InputError(
                f"step {step.id} does not fit the photo's master ({shown[0]}x{shown[1]} shown, "
                f"{master.shape[1]}x{master.shape[0]} kept): it cannot be exported at full depth"
            )
    return master


# --------------------------------------------------------------------------- files


def stored_bytes(master: np.ndarray) -> bytes:
    """The opened photo's master as it is kept beside the history's step images: a TIFF, deflated
    quickly (a 24 MP master: about 6 s)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, master, photometric="rgb", compression="zlib", compressionargs={"level": 1})
    return buf.getvalue()


def read_stored(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A stored master, checked: 16-bit RGB and, given ``size`` (width, height), that size."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            shape, dtype = tuple(page.shape), page.dtype
            if dtype != np.uint16 or len(shape) != 3 or shape[2] != 3:
                raise InputError(f"the 16-bit master is not 16-bit RGB ({dtype}, {shape})")
            if size is not None and shape[1::-1] != tuple(size):
                raise InputError(
                    f"the 16-bit master is {shape[1]}x{shape[0]}, not the photo's {size[0]}x{size[1]}"
                )
            return np.asarray(page.asarray())
    except InputError:
        raise
    except Exception as exc:  # a damaged or hostile TIFF can fail in many ways
        raise InputError(f"the 16-bit master is damaged ({type(exc).__name__})") from None


def png16(master: np.ndarray, alpha: Image.Image | None, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A 16-bit PNG of the master (and alpha), with ``chunks`` (iCCP, eXIf, iTXt...) after IHDR."""
    height, width = master.shape[:2]
    planes = master
    if alpha is not None:
        deep_alpha = np.asarray(alpha.convert("L"), dtype=np.uint16) * LEVEL
        planes = np.dstack([master, deep_alpha])
    channels = planes.shape[2]
    buf = io.BytesIO()
    writer = png.Writer(width, height, greyscale=False, alpha=alpha is not None, bitdepth=16, compression=6)
    writer.write(buf, planes.reshape(height, width * channels))
    written = list(png.Reader(bytes=buf.getvalue()).chunks())
    out = io.BytesIO()
    png.write_chunks(out, [written[0], *chunks, *written[1:]])
    return out.getvalue()


def png_chunks(icc: bytes | None, exif: bytes, texts: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The metadata chunks ``png16`` inserts: the ICC profile, the EXIF, and UTF-8 texts."""
    chunks = []
    if icc:
        chunks.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc)))
    if exif:  # PNG's eXIf holds the TIFF structure alone, without JPEG's "Exif" prefix
        chunks.append((b"eXIf", exif.removeprefix(b"Exif\0\0")))
    for key, text in texts.items():  # iTXt: keyword, no compression, no language, no translation
        chunks.append((b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")))
    return chunks


def tiff16(
    fh: BinaryIO, master: np.ndarray, alpha: Image.Image | None, icc: bytes | None, xmp: bytes | None
) -> None:
    """A 16-bit TIFF of the master (and alpha), deflated, with its ICC profile and XMP packet."""
    planes, extra = master, None
    if alpha is not None:
        planes = np.dstack([master, np.asarray(alpha.convert("L"), dtype=np.uint16) * LEVEL])
        extra = ["unassalpha"]
    tags = []
    if icc:
        tags.append((34675, "B", len(icc), icc, True))
    if xmp:
        tags.append((700, "B", len(xmp), xmp, True))
    buf = io.BytesIO()  # tifffile takes an open file for a name: an atomic save's has none
    tifffile.imwrite(
        buf,
        planes,
        photometric="rgb",
        extrasamples=extra,
        compression="zlib",
        extratags=tags,
        metadata=None,
    )
    fh.write(buf.getbuffer())
