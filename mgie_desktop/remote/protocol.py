"""The wire format shared by the server and its clients: an EditJob as JSON plus PNG images,
and the messages a job's event stream carries. Images travel as PNG (lossless), so a remote
edit renders exactly the pixels a local one does. Everything a client sends is validated
here; nothing it sends names a file on the server."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from enum import Enum

from PIL import Image

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.instruction import is_text
from mgie_desktop.core.jobs import EditJob, EditResult
from mgie_desktop.core.json_text import nesting_depth
from mgie_desktop.core.params import VARIATIONS, EditParams
from mgie_desktop.core.session.png import decode_png, png_dimensions
from mgie_desktop.core.sizing import check_aspect
from mgie_desktop.core.step_params import MODEL_NAMES
from mgie_desktop.core.sweep import Sweep

API = "/v1"
PROTOCOL_VERSION = 1
MAX_INSTRUCTION_CHARS = 2000
MAX_EXPRESSIVE_CHARS = 4000
MODELS = MODEL_NAMES  # what a job may render with
FINISHES = ("detail", "upscale", "none")  # "none": working-size renders, finished by the client
PREVIEW_SIDE = 512  # previews are for watching, not keeping: small JPEGs
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A client names each job it sends with a key of its own: sent again (the answer was lost, or
# the client thinks the server restarted), a job the server still holds is not queued twice.
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_IDEMPOTENCY_CHARS = 64


def png_bytes(image: Image.Image) -> bytes:
    # Stored, not deflated: for a 12 MP photo 0.9 s to encode and 0.1 s to decode against
    # 2-3 s and 0.4 s at level 1, for about a third more bytes, which a LAN, and even good
    # Wi-Fi, carries in less than the time saved (docs/PERFORMANCE.md).
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def job_to_wire(job: EditJob) -> tuple[dict, bytes, bytes | None]:
    """The job's settings, its image and its mask (if any) as PNG."""
    spec = {
        "instruction": job.instruction,
        "params": asdict(job.params),
        "variations": job.variations,
        "expressive": job.expressive,
        "compare": job.compare,
        "model": job.model,
        "rerender": job.rerender,
        "finish": job.finish,
    }
    if job.compare:  # the second engine of an A/B pair (a server of an older version renders ip2p)
        spec["versus"] = job.versus
    if job.sweep is not None:  # said only when there is one: a server of an older version refuses nothing
        spec["sweep"] = {"text": list(job.sweep.text), "image": list(job.sweep.image)}
    mask = png_bytes(job.mask.convert("L")) if job.mask is not None else None
    image = job.image if job.image.mode == "RGB" else job.image.convert("RGB")  # no copy of a 12 MP photo
    return spec, png_bytes(image), mask


def idempotency_key(raw: str | None) -> str | None:
    """The client's key for a job (None when it sent none), or an InputError."""
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_IDEMPOTENCY_CHARS or not set(raw) <= IDEMPOTENCY_CHARS:
        raise InputError(
            f"the {IDEMPOTENCY_HEADER} header must be 1 to {MAX_IDEMPOTENCY_CHARS} letters, digits, "
            "'-' or '_'"
        )
    return raw


MAX_JOB_CHARS = 64 * 1024  # a job's settings are a few hundred characters; its photo travels apart
MAX_JOB_DEPTH = 8  # {"params": {...}} is two deep; Python's json recurses once per level


@dataclass(frozen=True)
class Upload:
    """A job as it arrived, checked whole but with its images still encoded (PNG): a queue of
    these holds bytes, not decoded photos, until the job's turn (``job_from_upload``)."""

    instruction: str
    params: EditParams
    variations: int
    expressive: str
    model: str
    finish: str
    compare: bool
    rerender: bool
    image: bytes
    mask: bytes | None
    sweep: Sweep | None = None
    versus: str = "ip2p"  # with ``compare``: the second engine, another of MODELS than ``model``

    @property
    def engines(self) -> frozenset[str]:
        """Every engine the job renders with."""
        return frozenset((self.model, self.versus) if self.compare else (self.model,))

    @property
    def nbytes(self) -> int:
        return len(self.image) + len(self.mask or b"")


