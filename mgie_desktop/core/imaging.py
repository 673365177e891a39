"""Image I/O for the editor: load any common photo as 8-bit RGB (+ alpha), save atomically with
its metadata, and carry a small-size model edit back onto the full-resolution photo.

Pure Pillow + numpy: no Qt, no torch, so it runs in worker threads and in tests without either.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError, features

try:
    from PIL import ImageCms
except ImportError:  # a Pillow built without littlecms: CMYK and grey photos open without their profile
    ImageCms = None  # type: ignore[assignment]

from .colour import colour_space
from .deferred import load
from .edit_record import PNG_KEY, record_json, xmp_packet
from .errors import InputError
from .files import atomic_write, check_openable
from .master import (
    LEVEL,
    deep_raw_mode,
    join_bytes,
    low_bytes,
    png16,
    png_chunks,
    read_float_tiff,
    tiff16,
    to_8bit,
    transposed,
)
from .raw import develop, is_raw
from .sizing import check_aspect

__all__ = [
    "Photo",
    "SAVE_FORMATS",
    "load_photo",
    "save_photo",
    "carry_edit_to_full_resolution",
]

_ORIENTATION = 0x0112
_TIFF_XMP = 700  # XMP packet tag (bytes)
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825

# Formats we open. An allow-list keeps Pillow away from plugins that shell out (EPS runs
# Ghostscript) or that nobody would hand a photo editor. MPO is how many cameras write JPEG.
_OPEN_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "HEIF", "AVIF")

SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}

DEEP_FORMATS = ("PNG", "TIFF")  # a photo's 16-bit master is written in full in these
_GREY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")  # "I" (32 bits) is an 8-bit-era reading: left alone
DEEP_MODES = (";16", ";32F")  # the ends of a deep photo's source mode ("RGB;16": Pillow said "RGB")

# ISO-BMFF brands of HEIC/HEIF stills; AVIF brands are left to Pillow's own AVIF plugin.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

# TIFF sources expose their whole tag directory as "EXIF"; only these IFD0 tags describe the
# photo rather than the file's layout (strip offsets etc. would be nonsense in another file).
_TIFF_EXIF_KEEP = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298, _ORIENTATION)

# ImageOps.exif_transpose's mapping, applied by hand so RGB and alpha turn together and the
# EXIF is kept with Orientation=1 instead of having the tag stripped.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_heif_state: bool | None = None  # None: not tried yet; True/False: pillow-heif registered or missing


@dataclass(frozen=True)
class Photo:
    """A loaded photo, normalised for editing. Pixels are upright (EXIF orientation applied)."""

    rgb: Image.Image  # 8-bit RGB working image
    alpha: Image.Image | None  # 'L' alpha if the source had any transparency
    icc_profile: bytes | None  # describes `rgb` (a CMYK/grey source's profile is converted, not kept)
    exif: bytes | None  # Orientation reset to 1, since the pixels are already rotated
    source_format: str | None
    source_mode: str
    path: Path | None
    # The same pixels at 16 bits per channel (H×W×3 uint16) where the file held more than 8
    # (core/master.py); ``rgb`` is it rounded to 8 bits.
    master: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size


# --------------------------------------------------------------------------- loading


def load_photo(path: str | os.PathLike[str]) -> Photo:
    """Open a photo as upright 8-bit RGB plus optional alpha. Every failure is an InputError."""
    name = str(path)  # as the user typed it, folder and all
    path = Path(path)

    def fail(problem: str) -> InputError:
        return InputError(f"cannot open '{name}': {problem}")

    check_openable(path, fail, "an image file")
    if is_raw(path):
        return _raw_photo(path, fail)

    try:
        fh = open(path, "rb")  # ours, not Pillow's: stays open until the pixels are decoded
    except OSError as exc:
        raise fail(f"the file cannot be read ({exc.strerror or exc})") from None

    with fh:
        head = fh.read(32)
        fh.seek(0)
        is_heif = _looks_like_heif(head) or path.suffix.lower() in (".heic", ".heif")
        if is_heif and not _register_heif():
            raise fail("HEIC/HEIF photos need the optional 'pillow-heif' package (pip install pillow-heif)")

        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; we refuse explicitly below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                im = Image.open(fh, formats=_open_formats())
            except Image.DecompressionBombError:
                raise fail("the image is too large (decompression bomb protection)") from None
            except UnidentifiedImageError:
                floating = _float_tiff(path, fail)  # Pillow reads no floating-point RGB TIFF
                if floating is None:
                    raise fail("not a supported image (JPEG, PNG, WebP, TIFF, BMP or HEIC)") from None
                return floating
            except Exception as exc:  # a corrupt header can surface as almost any exception
                raise fail(f"the file is damaged ({_short(exc)})") from None

        limit = Image.MAX_IMAGE_PIXELS
        if limit and im.width * im.height > limit:
            raise fail(f"the image is too large ({im.width}x{im.height} pixels; the limit is {limit:,})")
        try:
            check_aspect(im.width, im.height, "it")
        except InputError as exc:
            raise fail(f"{exc}") from None

        if ImageFile.LOAD_TRUNCATED_IMAGES:
            # Someone switched on Pillow's global leniency; truncation would go unnoticed.
            raise fail("truncated-image loading is enabled globally; refusing to load silently damaged data")
        deep_mode = deep_raw_mode(im)  # a 16-bit RGB(A) PNG or TIFF: its low bytes are read below
        try:
            im.load()  # full decode now, so truncation and corrupt data are reported here
        except Image.DecompressionBombError:
            raise fail("the image is too large (decompression bomb protection)") from None
        except MemoryError:
            raise fail(f"not enough memory to decode {im.width}x{im.height} pixels") from None
        except Exception as exc:
            if "truncated" in str(exc).lower():
                raise fail("the file is truncated (an incomplete download or copy?)") from None
            raise fail(f"the image data is damaged ({_short(exc)})") from None

        source_format = im.format
        source_mode = im.mode
        icc = im.info.get("icc_profile") or None
        exif_obj, orientation = _read_exif(im)
        exif_bytes = _exif_upright_bytes(exif_obj)  # while the file is open: sub-IFDs may read it
        master = None
        if deep_mode is not None:
            source_mode = f"{source_mode};16"  # Pillow says "RGB": the file says 16 bits
            try:
                master = join_bytes(np.asarray(im), low_bytes(fh, deep_mode))
            except MemoryError:
                raise fail(f"not enough memory to keep {im.width}x{im.height} pixels at 16 bits") from None
            except Exception as exc:  # the first decode worked: the second cannot fail but for memory
                raise fail(f"the image data is damaged ({_short(exc)})") from None
        elif source_mode in _GREY16_MODES:  # Pillow keeps 16-bit grey whole: its master, grey in RGB
            grey = np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
            master = np.repeat(grey[:, :, None], 3, axis=2)
            source_mode = "I;16"  # whichever byte order: Pillow's name, and a deep one (DEEP_MODES)

    try:
        rgb, alpha, icc = _to_rgb8(im, icc)
    except Exception as exc:
        raise fail(f"unsupported colour mode {source_mode} ({_short(exc)})") from None
    if master is not None:
        rgb = to_8bit(master)  # rounded, not Pillow's high bytes: the master rounds to the history's
    space = colour_space(icc)
    if space is not None:  # seen and edited in sRGB; its own pixels kept as its master
        if master is None:
            master = np.asarray(rgb, dtype=np.uint16) * LEVEL
        rgb = space.to_srgb(rgb)

    method = _TRANSPOSE.get(orientation)
    if method is not None:
        rgb = rgb.transpose(method)
        if alpha is not None:
            alpha = alpha.transpose(method)
        if master is not None:
            master = transposed(master, method)

    # Drop the source's info dict: Pillow's PNG writer falls back to info["icc_profile"], which
    # could re-attach a profile we deliberately discarded (e.g. a grey one on RGB pixels).
    rgb.info = {}
    if alpha is not None:
        alpha.info = {}
    return Photo(
        rgb=rgb,
        alpha=alpha,
        icc_profile=icc,
        exif=exif_bytes,
        source_format=source_format,
        source_mode=source_mode,
        path=path,
        master=master,
    )


def _raw_photo(path: Path, fail: Callable[[str], InputError]) -> Photo:
    """A camera RAW file, developed into a 16-bit master (core/raw.py)."""
    try:
        master = develop(path, Image.MAX_IMAGE_PIXELS)
        check_aspect(master.shape[1], master.shape[0], "it")
    except InputError as exc:
        raise fail(str(exc)) from None
    return Photo(
        rgb=to_8bit(master),
        alpha=None,
        icc_profile=None,  # developed into sRGB
        exif=None,
        source_format="RAW",
        source_mode="RGB;16",
        path=path,
        master=master,
    )


def _float_tiff(path: Path, fail: Callable[[str], InputError]) -> Photo | None:
    """A floating-point TIFF as a Photo with its 16-bit master, or None if it is no such file."""
    try:
        read = read_float_tiff(path, Image.MAX_IMAGE_PIXELS)
    except InputError as exc:
        raise fail(str(exc)) from None
    except MemoryError:
        raise fail("not enough memory to decode it") from None
    if read is None:
        return None
    master, alpha, icc = read
    try:
        check_aspect(master.shape[1], master.shape[0], "it")
    except InputError as exc:
        raise fail(f"{exc}") from None
    icc = icc if _icc_space(icc) == b"RGB " else None
    space = colour_space(icc)
    rgb = to_8bit(master)
    return Photo(
        rgb=rgb if space is None else space.to_srgb(rgb),
        alpha=None if alpha is None else Image.fromarray(alpha, "L"),
        icc_profile=icc,
        exif=None,
        source_format="TIFF",
        source_mode="RGB;32F",
        path=path,
        master=master,
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _open_formats() -> list[str]:
    # Image.open rejects names whose plugin is not registered (HEIF only exists with pillow-heif).
    Image.init()
    return [f for f in _OPEN_FORMATS if f in Image.OPEN]


def _looks_like_heif(head: bytes) -> bool:
    return len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _register_heif() -> bool:
    """Register pillow-heif's opener once, if it is installed (it is an optional dependency)."""
    global _heif_state
    if _heif_state is None:
        try:
            pillow_heif = load("pillow_heif")
        except ImportError:
            _heif_state = False
        else:
            pillow_heif.register_heif_opener()
            _heif_state = True
    return _heif_state


