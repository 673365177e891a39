"""What a .mgie file holds, read without extracting it: ``mgie-desktop session info FILE``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .layout import step_member
from .manifest import app_info, read_manifest
from .members import ZipMembers
from .png import png_dimensions
from .reading import opened_zip


def _png_size(members: ZipMembers, name: str) -> list[int] | None:
    try:
        with members.open(name) as fh:
            head = fh.read(24)
    except Exception:
        return None  # info describes what it can; a damaged image shows without a size
    dims = png_dimensions(head)
    return None if dims is None else list(dims)


def session_info(path: str | os.PathLike[str]) -> dict:
    """What a .mgie file holds, without extracting it: for ``mgie-desktop session info FILE``.

    ``{"path", "format", "version", "app", "saved", "current", "source": {"name", "format",
    "has_icc_profile", "has_exif", "has_alpha"}, "steps": [{"id", "parent", "children",
    "instruction", "expressive_instruction", "steered_instruction", "masked", "seed", "size", "current"},
    ...]}``.
    """
    path = Path(path)
    with opened_zip(path, path.name or str(path)) as members:
        manifest = read_manifest(members)
        sizes = {step["id"]: _png_size(members, step_member(step["id"])) for step in manifest["steps"]}
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
            "steered_instruction": step.get("steered_instruction", ""),
            "masked": bool(step.get("mask")),
            "seed": params.get("seed"),
            "size": sizes.get(step["id"]),
            "current": step["id"] == current,
        })
    src = manifest.get("source") or {}
    return {
        "path": str(path),
        "format": manifest["format"],
        "version": manifest["version"],
        "app": app_info(manifest),
        "saved": manifest.get("saved"),  # as stored, unchecked: info reports, it does not judge
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
            if step.get("steered_instruction"):
                text += f' -> steered: "{_clip(step["steered_instruction"])}"'
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

