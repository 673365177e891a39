"""session.json: built from a History for saving, and parsed and checked when read back.

Reading treats the manifest as hostile: size, encoding, format and version first, then the
history graph (core/history.py), then every name it points at.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from typing import Any, cast

from mgie_desktop import __version__
from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History, is_time, validate_manifest, value_problem

from . import limits
from .layout import (
    ALPHA_NAME,
    APP_LABEL,
    FORMAT,
    MANIFEST_NAME,
    MASTER_NAME,
    PLAIN_VERSION,
    VERSION,
    step_member,
)
from .members import Members, read_member
from .model import SourceMeta
from .streams import TooBig

# --------------------------------------------------------------------------- writing


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _json_default(value: object) -> object:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        with contextlib.suppress(Exception):
            return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return _b64encode(value)
    return str(value)  # Path, enums, ...: better a readable string than a failed save


def build_manifest(history: History, meta: SourceMeta, saved: float) -> dict[str, Any]:
    graph = history.to_manifest()
    if graph["current"] is None:
        raise InputError("there is nothing to save: the history has no photo yet")
    for step in graph["steps"]:
        step["image"] = step_member(step["id"])
    source: dict[str, object] = {"name": meta.name or ""}
    if meta.source_format:
        source["format"] = meta.source_format
    if meta.source_mode:
        source["mode"] = meta.source_mode
    if meta.icc_profile:
        source["icc_profile"] = _b64encode(meta.icc_profile)
    if meta.exif:
        source["exif"] = _b64encode(meta.exif)
    if meta.alpha is not None:
        source["alpha"] = ALPHA_NAME
    deep = history.store.has_master
    if deep:
        source["master"] = MASTER_NAME
    return {
        "format": FORMAT,
        "version": VERSION if deep else PLAIN_VERSION,
        "app": {"name": APP_LABEL, "version": __version__},
        "saved": saved,
        "current": graph["current"],
        "steps": graph["steps"],
        "source": source,
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=1, default=_json_default).encode("utf-8")


# --------------------------------------------------------------------------- reading


def read_manifest(members: Members) -> dict[str, Any]:
    """session.json, parsed and checked: format, version, steps, images present, source fields."""
    size = members.size(MANIFEST_NAME)
    if size is None:
        raise InputError(f"it has no {MANIFEST_NAME} (not an MGIE session?)")
    if size > limits.MAX_MANIFEST_BYTES:
        raise InputError(f"its {MANIFEST_NAME} is too large ({size:,} bytes)")
    try:
        data = read_member(members, MANIFEST_NAME, limits.MAX_MANIFEST_BYTES)
    except TooBig:
        raise InputError(f"its {MANIFEST_NAME} is too large") from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"its {MANIFEST_NAME} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"its {MANIFEST_NAME} is not valid JSON (line {exc.lineno})") from None
    except ValueError:  # Python refuses to parse integers of more than 4300 digits
        raise InputError(f"its {MANIFEST_NAME} holds a number too long to read") from None
    except RecursionError:
        raise InputError(f"its {MANIFEST_NAME} is nested too deeply") from None

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"its {MANIFEST_NAME} is not an MGIE session manifest")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"its {MANIFEST_NAME} has no valid format version")
    if version > VERSION:
        raise InputError(
            f"it was saved by a newer MGIE Desktop (session format {version}; this version reads "
            f"format {VERSION}); please update MGIE Desktop to open it"
        )
    steps = manifest.get("steps")
    if isinstance(steps, list) and len(steps) > limits.MAX_STEPS:
        raise InputError(f"it has too many steps ({len(steps):,}; at most {limits.MAX_STEPS:,})")
    _check_values(manifest)
    validate_manifest(manifest)  # graph: ids, parents, cycles, current, redo memory; each step's values

    for step in cast(list[dict[str, Any]], steps):  # validate_manifest made sure
        # Only the one name a step may have: a manifest must not steer reads to other members.
        image = step.setdefault("image", step_member(step["id"]))  # readers after this take it as given
        if image != step_member(step["id"]):
            raise InputError(f"step {step['id']} names an unexpected image {str(image)[:80]!r}")
        if members.size(image) is None:
            raise InputError(f"the image of step {step['id']} ({image}) is missing")

    src = manifest.get("source", {})
    if not isinstance(src, dict):
        raise InputError(f"its {MANIFEST_NAME} has an invalid 'source'")
    for key in ("name", "format", "mode", "icc_profile", "exif"):
        if key in src and src[key] is not None and not isinstance(src[key], str):
            raise InputError(f"its source '{key}' is invalid")
    for key in ("icc_profile", "exif"):
        source_bytes(src, key)
    if src.get("name"):
        # Only ever shown, or the stem of an export's suggested name: no use for control characters.
        src["name"] = display_text(src["name"])
    if src.get("alpha") is not None:
        if src["alpha"] != ALPHA_NAME:
            raise InputError("its source names an unexpected alpha image")
        if members.size(ALPHA_NAME) is None:
            raise InputError(f"the source's transparency ({ALPHA_NAME}) is missing")
    if src.get("master") is not None:
        if src["master"] != MASTER_NAME:
            raise InputError("its source names an unexpected 16-bit master")
        if members.size(MASTER_NAME) is None:
            raise InputError(f"the source's 16-bit master ({MASTER_NAME}) is missing")
    return manifest


def _check_values(manifest: dict[str, Any]) -> None:
    """Numbers and text outside the steps (validate_manifest checks theirs), once, as read."""
    if manifest.get("saved") is not None and not is_time(manifest["saved"]):
        raise InputError(f"its {MANIFEST_NAME} has an invalid 'saved' time")
    problem = value_problem({key: value for key, value in manifest.items() if key != "steps"})
    if problem:
        where, why = problem
        raise InputError(f"its {MANIFEST_NAME} has an invalid '{display_text(where, width=60)}': it {why}")


def source_bytes(src: dict[str, Any], key: str) -> bytes | None:
    """A base64 field of the manifest's ``source`` (ICC profile, EXIF), decoded."""
    value = src.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"its source '{key}' is not valid base64") from None


# Optional fields of a checked manifest, read the same way by open, info and autosave recovery.


def saved_time(manifest: dict[str, Any]) -> float | None:
    saved = manifest.get("saved")
    return float(saved) if isinstance(saved, (int, float)) and not isinstance(saved, bool) else None


def app_info(manifest: dict[str, Any]) -> dict[str, Any]:
    app = manifest.get("app")
    return app if isinstance(app, dict) else {}
