"""The words the dialog shows for the store's state and a download's progress.

Qt-free: each function turns a record (snapshot, progress) into text, so the wording can be
read in one place and the dialog only decides where the text goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mgie_desktop.store.manifest import Manifest
from mgie_desktop.store.progress import (
    DONE,
    DOWNLOADING,
    FAILED,
    SKIPPED,
    VERIFYING,
    Progress,
    format_bytes,
    format_seconds,
)
from mgie_desktop.store.verify import INSTALLED
from mgie_desktop.ui.model_manager.jobs import StoreSnapshot


def escape_html(text: str) -> str:
    """For paths and URLs put into rich-text labels."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def summary_html(snap: StoreSnapshot, manifest: Manifest, models_dir: Path) -> str:
    """The line under the tree: the bundle, what is left to download, free space (in red when
    short), and the source files that can be freed."""
    sizes = [f.size for f in manifest.files]
    # The same figure the main window quotes: exact when every size is listed, else approximate.
    everything = (
        format_bytes(sum(sizes)) if None not in sizes else f"about {format_bytes(manifest.expected_size)}"
    )
    if snap.bundle_installed:
        bundle = f"installed in {escape_html(str(models_dir / 'bundle'))}"
    else:
        bundle = "not installed"
    need = snap.need_bytes
    parts = [
        f"Bundle: <b>{bundle}</b>",
        f"To download: <b>{format_bytes(need) if need is not None else 'up to ' + everything}</b>"
        f" of {everything} in all",
    ]
    if snap.free_bytes is not None:
        short = need is not None and need > 0 and need > snap.free_bytes
        free = f"Free space: {format_bytes(snap.free_bytes)} on {escape_html(snap.free_where)}"
        parts.append(f'<span style="color:#c62828"><b>{free} — not enough</b></span>' if short else free)
    if snap.sources_bytes and snap.bundle_installed:
        parts.append(f"Source files: {format_bytes(snap.sources_bytes)} (can be freed)")
    return " · ".join(parts)


@dataclass(frozen=True)
class ProgressLines:
    """One ``Progress`` record as the dialog shows it."""

    file_text: str  # the line above the file's bar
    file_state: str  # the file's "State" cell in the tree
    overall_text: str  # the line above the overall bar
    file_frac: float | None  # None: unknown (the bar shows empty)
    overall_frac: float | None


def describe_progress(p: Progress) -> ProgressLines:
    f = p.file
    if f.phase == DOWNLOADING:
        pct = f" {100 * f.done / f.total:.0f} %" if f.total else ""
        text = (
            f"[{p.index}/{p.files_total}] {f.path}: {format_bytes(f.done)} of {format_bytes(f.total)} · "
            f"{format_bytes(f.speed)}/s · {format_seconds(f.eta)} left"
        )
        state = f"downloading{pct}"
    elif f.phase == VERIFYING:
        text = f"[{p.index}/{p.files_total}] {f.path}: checking {format_bytes(f.done)} of {format_bytes(f.total)}"
        state = "verifying"
    else:
        text = f"[{p.index}/{p.files_total}] {f.path}: {f.phase}" + (f" — {f.message}" if f.message else "")
        state = {DONE: INSTALLED, SKIPPED: INSTALLED, FAILED: "failed"}.get(f.phase, f.phase)
    file_frac = 1.0 if f.phase in (DONE, SKIPPED) else (f.done / f.total if f.total else None)
    overall = (
        f"All files: {format_bytes(p.done)} of {format_bytes(p.total)} · {format_bytes(p.speed)}/s · "
        f"{format_seconds(p.eta)} left · file {p.index} of {p.files_total}"
    )
    overall_frac = p.fraction if p.total else (p.index - 1) / max(1, p.files_total)
    return ProgressLines(text, state, overall, file_frac, overall_frac)
