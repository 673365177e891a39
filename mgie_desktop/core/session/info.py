"""What a .mgie file holds, read without extracting it: ``mgie-desktop session info FILE``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.history import is_time

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


def session_info(path: str | os.PathLike[str]) -> dict[str, Any]:
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
        steps.append(
            {
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
            }
        )
    src = manifest.get("source") or {}
    return {
        "path": str(path),
        "format": manifest["format"],
        "version": manifest["version"],
        "app": app_info(manifest),
        "saved": manifest.get("saved"),  # as stored (read_manifest checked it is a time, or absent)
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


def _clip(text: object, width: int = 70) -> str:
    """One line of at most ``width`` characters, safe for a terminal (text from the file)."""
    line = " ".join(display_text(str(text)).split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _when(saved: object) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(saved)) if is_time(saved) else "?"


def _describe(step: dict[str, Any]) -> str:
    if step.get("parent") is None:
        text = "original photo"
    else:
        text = f'"{_clip(step.get("instruction", ""))}"'
        if step.get("expressive_instruction"):
            text += f' -> "{_clip(step["expressive_instruction"])}"'
        if step.get("steered_instruction"):
            text += f' -> steered: "{_clip(step["steered_instruction"])}"'
    if step.get("seed") is not None:
        text += f"  seed {_clip(step['seed'])}"
    if step.get("size"):
        text += f"  {step['size'][0]}x{step['size'][1]}"
    if step.get("current"):
        text += "  <- current"
    return f"#{step['id']} {text}"


MAX_INDENT = 60  # characters: deeper branches line up there, so no line grows with the history


def _tree_lines(steps: list[dict[str, Any]]) -> list[str]:
    """The edit tree: an only child continues its parent's column, branches indent under it.
    A stack, not recursion, and bounded indents: a session may hold 10 000 steps."""
    by_id = {s["id"]: s for s in steps}
    lines = []
    # (step, the start of its own line, the start of its children's lines)
    stack = [(s, "", "") for s in reversed(steps) if s.get("parent") is None]
    while stack:
        step, start, inner = stack.pop()
        lines.append(start + _describe(step))
        kids = [by_id[k] for k in step.get("children", []) if k in by_id]
        if len(kids) == 1:
            stack.append((kids[0], inner, inner))
            continue
        for i in reversed(range(len(kids))):
            last = i == len(kids) - 1
            deeper = inner + ("   " if last else "|  ")
            stack.append(
                (kids[i], inner + ("`- " if last else "|- "), deeper if len(deeper) <= MAX_INDENT else inner)
            )
    return lines


def format_session_info(info: dict[str, Any]) -> str:
    """The human-readable form of ``session_info``: a header and the edit tree. Every text from
    the file is shown without control characters or escape sequences (display_text)."""
    lines = []
    name = _clip(Path(info.get("path") or "session").name, 200)
    steps = info.get("steps") or []
    app = info.get("app") or {}
    by = _clip(f"{app.get('name', '?')} {app.get('version', '')}".strip(), 80)
    lines.append(
        f"{name}: {len(steps)} step{'s' if len(steps) != 1 else ''}, saved {_when(info.get('saved'))} "
        f"by {by} (format {_clip(info.get('format'))} v{_clip(info.get('version'))})"
    )
    src = info.get("source") or {}
    extras = [
        label
        for key, label in (
            ("has_icc_profile", "ICC profile"),
            ("has_exif", "EXIF"),
            ("has_alpha", "transparency"),
        )
        if src.get(key)
    ]
    lines.append(
        f"Source: {_clip(src.get('name') or '(unnamed)', 200)}"
        + (f" ({', '.join(extras)})" if extras else "")
    )
    lines.append(f"Current step: {info.get('current')}")
    lines.append("")
    lines.extend(_tree_lines(steps))
    return "\n".join(lines)
