"""The photos of a batch: every photo file directly in the input folder, in name order, each
with its output path ``OUTPUT_DIR/NAME.FORMAT`` (NAME: the photo's file name without suffix)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mgie_desktop.batch.review import Rerender
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import os_reason

# Camera RAW files are not read (core/raw.py develops them in the window and in `edit`): a shoot
# kept as RAW + JPEG would give both the same output, and without rawpy every RAW would fail.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif")
FORMATS = {"jpg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif"}


@dataclass(frozen=True)
class PhotoJob:
    name: str  # the photo's file name: its results line and its derived seed go by it
    path: str
    output: str
    clash: str = ""  # another photo in the folder already has this output name
    rerender: Rerender | None = None  # review.json asks for it to be rendered again, so

    def row(self) -> dict:
        """The job as plain text columns (Ray Data carries it so)."""
        rerender = json.dumps(self.rerender.to_json()) if self.rerender is not None else ""
        return {
            "name": self.name,
            "path": self.path,
            "output": self.output,
            "clash": self.clash,
            "rerender": rerender,
        }

    COLUMNS = ("name", "path", "output", "clash", "rerender")

    @classmethod
    def from_row(cls, row) -> PhotoJob:
        rerender = str(row.get("rerender", ""))
        return cls(
            str(row["name"]),
            str(row["path"]),
            str(row["output"]),
            str(row["clash"]),
            Rerender.from_json(json.loads(rerender)) if rerender else None,
        )


def list_photos(input_dir: Path, output_dir: Path, fmt: str) -> list[PhotoJob]:
    """The folder's photos (hidden files and other suffixes left out). Two photos with one name
    (``a.jpg``, ``a.png``) would write one output: the first in name order gets it, the other
    is marked as a clash (recorded as failed, never overwriting)."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise InputError(f"cannot read the photos in {input_dir}: not a folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"cannot write to {output_dir}: it is a file, not a folder")
    if output_dir.resolve() == input_dir.resolve():
        raise InputError(
            "the output folder is the input folder: give another one (outputs would be read as photos)"
        )
    jobs, taken = [], {}
    # Absolute: the results file records each photo's path, read later from anywhere (the review window).
    for path in sorted(input_dir.absolute().iterdir(), key=lambda p: p.name):
        if (
            not is_photo_name(path.name) or path.is_dir()
        ):  # subfolders (a watch's done/, failed/) are never read
            continue
        output = output_for(path, output_dir, fmt)
        clash = taken.get(output.name, "")
        taken.setdefault(output.name, path.name)
        jobs.append(PhotoJob(path.name, str(path), str(output), clash))
    return jobs


def is_photo_name(name: str) -> bool:
    """A photo's file name: a photo suffix, not hidden."""
    return not name.startswith(".") and Path(name).suffix.lower() in PHOTO_SUFFIXES


def output_for(path: Path, output_dir: Path, fmt: str) -> Path:
    """``OUTPUT_DIR/NAME.FORMAT`` for the photo at ``path``."""
    return Path(output_dir) / f"{Path(path).stem}{FORMATS[fmt]}"


def check_output_folder(output_dir: Path) -> None:
    """Make the output folder if need be and prove it takes a file, before any model loads or
    photo renders (else every photo would render, then fail to save, for a reason about the photo)."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=output_dir, prefix=".mgie-batch-", suffix=".probe")
    except OSError as exc:
        raise InputError(f"cannot write to the output folder {output_dir}: {os_reason(exc)}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def attempt_marker(job: PhotoJob) -> Path:
    """``.PHOTO.editing`` (the photo's own file name, unique where output names can clash) beside
    the output while the photo is being edited: found by the next attempt in the same run, it says
    the last one took its worker down."""
    return Path(job.output).with_name(f".{job.name}.editing")


def remove_leftovers(output_dir: Path, jobs: list[PhotoJob]) -> None:
    """Delete what a crash left mid-edit of these jobs' outputs: their attempt markers (a new run
    tries every photo again), and the temporary files core.files.atomic_write names
    ``.NAME.XXXXXXXX.tmp`` beside the output. Anything else in the folder is not ours.
    (Two batches writing one folder at once would lose each other's saves here, and results anyway.)"""
    outputs = {Path(job.output).name for job in jobs}
    markers = {attempt_marker(job).name for job in jobs}
    try:
        found = list(output_dir.iterdir())
    except OSError:  # a folder one may write but not list: nothing to clean that we can see
        return
    for path in found:
        name = path.name
        temporary = (
            name.startswith(".") and name.endswith(".tmp") and name[1:-4].rpartition(".")[0] in outputs
        )
        if temporary or name in markers:
            with contextlib.suppress(OSError):
                path.unlink()