def parse_job_text(text: str) -> object:
    """A job's JSON, refused before parsing if it is too long or nested too deep to be one."""
    if len(text) > MAX_JOB_CHARS:
        raise InputError(f"the job is too long ({len(text):,} characters; the limit is {MAX_JOB_CHARS:,})")
    if nesting_depth(text) > MAX_JOB_DEPTH:
        raise InputError(f"the job nests deeper than {MAX_JOB_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError:
        raise InputError("the job is not valid JSON") from None


def upload_from_wire(spec: object, image: bytes, mask: bytes | None, max_pixels: int | None) -> Upload:
    """What a client sent, checked whole (settings, PNG headers, shapes and chunks) without
    decoding a pixel; an InputError says what is wrong with it."""
    if not isinstance(spec, dict):
        raise InputError("the job must be a JSON object")
    instruction = _text(spec, "instruction", MAX_INSTRUCTION_CHARS)
    if not instruction.strip():
        raise InputError("the instruction is empty: say what the edit should do")
    expressive = _text(spec, "expressive", MAX_EXPRESSIVE_CHARS, "")
    variations = spec.get("variations", 1)
    if not _is_int(variations):
        raise InputError("variations must be a whole number")
    VARIATIONS.check("variations", variations)
    model, finish = spec.get("model", "mgie"), spec.get("finish", "detail")
    versus = spec.get("versus", "ip2p")
    for name, value in (("model", model), ("versus", versus)):
        if not isinstance(value, str) or value not in MODELS:
            raise InputError(f"{name} must be one of {', '.join(MODELS)}")
    if finish not in FINISHES:
        raise InputError(f"finish must be one of {', '.join(FINISHES)}")
    flags = {name: spec.get(name, False) for name in ("compare", "rerender")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise InputError("compare and rerender must be true or false")
    params = params_from_wire(spec.get("params", {}))
    sweep = sweep_from_wire(spec["sweep"]) if spec.get("sweep") is not None else None
    if sweep is not None and (variations > 1 or flags["compare"]):
        raise InputError("a sweep goes without variations and without compare")
    if flags["compare"] and versus == model:
        raise InputError(f"compare needs two engines: model and versus are both {model}")
    if sweep is not None and model == "klein":
        raise InputError("a sweep varies guidance, and FLUX.2 [klein] is distilled to take none")
    check_aspect(*check_png_upload(image, "the photo", max_pixels))  # answered now, not at the job's turn
    if mask is not None:
        check_png_upload(mask, "the mask", max_pixels)
    return Upload(
        instruction.strip(),
        params,
        variations,
        expressive.strip(),
        model,
        finish,
        flags["compare"],
        flags["rerender"],
        image,
        mask,
        sweep,
        versus,
    )


def job_from_upload(upload: Upload, job_id: int, max_pixels: int | None) -> EditJob:
    """The EditJob, its images decoded: on the engine's thread, when the job's turn comes."""
    picture = decode_png(upload.image, "the photo", "RGB", max_pixels)
    stencil = decode_png(upload.mask, "the mask", "L", max_pixels) if upload.mask is not None else None
    return EditJob(
        job_id,
        0,
        0,
        picture,
        upload.instruction,
        upload.params,
        rerender=upload.rerender,
        variations=upload.variations,
        expressive=upload.expressive,
        mask=stencil,
        compare=upload.compare,
        model=upload.model,
        finish=upload.finish,
        sweep=upload.sweep,
        versus=upload.versus,
    )


def job_from_wire(
    spec: object, image: bytes, mask: bytes | None, job_id: int, max_pixels: int | None
) -> EditJob:
    """An EditJob from what a client sent, or an InputError saying what is wrong with it."""
    return job_from_upload(upload_from_wire(spec, image, mask, max_pixels), job_id, max_pixels)


def check_png_upload(data: bytes, what: str, max_pixels: int | None) -> tuple[int, int]:
    """An uploaded PNG's size, after checking its header, pixel count and chunks (each whole,
    with its CRC, up to IEND) without inflating its pixels: a cut-off upload is refused now."""
    size = png_dimensions(data[:24])
    if size is None:
        raise InputError(f"{what} is not a valid PNG image")
    width, height = size
    for limit in (max_pixels, Image.MAX_IMAGE_PIXELS):
        if limit and width * height > limit:
            raise InputError(f"{what} is too large ({width}x{height} pixels; the limit is {limit:,})")
    if not _chunks_whole(data):
        raise InputError(f"{what} is damaged or incomplete")
    return width, height


def _chunks_whole(data: bytes) -> bool:
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 12 + length
        if end > len(data):
            return False
        body = memoryview(data)[offset + 4 : end - 4]
        if zlib.crc32(body) != struct.unpack_from(">I", data, end - 4)[0]:
            return False
        if kind == b"IEND":
            return True
        offset = end
    return False


def params_from_wire(raw: object) -> EditParams:
    if not isinstance(raw, dict):
        raise InputError("params must be a JSON object")
    known = {f.name: f.type for f in fields(EditParams)}
    if unknown := sorted(set(raw) - set(known)):
        raise InputError(f"unknown parameter {unknown[0]!r}")
    values = {}
    for name, value in raw.items():
        if name == "scheduler":
            ok = isinstance(value, str)
        elif name in ("seed", "steps", "pixel_budget"):
            ok = _is_int(value)
        else:
            ok = _is_number(value)
        if not ok:
            raise InputError(f"parameter {name!r} has the wrong type")
        values[name] = value
    return EditParams(**values).validated()


def sweep_from_wire(raw: object) -> Sweep:
    """A job's guidance sweep, ``{"text": [numbers], "image": [numbers]}``, checked whole."""
    if not isinstance(raw, dict):
        raise InputError("sweep must be a JSON object")
    if unknown := sorted(set(raw) - {"text", "image"}):
        raise InputError(f"unknown sweep axis {str(unknown[0])[:20]!r}")
    axes = {}
    for name in ("text", "image"):
        values = raw.get(name, [])
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise InputError(f"the sweep's {name} guidance must be a list of numbers")
        axes[name] = tuple(float(v) for v in values)
    return Sweep(axes["text"], axes["image"]).validated()


def result_message(result: EditResult) -> Finished:
    """The ``finished`` event: everything but the images, which are fetched one by one."""
    return Finished(
        len(result.images),
        result.expressive_instruction,
        tuple(result.seeds),
        tuple(result.models),
        dict(result.timings),
        result.steered,
        result.emitted_image_tokens,
        tuple(result.params),
    )


def preview_message(image: Image.Image) -> Preview:
    small = image.convert("RGB")
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=80)
    return Preview(buf.getvalue())


def _text(spec: dict, name: str, limit: int, default: str | None = None) -> str:
    value = spec.get(name, default)
    if not isinstance(value, str):
        raise InputError(f"{name} must be text")
    if len(value) > limit:
        raise InputError(f"{name} is too long ({len(value)} characters; the limit is {limit})")
    if not is_text(value):  # JSON's \ud800 escapes make lone surrogates, which no text can hold
        raise InputError(f"{name} is not valid Unicode (a lone surrogate)")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- a job's events: parsed here, once, into typed values ---------------------------------------
class EventKind(Enum):
    """What a job's event says. The first seven travel on the wire; the last three the client
    adds for its listeners (the job sent, the connection lost or back, a lost job sent again)."""

    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    PREVIEW = "preview"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUBMITTED = "submitted"
    CONNECTION = "connection"
    RESUBMITTING = "resubmitting"


class BadEvent(ValueError):
    """A message from the server that is not an event of this protocol."""


@dataclass(frozen=True)
class Queued:
    position: int  # edits that run before this one
    kind = EventKind.QUEUED


@dataclass(frozen=True)
class Started:
    kind = EventKind.STARTED


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    seconds_left: float
    kind = EventKind.PROGRESS


@dataclass(frozen=True)
class Preview:
    jpeg: bytes  # a small JPEG of the render so far
    kind = EventKind.PREVIEW

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.jpeg), formats=["JPEG"]).convert("RGB")


