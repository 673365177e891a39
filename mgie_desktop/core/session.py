"""Session files (.mgie); autosave and crash recovery reuse this format (core/autosave.py).

A ``.mgie`` file is a zip archive:

* ``session.json``: the versioned manifest (``{"format": "mgie-session", "version": 1, "app",
  "saved", "current", "steps": [...], "source": {...}}``), see ``save_session``;
* ``steps/step-00001.png``: every step's image, lossless, stored uncompressed in the zip
  (``ZIP_STORED``: PNG is already compressed);
* ``source/alpha.png``: the opened photo's transparency, when it had any.

Saving is atomic (temp file in the same folder, fsync, ``os.replace``): a crash or a full disk
leaves the previous file untouched. Opening treats the file as hostile: member names are
checked (no ``..``, absolute paths, drive letters or backslashes), only expected members are
extracted, and only into the work folder, sizes are bounded whatever the archive declares,
images are checked against Pillow's pixel limit, and the history graph is validated. Every
problem is an ``InputError`` saying what is wrong.

Autosave keeps the same layout unzipped in a folder per running session; see core/autosave.py.

Pure Python + Pillow: no Qt, no torch.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import re
import shutil
import struct
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from mgie_desktop import __version__

from .errors import InputError
from .files import atomic_write, check_openable, os_reason
from .history import History, ImageStore, validate_manifest
from .imaging import Photo

__all__ = [
    "FORMAT",
    "VERSION",
    "SUFFIX",
    "SourceMeta",
    "Session",
    "save_session",
    "open_session",
    "session_info",
    "format_session_info",
]

FORMAT = "mgie-session"
VERSION = 1
SUFFIX = ".mgie"
APP_LABEL = "MGIE Desktop"

MANIFEST_NAME = "session.json"
ALPHA_NAME = "source/alpha.png"
LOCK_NAME = "lock"
OWNER_NAME = "owner.json"

# Limits for files from elsewhere. Module attributes so a deployment (or a test) can tune them.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_STEPS = 10_000
MAX_TOTAL_BYTES = 32 * 1024**3  # everything extracted from one session
MAX_RATIO = 200  # uncompressed/compressed beyond this (for members over 1 MiB) is a zip bomb
_CHUNK = 1024 * 1024

_STEP_MEMBER = re.compile(r"steps/step-(\d{5,9})\.png")
_DRIVE = re.compile(r"^[A-Za-z]:")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def step_member(step_id: int) -> str:
    return f"steps/step-{step_id:05d}.png"


# --------------------------------------------------------------------------- source metadata


@dataclass(frozen=True)
class SourceMeta:
    """What a session keeps of the opened photo besides its pixels (the root step's image)."""

    name: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None
    alpha: Image.Image | None = None
    source_format: str | None = None
    source_mode: str | None = None

    @classmethod
    def from_photo(cls, photo: Photo, name: str | None = None) -> SourceMeta:
        return cls(
            name=name if name is not None else (photo.path.name if photo.path else ""),
            icc_profile=photo.icc_profile,
            exif=photo.exif,
            alpha=photo.alpha,
            source_format=photo.source_format,
            source_mode=photo.source_mode,
        )

    def photo(self, rgb: Image.Image) -> Photo:
        """A Photo of ``rgb`` (e.g. any step's image) carrying this source's metadata, for export."""
        return Photo(rgb=rgb, alpha=self.alpha, icc_profile=self.icc_profile, exif=self.exif,
                     source_format=self.source_format, source_mode=self.source_mode or "RGB", path=None)


def _as_meta(photo_meta: Photo | SourceMeta | dict | None) -> SourceMeta:
    if photo_meta is None:
        return SourceMeta()
    if isinstance(photo_meta, SourceMeta):
        return photo_meta
    if isinstance(photo_meta, Photo):
        return SourceMeta.from_photo(photo_meta)
    if isinstance(photo_meta, dict):
        known = {k: v for k, v in photo_meta.items() if k in SourceMeta.__dataclass_fields__}
        return SourceMeta(**known)
    raise TypeError(f"photo_meta must be a Photo, SourceMeta or dict, not {type(photo_meta).__name__}")


@dataclass
class Session:
    """An opened session: its history (images in a work folder) and the source photo's metadata."""

    history: History
    source: SourceMeta = field(default_factory=SourceMeta)
    path: Path | None = None
    app: dict = field(default_factory=dict)
    saved: float | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def icc_profile(self) -> bytes | None:
        return self.source.icc_profile

    @property
    def exif(self) -> bytes | None:
        return self.source.exif

    @property
    def alpha(self) -> Image.Image | None:
        return self.source.alpha

    def close(self) -> None:
        self.history.close()


# --------------------------------------------------------------------------- writing


def _json_default(value: object) -> object:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        with contextlib.suppress(Exception):
            return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # Path, enums, ...: better a readable string than a failed save


def _build_manifest(history: History, meta: SourceMeta, saved: float) -> dict:
    graph = history.to_manifest()
    if graph["current"] is None:
        raise InputError("There is nothing to save: the history has no photo yet.")
    for step in graph["steps"]:
        step["image"] = step_member(step["id"])
    source: dict[str, object] = {"name": meta.name or ""}
    if meta.source_format:
        source["format"] = meta.source_format
    if meta.source_mode:
        source["mode"] = meta.source_mode
    if meta.icc_profile:
        source["icc_profile"] = base64.b64encode(meta.icc_profile).decode("ascii")
    if meta.exif:
        source["exif"] = base64.b64encode(meta.exif).decode("ascii")
    if meta.alpha is not None:
        source["alpha"] = ALPHA_NAME
    return {
        "format": FORMAT,
        "version": VERSION,
        "app": {"name": APP_LABEL, "version": __version__},
        "saved": saved,
        "current": graph["current"],
        "steps": graph["steps"],
        "source": source,
    }


def _manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=1, default=_json_default).encode("utf-8")