def _read_exif(im: Image.Image) -> tuple[Image.Exif | None, int]:
    """EXIF to carry forward, and the orientation to apply (1 when absent or invalid)."""
    try:
        exif = im.getexif()
        orientation = exif.get(_ORIENTATION, 1)
        if im.format == "TIFF" and "exif" not in im.info:
            kept = Image.Exif()
            for tag in _TIFF_EXIF_KEEP:
                if tag in exif:
                    kept[tag] = exif[tag]
            for ifd_tag in (_EXIF_IFD, _GPS_IFD):
                if ifd_tag in exif:
                    sub = exif.get_ifd(ifd_tag)
                    if sub:
                        kept[ifd_tag] = dict(sub)
            exif = kept
    except Exception:
        return None, 1
    if not isinstance(orientation, int) or orientation not in _TRANSPOSE:
        orientation = 1
    return exif, orientation


def _exif_upright_bytes(exif: Image.Exif | None) -> bytes | None:
    if exif is None or not len(exif):
        return None
    # Always 1, even when absent: Pillow's TIFF reader rotates on load and deletes the tag itself.
    exif[_ORIENTATION] = 1
    try:
        return exif.tobytes()
    except Exception:
        return None  # unwritable camera junk must not stop the photo from opening


def _icc_space(icc: bytes | None) -> bytes | None:
    # The ICC header stores the data colour space signature at bytes 16..19.
    return icc[16:20] if icc and len(icc) >= 128 else None