@dataclass(frozen=True)
class Finished:
    """Everything but the images, which are fetched one by one."""

    images: int
    expressive_instruction: str
    seeds: tuple[int, ...]
    models: tuple[str, ...]
    timings: dict
    steered: bool = False
    emitted_image_tokens: bool = True
    params: tuple[EditParams, ...] = ()  # per image: its settings (a server of an older version says none)
    kind = EventKind.FINISHED

    def result(self, images: list[Image.Image]) -> EditResult:
        return EditResult(
            images,
            self.expressive_instruction,
            list(self.seeds),
            list(self.models),
            dict(self.timings),
            steered=self.steered,
            emitted_image_tokens=self.emitted_image_tokens,
            params=list(self.params),
        )


@dataclass(frozen=True)
class Failed:
    message: str
    stopped: bool = False  # the server stopped before the edit finished: send it again once it is back
    kind = EventKind.FAILED


@dataclass(frozen=True)
class Cancelled:
    kind = EventKind.CANCELLED


@dataclass(frozen=True)
class Submitted:
    job: str  # the job's id on the server
    position: int
    again: bool  # a job the server lost, sent again
    kind = EventKind.SUBMITTED


@dataclass(frozen=True)
class Connection:
    lost: bool  # True when it drops (retrying), False once it is back
    kind = EventKind.CONNECTION


