"""What a batch did to each photo, as the contact sheet and the review window show it: the photo
before and after, its instructions, MGIE's expressive instructions, its status and the person's
decision. Built from the run itself (``batch --contact-sheet``) or from an OUTPUT_DIR alone (the
window), with every field of a results line typed once here: a line that is damaged or foreign
shows as that photo's failure, never as an exception later."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from mgie_desktop.batch.folder import FORMATS, PhotoJob
from mgie_desktop.batch.results import NAME as RESULTS_NAME
from mgie_desktop.batch.results import OK, read_results
from mgie_desktop.batch.review import UNDECIDED, PhotoReview, read_review
from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.recipe import parse_recipe, read_recipe_data
from mgie_desktop.core.step_params import MODEL_NAMES

MAX_TEXT = 600  # characters of any text from a results line kept for showing
DAMAGED = "its results line is damaged"


class PhotoStatus(Enum):
    OK = "ok"
    FAILED = "failed"
    NOT_DONE = "not done"  # no results line for this recipe yet (a stopped batch)


@dataclass(frozen=True)
class BatchPhoto:
    name: str
    before: Path | None  # the original photo, when known
    after: Path | None  # the output, when the photo was done
    status: PhotoStatus
    error: str = ""  # why it failed, one line
    expressive: tuple[str, ...] = ()  # MGIE's expressive instruction per edit step
    seeds: tuple[int, ...] = ()
    review: PhotoReview = UNDECIDED
    rerendered: bool = False  # its latest render was asked for in review.json
    steered_last: bool = False  # a person's expressive instruction, not MGIE's, steered the last edit
    models: tuple[str, ...] = ()  # each edit's engine (MODEL_NAMES); an older batch's line: none

    def speaker(self, step: int) -> str:
        """Whose words the ``step``-th expressive instruction is (counting edits from 0)."""
        return "yours" if self.steered_last and step == len(self.expressive) - 1 else "MGIE"

    @property
    def done(self) -> bool:
        return self.status is PhotoStatus.OK

    @property
    def no_after(self) -> str:
        """Why there is no after picture ("" when the photo is done)."""
        return "" if self.done else self.status.value

    @classmethod
    def from_line(
        cls,
        name: str,
        before: Path | None,
        line: dict | None,
        review: PhotoReview,
        folder: Path | None = None,
    ) -> BatchPhoto:
        """The photo as its latest results line ``line`` says (None: not done yet); ``folder``: look
        for its output there by name (the line's path may be relative to where the batch ran)."""
        if line is None:
            return cls(name, before, None, PhotoStatus.NOT_DONE, review=review)
        status, output = line.get("status"), line.get("output")
        expressive, seeds, error, models = (
            line.get("expressive_instructions", []),
            line.get("seeds", []),
            line.get("error") or "",
            line.get("models", []),
        )
        if (
            status not in (OK, PhotoStatus.FAILED.value)
            or not isinstance(output, str)
            or not isinstance(error, str)
            or not _all(expressive, str)
            or not _all(seeds, int)
            or not _all(models, str)
            or not set(models) <= set(MODEL_NAMES)
        ):
            return cls(name, before, None, PhotoStatus.FAILED, DAMAGED, review=review)
        ok, rerender = status == OK, line.get("rerender")
        return cls(
            name,
            before,
            (folder / Path(output).name if folder else Path(output)) if ok else None,
            PhotoStatus.OK if ok else PhotoStatus.FAILED,
            "" if ok else _text(error) or "no reason recorded",
            tuple(_text(e) for e in expressive),
            tuple(seeds),
            review,
            rerendered=ok and isinstance(rerender, dict),
            steered_last=ok and isinstance(rerender, dict) and bool(rerender.get("expressive")),
            models=tuple(models),
        )


def _all(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)


def _text(value: str) -> str:
    return display_text(value, width=MAX_TEXT)


@dataclass(frozen=True)
class Overview:
    """One batch's photos, in name order, and what is known of the run that made them."""

    output_dir: Path
    photos: tuple[BatchPhoto, ...]
    instructions: tuple[str, ...] = ()  # the recipe's, one per edit step
    recipe_file: Path | None = None
    input_dir: Path | None = None
    fmt: str = ""  # the output format as --format names it
    problems: tuple[str, ...] = ()  # what could not be read, one line each
    review_problem: str = ""  # review.json could not be read: it must not be written over
    reviews: dict[str, PhotoReview] = field(default_factory=dict)  # all of review.json's, by photo

    def counts(self) -> dict[PhotoStatus, int]:
        return {s: sum(1 for p in self.photos if p.status is s) for s in PhotoStatus}

    def rerun_command(self) -> str:
        """The command that runs the batch again (and so makes the re-renders asked for)."""
        words = [
            "mgie-desktop",
            "batch",
            str(self.recipe_file) if self.recipe_file else "RECIPE.json",
            str(self.input_dir) if self.input_dir else "INPUT_DIR",
            str(self.output_dir),
        ]
        if self.fmt and self.fmt != "jpg":
            words += ["--format", self.fmt]
        return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def recipe_instructions(recipe_data: object) -> tuple[str, ...]:
    """The instruction of each edit step of a recipe (checked as ``batch`` checks it)."""
    recipe = parse_recipe(recipe_data)
    return tuple(_text(s.instruction) for s in recipe.steps if s.geometry is None)


def overview_of_run(
    output_dir: Path,
    jobs: list[PhotoJob],
    digest: str,
    instructions: tuple[str, ...],
    recipe_file: Path,
    fmt: str,
) -> Overview:
    """The photos of the batch just run: each of ``jobs`` as the results file now says
    (lines of another recipe do not count: such a photo is not done for this one)."""
    latest = read_results(output_dir / RESULTS_NAME)
    reviews, review_problem = _reviews(output_dir)
    photos = []
    for job in jobs:
        line = latest.get(job.name)
        if line is not None and line.get("recipe") != digest:
            line = None
        photos.append(BatchPhoto.from_line(job.name, Path(job.path), line, reviews.get(job.name, UNDECIDED)))
    input_dir = Path(jobs[0].path).parent.resolve() if jobs else None
    return Overview(
        output_dir.resolve(),
        tuple(photos),
        instructions,
        recipe_file,
        input_dir,
        fmt,
        (review_problem,) if review_problem else (),
        review_problem,
        reviews,
    )


def overview_of_folder(output_dir: Path) -> Overview:
    """A batch's OUTPUT_DIR read on its own: every photo its results file names, with the recipe
    and input folder its lines record (``source``, ``recipe_file``) where they still exist."""
    output_dir = Path(output_dir)
    results = output_dir / RESULTS_NAME
    if not results.is_file():
        raise InputError(f"{output_dir} holds no batch results ({RESULTS_NAME})")
    latest = read_results(results)
    reviews, review_problem = _reviews(output_dir)
    problems = (review_problem,) if review_problem else ()
    photos, recipe_file, input_dir, fmt = [], None, None, ""
    for name in sorted(latest):
        line = latest[name]
        source = line.get("source")
        before = Path(source) if isinstance(source, str) and source else None
        photos.append(BatchPhoto.from_line(name, before, line, reviews.get(name, UNDECIDED), output_dir))
        recipe_file = _path(line.get("recipe_file")) or recipe_file
        input_dir = before.parent if before is not None else input_dir
        fmt = _format_of(line.get("output")) or fmt
    instructions: tuple[str, ...] = ()
    if recipe_file is not None:
        try:
            instructions = recipe_instructions(read_recipe_data(recipe_file))
        except InputError as exc:
            problems += (f"the recipe's instructions are not shown: {exc}",)
    return Overview(
        output_dir,
        tuple(photos),
        instructions,
        recipe_file,
        input_dir,
        fmt,
        problems,
        review_problem,
        reviews,
    )


def _reviews(output_dir: Path) -> tuple[dict[str, PhotoReview], str]:
    """review.json's decisions, or none and why (a sheet is still worth making without them)."""
    try:
        return read_review(output_dir), ""
    except InputError as exc:  # a ReviewError: one line naming the file (InputError: to be sure)
        return {}, str(exc)


def _path(value: object) -> Path | None:
    return Path(value) if isinstance(value, str) and value else None


def _format_of(output: object) -> str:
    if not isinstance(output, str):
        return ""
    suffix = Path(output).suffix.lower()
    return next((fmt for fmt, ext in FORMATS.items() if ext == suffix), "")
