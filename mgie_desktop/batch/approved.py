"""Copying a batch's approved outputs to another folder (the review window's "Export approved"):
names kept, each copy complete or absent (core.files.atomic_write), and a file already there is
replaced only when the person said so."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import atomic_write


@dataclass(frozen=True)
class ExportResult:
    copied: tuple[str, ...]
    kept: tuple[str, ...]  # already in the folder, left as they were
    missing: tuple[str, ...]  # approved, but the output is gone

    def summary(self, folder: Path) -> str:
        text = f"copied {len(self.copied)} approved photo(s) to {folder}"
        if self.kept:
            text += f"; kept the {len(self.kept)} already there"
        if self.missing:
            text += f"; {len(self.missing)} output(s) missing: {', '.join(self.missing[:3])}"
        return text


def clashes(outputs: list[Path], folder: Path) -> list[str]:
    """The names among ``outputs`` that ``folder`` already holds."""
    return [path.name for path in outputs if (folder / path.name).exists()]


def export_approved(outputs: list[Path], folder: Path, replace: bool = False) -> ExportResult:
    """Copy ``outputs`` into ``folder``; files already there are kept unless ``replace``."""
    if not folder.is_dir():
        raise InputError(f"cannot export to {folder}: not a folder")
    copied, kept, missing = [], [], []
    for source in outputs:
        target = folder / source.name
        if not source.is_file():
            missing.append(source.name)
            continue
        if target.exists() and not replace:
            kept.append(source.name)
            continue
        with open(source, "rb") as fh:
            atomic_write(target, lambda out, fh=fh: shutil.copyfileobj(fh, out), f"the copy {target}")
        copied.append(source.name)
    return ExportResult(tuple(copied), tuple(kept), tuple(missing))