@dataclass(frozen=True)
class Resubmitting:
    kind = EventKind.RESUBMITTING


ServerEvent = Queued | Started | Progress | Preview | Finished | Failed | Cancelled
Event = ServerEvent | Submitted | Connection | Resubmitting
ENDED = frozenset({EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED})
ENDED_NAMES = frozenset(kind.value for kind in ENDED)  # the same, as the wire and a job's status say them
# What watchers of an unfinished job hear when the server stops: a client sends the job again once
# the server is back; "stopped" tells it from an edit that failed, which is not repeated.
STOPPED = Failed("the server stopped before the edit finished; send it again", stopped=True)


def event_to_wire(event: ServerEvent) -> dict:
    """The JSON object a watcher receives."""
    fields_ = {name: value for name, value in vars(event).items()}
    if isinstance(event, Preview):
        fields_["jpeg"] = base64.b64encode(event.jpeg).decode("ascii")
    if not (isinstance(event, Failed) and event.stopped):
        fields_.pop("stopped", None)  # said only when true: older clients read just the message
    for name in ("seeds", "models"):
        if name in fields_:
            fields_[name] = list(fields_[name])
    if "params" in fields_:
        fields_["params"] = [asdict(p) for p in fields_["params"]]
    return {"event": event.kind.value, **fields_}


def event_from_wire(message: object) -> ServerEvent:
    """A watcher's message as a typed event, or BadEvent saying why it is not one."""
    try:
        return _PARSERS[message["event"]](message)
    # InputError: a result's settings out of range
    except (KeyError, TypeError, ValueError, InputError) as exc:
        raise BadEvent(f"not an event: {str(message)[:80]!r} ({type(exc).__name__})") from None


_PARSERS: dict[str, Callable[[dict], ServerEvent]] = {
    "queued": lambda m: Queued(int(m["position"])),
    "started": lambda m: Started(),
    "progress": lambda m: Progress(int(m["step"]), int(m["total"]), float(m["seconds_left"])),
    "preview": lambda m: Preview(base64.b64decode(m["jpeg"], validate=True)),
    "finished": lambda m: Finished(
        int(m["images"]),
        str(m["expressive_instruction"]),
        tuple(int(s) for s in m["seeds"]),
        tuple(str(s) for s in m["models"]),
        dict(m["timings"]),
        bool(m.get("steered")),
        bool(m.get("emitted_image_tokens", True)),
        tuple(params_from_wire(p) for p in m.get("params", [])),
    ),
    "failed": lambda m: Failed(
        str(m.get("message") or "the edit failed on the server"), bool(m.get("stopped"))
    ),
    "cancelled": lambda m: Cancelled(),
}
