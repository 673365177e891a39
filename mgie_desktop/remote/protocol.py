"""The wire format shared by the server and its clients: an EditJob as JSON plus PNG images,
and the messages a job's event stream carries. Images travel as PNG (lossless), so a remote
edit renders exactly the pixels a local one does. Everything a client sends is validated
here; nothing it sends names a file on the server."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import asdict, fields

from PIL import Image

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.jobs import EditJob, EditResult
from mgie_desktop.core.params import VARIATIONS, EditParams
from mgie_desktop.core.session.png import decode_png
from mgie_desktop.core.sizing import check_aspect

API = "/v1"
PROTOCOL_VERSION = 1
MAX_INSTRUCTION_CHARS = 2000
MAX_EXPRESSIVE_CHARS = 4000
MODELS = ("mgie", "ip2p")
FINISHES = ("detail", "upscale", "none")  # "none": working-size renders, finished by the client
PREVIEW_SIDE = 512  # previews are for watching, not keeping: small JPEGs


def png_bytes(image: Image.Image) -> bytes:
    # Stored, not deflated: for a 12 MP photo 0.9 s to encode and 0.1 s to decode against
    # 2-3 s and 0.4 s at level 1, for about a third more bytes, which a LAN, and even good
    # Wi-Fi, carries in less than the time saved (docs/PERFORMANCE.md).
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def job_to_wire(job: EditJob) -> tuple[dict, bytes, bytes | None]:
    """The job's settings, its image and its mask (if any) as PNG."""
    spec = {"instruction": job.instruction, "params": asdict(job.params), "variations": job.variations,
            "expressive": job.expressive, "compare": job.compare, "model": job.model,
            "rerender": job.rerender, "finish": job.finish}
    mask = png_bytes(job.mask.convert("L")) if job.mask is not None else None
    image = job.image if job.image.mode == "RGB" else job.image.convert("RGB")  # no copy of a 12 MP photo
    return spec, png_bytes(image), mask


def job_from_wire(spec: object, image: bytes, mask: bytes | None, job_id: int,
                  max_pixels: int | None) -> EditJob:
    """An EditJob from what a client sent, or an InputError saying what is wrong with it."""
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
    if model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}")
    if finish not in FINISHES:
        raise InputError(f"finish must be one of {', '.join(FINISHES)}")
    flags = {name: spec.get(name, False) for name in ("compare", "rerender")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise InputError("compare and rerender must be true or false")
    params = params_from_wire(spec.get("params", {}))
    picture = decode_png(image, "the photo", "RGB", max_pixels)
    check_aspect(*picture.size)  # answered now, not when the job's turn comes
    stencil = decode_png(mask, "the mask", "L", max_pixels) if mask is not None else None
    return EditJob(job_id, 0, 0, picture, instruction.strip(), params, rerender=flags["rerender"],
                   variations=variations, expressive=expressive.strip(), mask=stencil,
                   compare=flags["compare"], model=model, finish=finish)


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
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            raise InputError(f"parameter {name!r} has the wrong type")
        values[name] = value
    return EditParams(**values).validated()


def result_message(result: EditResult) -> dict:
    """The ``finished`` event: everything but the images, which are fetched one by one."""
    return {"event": "finished", "images": len(result.images), "expressive_instruction": result.expressive_instruction,
            "seeds": result.seeds, "models": result.models, "timings": result.timings,
            "steered": result.steered, "emitted_image_tokens": result.emitted_image_tokens}


def result_from_wire(message: dict, images: list[Image.Image]) -> EditResult:
    return EditResult(images, message["expressive_instruction"], list(message["seeds"]), list(message["models"]),
                      dict(message["timings"]), steered=bool(message.get("steered")),
                      emitted_image_tokens=bool(message.get("emitted_image_tokens", True)))


def preview_message(image: Image.Image) -> dict:
    small = image.convert("RGB")
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=80)
    return {"event": "preview", "jpeg": base64.b64encode(buf.getvalue()).decode("ascii")}


def preview_from_wire(message: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(message["jpeg"])), formats=["JPEG"]).convert("RGB")


def _text(spec: dict, name: str, limit: int, default: str | None = None) -> str:
    value = spec.get(name, default)
    if not isinstance(value, str):
        raise InputError(f"{name} must be text")
    if len(value) > limit:
        raise InputError(f"{name} is too long ({len(value)} characters; the limit is {limit})")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