def _srgb_profile_bytes() -> bytes | None:
    if ImageCms is None:
        return None
    try:
        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:
        return None


def _icc_to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """Colour-manage a CMYK/grey image into sRGB with its embedded profile; None if that fails."""
    if ImageCms is None:
        return None
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(
            im, src, dst, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
    except Exception:
        return None


def _to_rgb8(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, Image.Image | None, bytes | None]:
    """Normalise any Pillow mode to (8-bit RGB, 'L' alpha or None, ICC profile describing the RGB)."""
    mode = im.mode
    alpha: Image.Image | None = None

    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        if mode == "I":
            # 32-bit int files almost always hold 16-bit data (that is how Pillow used to open
            # 16-bit PNGs); clip anything outside that range.
            a = np.clip(a, 0, 65535)
        # Scale 0..65535 -> 0..255 with rounding; 65535 = 255 * 257 exactly.
        a8 = ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
        grey = Image.fromarray(a8)
        rgb = grey.convert("RGB")
        return rgb, _transparency_alpha(im, a), None

    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and float(a.max()) <= 1.0:
            a = a * 255.0  # float images in 0..1 are the common convention
        a8 = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return Image.fromarray(a8).convert("RGB"), None, None

    if mode == "CMYK":
        if icc is not None and _icc_space(icc) == b"CMYK":
            managed = _icc_to_srgb(im, icc)
            if managed is not None:
                return managed, None, _srgb_profile_bytes()
        return im.convert("RGB"), None, None

    has_alpha = "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")  # handles P/PA palettes, tRNS colour keys, LA and premultiplied
        rgb = rgba.convert("RGB")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() == (255, 255):
            alpha = None  # declared but fully opaque: no need to carry it
    elif mode == "RGB":
        rgb = im
    else:
        if mode in ("L", "1") and icc is not None and _icc_space(icc) == b"GRAY":
            managed = _icc_to_srgb(im.convert("L"), icc)
            if managed is not None:
                return managed, None, _srgb_profile_bytes()
        rgb = im.convert("RGB")

    # A grey or other non-RGB profile must not be attached to RGB pixels.
    if _icc_space(icc) != b"RGB ":
        icc = None
    return rgb, alpha, icc


