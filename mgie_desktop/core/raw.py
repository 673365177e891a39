"""Camera RAW files, developed once into a 16-bit master by LibRaw (the optional ``rawpy``):
the camera's white balance, sRGB, LibRaw's own brightness and the camera's orientation, as a
camera's own JPEG would be. From then on the photo is a 16-bit one (core/master.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .deferred import load
from .errors import InputError

if TYPE_CHECKING:  # the suffixes are read by the command line's parser: this module stays light
    import numpy as np

RAW_SUFFIXES = frozenset(
    ".dng .cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .raf .orf .rw2 .rwl .pef .srw .x3f .3fr .iiq .erf .kdc .mrw".split()
)
INSTALL = "camera RAW photos need the optional 'rawpy' package (pip install 'mgie-desktop[raw]')"


def is_raw(path: Path) -> bool:
    return Path(path).suffix.lower() in RAW_SUFFIXES


def develop(path: Path, max_pixels: int | None) -> np.ndarray:
    """The RAW file developed: H×W×3 uint16, upright. InputError (the reason, to follow "cannot
    open 'x': ") if rawpy is missing or LibRaw cannot read it."""
    try:
        rawpy = load("rawpy")
    except ImportError:
        raise InputError(INSTALL) from None
    try:
        with rawpy.imread(str(path)) as raw:
            width, height = raw.sizes.width, raw.sizes.height
            if max_pixels and width * height > max_pixels:
                raise InputError(
                    f"the image is too large ({width}x{height} pixels; the limit is {max_pixels:,})"
                )
            developed = raw.postprocess(
                output_bps=16,
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=(2.4, 12.92),  # sRGB's own curve: LibRaw's default is BT.709's
            )
    except InputError:
        raise
    except MemoryError:
        raise InputError("not enough memory to develop it") from None
    except Exception as exc:  # LibRaw's errors: not a RAW file it knows, damaged data, ...
        raise InputError(f"LibRaw cannot develop it ({type(exc).__name__})") from None
    master: np.ndarray = developed.astype("uint16", copy=False)  # 16 bits asked for: already so
    return master if master.flags.c_contiguous else master.copy()