def _alpha_png(alpha: Image.Image) -> bytes:
    buf = io.BytesIO()
    (alpha if alpha.mode == "L" else alpha.convert("L")).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _copy_stream(src: BinaryIO, dst: BinaryIO, limit: int | None = None) -> int:
    """Copy in chunks; with ``limit``, refuse to copy more than that many bytes."""
    total = 0
    while True:
        chunk = src.read(_CHUNK if limit is None else min(_CHUNK, limit - total + 1))
        if not chunk:
            return total
        total += len(chunk)
        if limit is not None and total > limit:
            raise _TooBig(total)
        dst.write(chunk)


class _TooBig(Exception):
    pass


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles for this)."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_session(history: History, path: str | os.PathLike[str],
                 photo_meta: Photo | SourceMeta | dict | None = None) -> Path:
    """Write ``history`` (every step, branch, the current step and redo memory) to a .mgie file.

    Atomic: on any failure (disk full, read-only folder, ...) the previous file is untouched,
    no partial file is left, and InputError says what went wrong. Returns the path written.
    """
    path = Path(path)
    what = f"session '{path.name or path}'"
    meta = _as_meta(photo_meta)
    saved = time.time()
    manifest = _build_manifest(history, meta, saved)
    try:
        history.store.flush()
    except Exception as exc:
        raise InputError(f"Cannot save {what}: a step image could not be written ({os_reason(exc)}).") from exc
    data = _manifest_bytes(manifest)
    alpha = _alpha_png(meta.alpha) if meta.alpha is not None else None
    stamp = time.localtime(saved)[:6]

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
            info = zipfile.ZipInfo(MANIFEST_NAME, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            for step in manifest["steps"]:
                source = history.store.path(step["id"])
                info = zipfile.ZipInfo(step["image"], date_time=stamp)
                info.compress_type = zipfile.ZIP_STORED
                size = source.stat().st_size
                info.file_size = size
                with open(source, "rb") as src, zf.open(info, "w", force_zip64=size > 2**31) as dst:
                    _copy_stream(src, dst)
            if alpha is not None:
                info = zipfile.ZipInfo(ALPHA_NAME, date_time=stamp)
                info.compress_type = zipfile.ZIP_STORED
                zf.writestr(info, alpha)

    _atomic_write_session(path, write, what)
    return path


# --------------------------------------------------------------------------- reading


def _unsafe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or ":" in name:
        return True
    if name.startswith("/") or _DRIVE.match(name):
        return True
    return any(part == ".." for part in name.split("/"))


class _ZipSource:
    """Members of a .mgie zip, after checking every name, flag and declared size."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in zf.infolist():
            for name in {info.filename, info.orig_filename}:
                if _unsafe_name(name):
                    raise InputError(f"it contains an unsafe file name {name!r} (outside the session).")
            if info.filename in self.infos:
                raise InputError(f"it contains '{info.filename}' twice.")
            if info.flag_bits & 0x1:
                raise InputError("it contains encrypted files.")
            if info.file_size < 0 or info.compress_size < 0:
                raise InputError(f"'{info.filename}' has an invalid size.")
            if info.file_size > _CHUNK and info.file_size > MAX_RATIO * max(1, info.compress_size):
                raise InputError(f"'{info.filename}' expands suspiciously (a zip bomb?).")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise InputError(
                    f"its contents would take more than {MAX_TOTAL_BYTES / 1024**3:.0f} GiB when unpacked."
                )
            self.infos[info.filename] = info

    def size(self, name: str) -> int | None:
        info = self.infos.get(name)
        return None if info is None or info.is_dir() else info.file_size

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with self.zf.open(self.infos[name]) as fh:
            yield fh


class _DirSource:
    """The same layout unzipped in a folder (an autosave). Only expected names are looked up."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, name: str) -> Path:
        if _unsafe_name(name):
            raise InputError(f"it refers to an unsafe file name {name!r}.")
        return self.root.joinpath(*name.split("/"))

    def size(self, name: str) -> int | None:
        path = self._path(name)
        if path.is_symlink() or not path.is_file():
            return None
        return path.stat().st_size

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with open(self._path(name), "rb") as fh:
            yield fh


def _read_manifest(source: _ZipSource | _DirSource) -> dict:
    """session.json, parsed and checked: format, version, steps, images present, source fields."""
    size = source.size(MANIFEST_NAME)
    if size is None:
        raise InputError(f"it has no {MANIFEST_NAME} (not an MGIE session?).")
    if size > MAX_MANIFEST_BYTES:
        raise InputError(f"its {MANIFEST_NAME} is too large ({size:,} bytes).")
    buf = io.BytesIO()
    try:
        with source.open(MANIFEST_NAME) as fh:
            _copy_stream(fh, buf, MAX_MANIFEST_BYTES)
    except _TooBig:
        raise InputError(f"its {MANIFEST_NAME} is too large.") from None
    try:
        manifest = json.loads(buf.getvalue().decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"its {MANIFEST_NAME} is not UTF-8 text.") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise InputError(f"its {MANIFEST_NAME} is not valid JSON{where}.") from None
    except RecursionError:
        raise InputError(f"its {MANIFEST_NAME} is nested too deeply.") from None

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"its {MANIFEST_NAME} is not an MGIE session manifest.")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"its {MANIFEST_NAME} has no valid format version.")
    if version > VERSION:
        raise InputError(
            f"it was saved by a newer MGIE Desktop (session format {version}; this version reads "
            f"format {VERSION}). Please update MGIE Desktop to open it."
        )
    steps = manifest.get("steps")
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        raise InputError(f"it has too many steps ({len(steps):,}; at most {MAX_STEPS:,}).")
    validate_manifest(manifest)  # graph: ids, parents, cycles, current, redo memory

    for step in steps:
        image = step.get("image", step_member(step["id"]))
        if image != step_member(step["id"]):
            raise InputError(f"step {step['id']} names an unexpected image {str(image)[:80]!r}.")
        if source.size(image) is None:
            raise InputError(f"the image of step {step['id']} ({image}) is missing.")

    src = manifest.get("source", {})
    if not isinstance(src, dict):
        raise InputError(f"its {MANIFEST_NAME} has an invalid 'source'.")
    for key in ("name", "format", "mode", "icc_profile", "exif"):
        if key in src and src[key] is not None and not isinstance(src[key], str):
            raise InputError(f"its source '{key}' is invalid.")
    for key in ("icc_profile", "exif"):
        _b64(src, key)
    if src.get("alpha") is not None:
        if src["alpha"] != ALPHA_NAME:
            raise InputError("its source names an unexpected alpha image.")
        if source.size(ALPHA_NAME) is None:
            raise InputError(f"the source's transparency ({ALPHA_NAME}) is missing.")
    return manifest