def _transparency_alpha(im: Image.Image, a: np.ndarray) -> Image.Image | None:
    """16-bit greyscale PNGs can mark one grey value transparent (tRNS)."""
    key = im.info.get("transparency")
    if not isinstance(key, int):
        return None
    mask = a == key
    if not mask.any():
        return None
    return Image.fromarray(np.where(mask, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- saving


def save_photo(
    photo_or_image: Photo | Image.Image,
    path: str | os.PathLike[str],
    *,
    quality: int = 95,
    alpha: Image.Image | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | Image.Exif | None = None,
    record: dict[str, Any] | None = None,
) -> None:
    """Write PNG/JPEG/WebP/TIFF (chosen by suffix) atomically, keeping ICC, EXIF and edit metadata.

    Keyword arguments override what a Photo carries. ``record`` (core/edit_record.py) goes into
    an XMP packet in every format, and into a PNG iTXt chunk as well; the EXIF is the photo's,
    untouched (its ImageDescription is the photographer's caption).
    """
    path = Path(path)
    name = path.name or str(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot save '{name}': unknown file type '{path.suffix}' (use .png, .jpg, .webp or .tif)"
        )

    master = photo_or_image.master if isinstance(photo_or_image, Photo) else None
    if isinstance(photo_or_image, Photo):
        # A master is the photo's own pixels: its 8-bit rendering (rgb) may be an sRGB view of them.
        image = photo_or_image.rgb if master is None else to_8bit(master)
        alpha = alpha if alpha is not None else photo_or_image.alpha
        icc_profile = icc_profile if icc_profile is not None else photo_or_image.icc_profile
        exif = exif if exif is not None else photo_or_image.exif
    else:
        image = photo_or_image
        if icc_profile is None:
            icc_profile = image.info.get("icc_profile") or None

    if image.mode != "RGB":
        if alpha is None and ("A" in image.getbands() or "transparency" in image.info):
            rgba = image.convert("RGBA")
            alpha = rgba.getchannel("A")
            image = rgba.convert("RGB")
        else:
            image = image.convert("RGB")
    if alpha is not None:
        alpha = alpha if alpha.mode == "L" else alpha.convert("L")
        if alpha.size != image.size:
            # The edit may come back at another size than the mask it belongs to.
            alpha = alpha.resize(image.size, Image.Resampling.BILINEAR)

    params: dict[str, object] = {}
    if icc_profile:
        params["icc_profile"] = icc_profile

    exif_obj = _as_exif(exif)
    if record:
        xmp = xmp_packet(record)
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt(PNG_KEY, record_json(record))
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
            params["pnginfo"] = info
        elif fmt == "TIFF":  # TIFF keeps XMP in its own tag, among the EXIF ones Pillow writes
            exif_obj = exif_obj if exif_obj is not None else Image.Exif()
            exif_obj[_TIFF_XMP] = xmp
        else:
            params["xmp"] = xmp
    if exif_obj is not None and len(exif_obj):
        params["exif"] = _exif_for(fmt, exif_obj)

    if master is not None and fmt in DEEP_FORMATS and is_deep(photo_or_image):
        _save_deep(path, fmt, master, alpha, icc_profile, exif_obj, record)
        return

    if fmt == "JPEG":
        if alpha is not None:
            # JPEG has no alpha: flatten onto white, as viewers show transparent areas.
            white = Image.new("RGB", image.size, (255, 255, 255))
            image = Image.composite(image, white, alpha)
        params.update(quality=int(quality), optimize=True)
        if quality >= 90:
            params["subsampling"] = 0  # 4:4:4 keeps edges of edited colours crisp
        out = image
    else:
        out = image
        if alpha is not None:
            out = image.copy()
            out.putalpha(alpha)
        if fmt == "WEBP":
            params.update(quality=int(quality), method=4)
        elif fmt == "PNG":
            params.update(compress_level=6)
        elif fmt == "TIFF":
            if features.check("libtiff"):
                params["compression"] = "tiff_lzw"

    atomic_write(path, lambda fh: out.save(fh, format=fmt, **params), f"'{name}'")


def is_deep(photo: Photo | Image.Image) -> bool:
    """Whether a photo had more than 8 bits per channel (its PNG and TIFF keep 16)."""
    return isinstance(photo, Photo) and photo.master is not None and is_deep_mode(photo.source_mode)


def is_deep_mode(source_mode: str | None) -> bool:
    """Whether a source mode (as a Photo or a session keeps it) says more than 8 bits per channel."""
    return (source_mode or "").endswith(DEEP_MODES)


def _save_deep(
    path: Path,
    fmt: str,
    master: np.ndarray,
    alpha: Image.Image | None,
    icc: bytes | None,
    exif: Image.Exif | None,
    record: dict[str, Any] | None,
) -> None:
    """A 16-bit PNG or TIFF of a photo's master, with its profile and edit record (and, in a
    PNG, its EXIF; a 16-bit TIFF carries no EXIF yet)."""
    if fmt == "PNG":
        texts = (
            {PNG_KEY: record_json(record), "XML:com.adobe.xmp": xmp_packet(record).decode()} if record else {}
        )
        exif_data = _exif_for(fmt, exif) if exif is not None and len(exif) else b""
        data = png16(master, alpha, png_chunks(icc, exif_data, texts))
        atomic_write(path, lambda fh: fh.write(data), f"'{path.name or path}'")
        return
    xmp = xmp_packet(record) if record else None
    atomic_write(path, lambda fh: tiff16(fh, master, alpha, icc, xmp), f"'{path.name or path}'")


def _as_exif(exif: bytes | Image.Exif | None) -> Image.Exif | None:
    if exif is None:
        return None
    if isinstance(exif, Image.Exif):
        copy = Image.Exif()
        copy.load(exif.tobytes())
        return copy
    loaded = Image.Exif()
    loaded.load(bytes(exif))
    return loaded


# A JPEG APP1 segment holds at most 65535 bytes including its length field and the header.
_JPEG_EXIF_MAX = 65533


def _exif_for(fmt: str, exif: Image.Exif) -> bytes:
    data = exif.tobytes()
    if fmt != "JPEG" or len(data) <= _JPEG_EXIF_MAX:
        return data
    # Too big for JPEG (usually a huge MakerNote): drop the maker note rather than fail the save.
    value = exif.get(_EXIF_IFD)
    sub = value if isinstance(value, dict) else exif.get_ifd(_EXIF_IFD)  # tobytes reuses this dict
    sub.pop(0x927C, None)
    data = exif.tobytes()
    if len(data) <= _JPEG_EXIF_MAX:
        return data
    return b""  # still oversized: saving the edit matters more than carrying the metadata


# --------------------------------------------------------------------------- full resolution


def carry_edit_to_full_resolution(
    original: Image.Image,
    working_input: Image.Image,
    working_result: Image.Image,
    method: str = "detail",
) -> Image.Image:
    """Bring a model edit made at working size back to the original's size.

    "detail": upsample only the change (result - input) and add it to the full-size original, so
    untouched pixels stay exactly the original's and its fine detail survives everywhere.
    "upscale": plain resize of the result (soft, but free of any original content).
    """
    if method not in ("detail", "upscale"):
        raise ValueError(f"unknown method {method!r}; expected 'detail' or 'upscale'")
    if working_input.size != working_result.size:
        raise ValueError(
            f"working input {working_input.size} and result {working_result.size} must be the same size"
        )
    result = working_result if working_result.mode == "RGB" else working_result.convert("RGB")
    full_size = original.size

    if method == "upscale":
        return result if result.size == full_size else result.resize(full_size, Image.Resampling.LANCZOS)
    if result.size == full_size:
        return result  # the model saw the real pixels; its output needs no help

    orig = original if original.mode == "RGB" else original.convert("RGB")
    inp = working_input if working_input.mode == "RGB" else working_input.convert("RGB")
    small_diff = np.asarray(result, dtype=np.float32) - np.asarray(inp, dtype=np.float32)

    orig_arr = np.asarray(orig)
    out = np.empty_like(orig_arr)
    # One channel at a time: at 24 MP a float32 plane is ~96 MB, so peak stays at ~2 planes
    # instead of several full RGB float copies.
    for c in range(3):
        plane = small_diff[:, :, c]
        if not plane.any():
            out[:, :, c] = orig_arr[:, :, c]
            continue
        # Bicubic: exact zeros stay exactly zero (0 * weight), and it rings less than Lanczos.
        up = Image.fromarray(np.ascontiguousarray(plane)).resize(full_size, Image.Resampling.BICUBIC)
        big = np.array(up, dtype=np.float32)
        del up
        big += orig_arr[:, :, c]
        np.rint(big, out=big)
        np.clip(big, 0, 255, out=big)
        out[:, :, c] = big
        del big
    return Image.fromarray(out)
