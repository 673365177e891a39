"""The review of a batch, ``OUTPUT_DIR/review.json``: what a person decided about each photo in
the contact sheet (approved, rejected) and which rejected photos the next ``batch`` run renders
again, with another seed or their own expressive instruction.

The file::

    {"format": "mgie-review", "version": 1,
     "photos": {"frame03.jpg": {"decision": "rejected",
                                "rerender": {"seed": 42, "expressive": "Snow on the roofs."}}}}

``rerender`` (optional, on a rejected photo): ``seed`` renders every edit step with that seed,
``expressive`` steers the recipe's last edit step with that text instead of the one MGIE writes;
either or both. A run that renders it records the request in the photo's results line
(``"rerender"``); from then on the request is fulfilled, and ``settle`` clears the photo's mark so
the new render is reviewed afresh. A photo with no entry is undecided.

The file is written by the window and the batch, and read as outside input: a regular file of at
most MAX_BYTES, a checked schema; every problem is one ReviewError line naming the file.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import atomic_write, os_reason
from mgie_desktop.core.instruction import is_text
from mgie_desktop.core.params import SEED

NAME = "review.json"
FORMAT, VERSION = "mgie-review", 1
MAX_BYTES = 8 * 2**20  # a line or two per photo: room for tens of thousands of photos
MAX_EXPRESSIVE = 2000  # characters; MGIE's prompt holds far fewer tokens than this anyway


class ReviewError(InputError):
    """The review file cannot be read or written (one line, naming it)."""


class Decision(Enum):
    UNDECIDED = "undecided"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Rerender:
    """How a rejected photo is rendered again: a seed for every edit step, and/or a person's
    expressive instruction steering the last one."""

    seed: int | None = None
    expressive: str = ""

    def __post_init__(self) -> None:
        if self.seed is None and not self.expressive.strip():
            raise InputError("a re-render needs a new seed or an expressive instruction")
        if self.seed is not None:
            SEED.check("the seed", self.seed)
        if len(self.expressive) > MAX_EXPRESSIVE or not is_text(self.expressive):
            raise InputError(
                f"the expressive instruction must be text of at most {MAX_EXPRESSIVE} characters"
            )

    def to_json(self) -> dict:
        data: dict = {}
        if self.seed is not None:
            data["seed"] = self.seed
        if self.expressive:
            data["expressive"] = self.expressive
        return data

    @classmethod
    def from_json(cls, raw: object) -> Rerender:
        if not isinstance(raw, dict) or set(raw) - {"seed", "expressive"}:
            raise InputError('"rerender" must be an object with "seed" and/or "expressive"')
        seed, expressive = raw.get("seed"), raw.get("expressive", "")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InputError('"seed" must be a whole number')
        if not isinstance(expressive, str):
            raise InputError('"expressive" must be text')
        return cls(seed, expressive)

    def describe(self) -> str:
        """In a few words, for the contact sheet and the progress line."""
        parts = [f"seed {self.seed}"] if self.seed is not None else []
        if self.expressive:
            parts.append(f"“{self.expressive}”")
        return " and ".join(parts)


@dataclass(frozen=True)
class PhotoReview:
    decision: Decision = Decision.UNDECIDED
    rerender: Rerender | None = None  # only on a rejected photo

    def __post_init__(self) -> None:
        if self.rerender is not None and self.decision is not Decision.REJECTED:
            raise InputError("only a rejected photo is rendered again")


UNDECIDED = PhotoReview()


def read_review(folder: Path) -> dict[str, PhotoReview]:
    """The decisions in ``folder/review.json`` by photo name ({} when there is no file)."""
    path = Path(folder) / NAME
    try:
        raw = json.loads(_read_bounded(path).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ReviewError(f"cannot read the review file {path}: {os_reason(exc)}") from None
    except InputError as exc:  # not a regular file, or too large
        raise ReviewError(f"cannot read the review file {path}: {exc}") from None
    except (UnicodeDecodeError, RecursionError, ValueError):
        raise ReviewError(f"cannot read the review file {path}: it is not JSON text") from None
    try:
        return _parse(raw)
    except InputError as exc:
        raise ReviewError(f"cannot read the review file {path}: {exc}") from None


def _read_bounded(path: Path) -> bytes:
    """A regular file of at most MAX_BYTES (a FIFO or a device is refused before it is opened)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise InputError("it is not a regular file")
    with open(path, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise InputError("it is not a regular file")
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(f"it is larger than {MAX_BYTES // 2**20} MB")
    return data


def _parse(raw: object) -> dict[str, PhotoReview]:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError("it is not an MGIE review file")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise InputError("it was written by a newer version of this app")
    photos = raw.get("photos", {})
    if not isinstance(photos, dict):
        raise InputError('"photos" must be an object')
    reviews = {}
    for name, entry in photos.items():
        try:
            reviews[name] = _photo(entry)
        except InputError as exc:
            raise InputError(f"{_shown(name)}: {exc}") from None
    return reviews


def _photo(entry: object) -> PhotoReview:
    if not isinstance(entry, dict) or set(entry) - {"decision", "rerender"}:
        raise InputError('an entry must be an object with "decision" and an optional "rerender"')
    try:
        decision = Decision(entry.get("decision"))
    except ValueError:
        raise InputError(f'"decision" must be {", ".join(d.value for d in Decision)}') from None
    rerender = entry.get("rerender")
    return PhotoReview(decision, None if rerender is None else Rerender.from_json(rerender))


def _shown(name: str, limit: int = 60) -> str:
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_review(folder: Path, reviews: dict[str, PhotoReview]) -> None:
    """Replace ``folder/review.json`` atomically (undecided photos are left out)."""
    photos = {}
    for name, review in sorted(reviews.items()):
        if review == UNDECIDED:
            continue
        entry: dict = {"decision": review.decision.value}
        if review.rerender is not None:
            entry["rerender"] = review.rerender.to_json()
        photos[name] = entry
    # ASCII, with \u escapes: a file name that is not UTF-8 (Python holds its bytes as lone
    # surrogates) is written as such an escape and read back the same, never failing every save.
    data = json.dumps({"format": FORMAT, "version": VERSION, "photos": photos}, indent=1)
    path = Path(folder) / NAME
    try:
        atomic_write(path, lambda fh: fh.write(data.encode("ascii")), f"the review file {path}")
    except InputError as exc:
        raise ReviewError(str(exc)) from None


def fulfilled(request: Rerender, entry: dict | None) -> bool:
    """Whether the photo's latest results line is a render made for ``request``."""
    return (
        isinstance(entry, dict) and entry.get("status") == "ok" and entry.get("rerender") == request.to_json()
    )


def pending(reviews: dict[str, PhotoReview], latest: dict[str, dict]) -> dict[str, Rerender]:
    """The re-renders asked for and not made yet, by photo name."""
    return {
        name: review.rerender
        for name, review in reviews.items()
        if review.rerender is not None and not fulfilled(review.rerender, latest.get(name))
    }


def settle(folder: Path, latest: dict[str, dict]) -> list[str]:
    """Clear the mark of each photo whose re-render is made (it is undecided again: the new render
    is reviewed afresh); the names cleared. The file is rewritten only when something changed."""
    reviews = read_review(folder)
    done = [
        name
        for name, review in reviews.items()
        if review.rerender is not None and fulfilled(review.rerender, latest.get(name))
    ]
    if done:
        write_review(folder, {n: r for n, r in reviews.items() if n not in done})
    return done