def _b64(src: dict, key: str) -> bytes | None:
    value = src.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"its source '{key}' is not valid base64.") from None


def _max_pixels() -> int | None:
    return Image.MAX_IMAGE_PIXELS or None


def _member_limit(declared: int) -> int:
    # A PNG is never much larger than its raw pixels (4 bytes each here, plus chunk overhead).
    limit = _max_pixels()
    return declared if limit is None else min(declared, limit * 5 + 1024 * 1024)


def _check_png(fh: BinaryIO, what: str) -> Image.Image:
    """Open a PNG lazily and check its header, size and chunk checksums (no full decode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(fh, formats=["PNG"])
        except Image.DecompressionBombError:
            raise InputError(f"{what} is too large (decompression bomb protection).") from None
        except Exception:
            raise InputError(f"{what} is not a valid PNG image.") from None
    limit = _max_pixels()
    if limit and im.width * im.height > limit:
        raise InputError(f"{what} is too large ({im.width}x{im.height} pixels; the limit is {limit:,}).")
    if im.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        raise InputError(f"{what} has an unexpected colour mode {im.mode}.")
    return im


def _png_dimensions(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _extract_png(source: _ZipSource | _DirSource, name: str, dest: Path, what: str) -> None:
    declared = source.size(name) or 0
    limit = _member_limit(declared)
    if declared > limit:
        raise InputError(f"{what} is too large ({declared:,} bytes).")
    try:
        with source.open(name) as src, open(dest, "xb") as dst:
            head = src.read(24)
            dims = _png_dimensions(head)
            if dims is None:
                raise InputError(f"{what} is not a valid PNG image.")
            pixels = dims[0] * dims[1]
            max_pixels = _max_pixels()
            if max_pixels and pixels > max_pixels:
                raise InputError(
                    f"{what} is too large ({dims[0]}x{dims[1]} pixels; the limit is {max_pixels:,})."
                )
            # Refuse to write more than the pixels can justify (8-bit RGBA, generous overhead),
            # whatever size the archive declares.
            cap = min(limit, int(pixels * 4 * 1.1) + dims[1] + 1024 * 1024)
            dst.write(head)
            _copy_stream(src, dst, max(0, cap - len(head)))
    except _TooBig:
        raise InputError(f"{what} is larger than the session file says.") from None
    with open(dest, "rb") as fh:
        im = _check_png(fh, what)
        try:
            im.verify()  # chunk CRCs and structure, without inflating the pixels
        except Exception:
            raise InputError(f"{what} is damaged.") from None


def _read_alpha(source: _ZipSource | _DirSource) -> Image.Image:
    what = "the source's transparency"
    buf = io.BytesIO()
    try:
        with source.open(ALPHA_NAME) as fh:
            _copy_stream(fh, buf, _member_limit(source.size(ALPHA_NAME) or 0))
    except _TooBig:
        raise InputError(f"{what} is too large.") from None
    buf.seek(0)
    im = _check_png(buf, what)
    try:
        im.load()
    except Exception:
        raise InputError(f"{what} is damaged.") from None
    return im.copy() if im.mode == "L" else im.convert("L")


def _load(source: _ZipSource | _DirSource, path: Path | None, workdir: Path | None) -> Session:
    manifest = _read_manifest(source)
    src = manifest.get("source") or {}
    meta_args = {
        "name": src.get("name") or "",
        "icc_profile": _b64(src, "icc_profile"),
        "exif": _b64(src, "exif"),
        "source_format": src.get("format"),
        "source_mode": src.get("mode"),
    }
    alpha = _read_alpha(source) if src.get("alpha") else None

    needed = sum(source.size(step["image"]) or 0 for step in manifest["steps"])
    if workdir is not None:
        workdir = Path(workdir)
        probe = workdir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
    else:
        probe = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(probe).free
        if needed > free:
            raise InputError(f"there is not enough free disk space to open it ({needed / 1024**2:,.0f} MB needed).")

    created_dir = workdir is not None and not workdir.exists()
    store = ImageStore(workdir) if workdir is not None else ImageStore()
    written: list[Path] = []
    try:
        for step in manifest["steps"]:
            dest = store.path(step["id"])
            if dest.exists():
                raise InputError(f"the work folder already holds an image for step {step['id']}.")
            written.append(dest)
            _extract_png(source, step["image"], dest, f"the image of step {step['id']}")
        history = History.restore(manifest, store)
    except BaseException:
        store.close()
        for file in written:
            with contextlib.suppress(OSError):
                file.unlink()
        if created_dir:
            with contextlib.suppress(OSError):
                workdir.rmdir()
        raise
    saved = manifest.get("saved")
    app = manifest.get("app")
    return Session(
        history=history,
        source=SourceMeta(alpha=alpha, **meta_args),
        path=path,
        app=app if isinstance(app, dict) else {},
        saved=float(saved) if isinstance(saved, (int, float)) and not isinstance(saved, bool) else None,
    )


def _tail(message: str) -> str:
    """A sentence to follow "Cannot open session 'x': " (History's own messages are capitalised)."""
    if message[:1].isupper() and message[1:2].islower():
        return message[0].lower() + message[1:]
    return message


@contextlib.contextmanager
def _opened_zip(path: Path, label: str) -> Iterator[_ZipSource]:
    def fail(problem: str) -> InputError:
        return InputError(f"Cannot open session '{label}': {problem}")

    check_openable(path, fail, "a session file")
    try:
        with zipfile.ZipFile(path) as zf:
            yield _ZipSource(zf)
    except InputError as exc:
        if str(exc).startswith("Cannot open session"):
            raise
        raise fail(_tail(str(exc))) from None
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc) or "Bad magic" in str(exc) or "Truncated" in str(exc):
            raise fail(f"the file is damaged ({os_reason(exc)}).") from None
        raise fail("it is not an MGIE session file, or it is damaged or truncated (not a valid zip archive).") from None
    except (EOFError, struct.error, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise fail(f"the file is damaged or truncated ({os_reason(exc)}).") from None
    except MemoryError:
        raise fail("not enough memory to read it.") from None
    except OSError as exc:
        raise fail(f"the file cannot be read ({os_reason(exc)}).") from None
    except Exception as exc:  # zlib.error and friends: a corrupt archive can raise almost anything
        raise fail(f"the file is damaged ({os_reason(exc)}).") from None


def open_session(path: str | os.PathLike[str], workdir: str | os.PathLike[str] | None = None) -> Session:
    """Open a .mgie file. Step images are extracted into ``workdir`` (default: a private temp
    folder removed by ``Session.close()``), and nowhere else. Every problem is an InputError."""
    path = Path(path)
    with _opened_zip(path, path.name or str(path)) as source:
        return _load(source, path, Path(workdir) if workdir is not None else None)


# --------------------------------------------------------------------------- info


def _png_size(source: _ZipSource, name: str) -> list[int] | None:
    try:
        with source.open(name) as fh:
            head = fh.read(24)
    except Exception:
        return None
    dims = _png_dimensions(head)
    return None if dims is None else list(dims)


def session_info(path: str | os.PathLike[str]) -> dict:
    """What a .mgie file holds, without extracting it: for ``mgie-desktop session info FILE``.

    ``{"path", "format", "version", "app", "saved", "current", "source": {"name", "format",
    "has_icc_profile", "has_exif", "has_alpha"}, "steps": [{"id", "parent", "children",
    "instruction", "expressive_instruction", "seed", "size", "current"}, ...]}``.
    """
    path = Path(path)
    with _opened_zip(path, path.name or str(path)) as source:
        manifest = _read_manifest(source)
        sizes = {step["id"]: _png_size(source, step_member(step["id"])) for step in manifest["steps"]}
    current = manifest["current"]
    children: dict[int, list[int]] = {}
    for step in manifest["steps"]:
        if step.get("parent") is not None:
            children.setdefault(step["parent"], []).append(step["id"])
    steps = []
    for step in sorted(manifest["steps"], key=lambda s: s["id"]):
        params = step.get("params") or {}
        steps.append({
            "id": step["id"],
            "parent": step.get("parent"),
            "children": sorted(children.get(step["id"], [])),
            "instruction": step.get("instruction", ""),
            "expressive_instruction": step.get("expressive_instruction", ""),
            "seed": params.get("seed"),
            "size": sizes.get(step["id"]),
            "current": step["id"] == current,
        })
    src = manifest.get("source") or {}
    app = manifest.get("app")
    return {
        "path": str(path),
        "format": manifest["format"],
        "version": manifest["version"],
        "app": app if isinstance(app, dict) else {},
        "saved": manifest.get("saved"),
        "current": current,
        "source": {
            "name": src.get("name") or "",
            "format": src.get("format"),
            "has_icc_profile": bool(src.get("icc_profile")),
            "has_exif": bool(src.get("exif")),
            "has_alpha": bool(src.get("alpha")),
        },
        "steps": steps,
    }


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def format_session_info(info: dict) -> str:
    """The human-readable form of ``session_info``: a header and the edit tree (ASCII only)."""
    lines = []
    name = Path(info.get("path") or "session").name
    steps = info.get("steps") or []
    app = info.get("app") or {}
    saved = info.get("saved")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved)) if isinstance(saved, (int, float)) else "?"
    by = f"{app.get('name', '?')} {app.get('version', '')}".strip()
    lines.append(f"{name}: {len(steps)} step{'s' if len(steps) != 1 else ''}, saved {when} by {by} "
                 f"(format {info.get('format')} v{info.get('version')})")
    src = info.get("source") or {}
    extras = [label for key, label in (("has_icc_profile", "ICC profile"), ("has_exif", "EXIF"),
                                       ("has_alpha", "transparency")) if src.get(key)]
    lines.append(f"Source: {src.get('name') or '(unnamed)'}" + (f" ({', '.join(extras)})" if extras else ""))
    lines.append(f"Current step: {info.get('current')}")
    lines.append("")

    by_id = {s["id"]: s for s in steps}

    def describe(step: dict) -> str:
        if step.get("parent") is None:
            text = "original photo"
        else:
            text = f'"{_clip(step.get("instruction", ""))}"'
            if step.get("expressive_instruction"):
                text += f' -> "{_clip(step["expressive_instruction"])}"'
        if step.get("seed") is not None:
            text += f"  seed {step['seed']}"
        if step.get("size"):
            text += f"  {step['size'][0]}x{step['size'][1]}"
        if step.get("current"):
            text += "  <- current"
        return f"#{step['id']} {text}"

    def walk(step_id: int, prefix: str, last: bool, top: bool) -> None:
        step = by_id[step_id]
        lines.append((prefix + ("`- " if last else "|- ") if not top else "") + describe(step))
        kids = [k for k in step.get("children", []) if k in by_id]
        inner = prefix + ("" if top else ("   " if last else "|  "))
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1, False)

    for root in [s["id"] for s in steps if s.get("parent") is None]:
        walk(root, "", True, True)
    return "\n".join(lines)


def _atomic_write_session(path: Path, write: Callable[[BinaryIO], None], what: str) -> None:
    atomic_write(path, write, what, errors=(OSError, ValueError, MemoryError, zipfile.LargeZipFile))
