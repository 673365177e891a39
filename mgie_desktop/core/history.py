"""The edit graph: every step a node with its image, parent and settings.

Undo/redo walk the current branch; an edit from an older step starts a new branch and
every branch stays reachable. Step images go to disk losslessly (PNG, written on a
background thread) with a small in-memory cache, so long sessions of large photos stay
within a bounded amount of memory. Pure Python: no Qt, no torch.

A history turns into a plain JSON-able manifest (``History.to_manifest``) and back
(``History.restore``); the session file format built on it lives in ``session.py``.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from PIL import Image, UnidentifiedImageError

from .display_text import display_text
from .errors import InputError
from .files import atomic_write, os_reason
from .instruction import is_text
from .master import read_stored, stored_bytes
from .step_params import DEFAULT_EDIT, StepKind, StepParams


@dataclass(frozen=True)
class Step:
    id: int
    parent: int | None
    instruction: str = ""  # empty for the opened photo
    expressive_instruction: str = ""
    params: StepParams = StepParams()  # its kind and the settings it was made with
    timings: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    steered_instruction: str = ""  # a person's expressive instruction that drove the edit, if any
    mask: str = ""  # where the edit applied (core.masks.mask_to_text); "" = everywhere

    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def kind(self) -> StepKind:
        return self.params.kind

    @property
    def is_render(self) -> bool:
        """An edit (not the opened photo, not a crop, rotation or flip): it can be rendered again."""
        return self.params.is_render


class DamagedImage(InputError):
    """A step's image file decodes to nothing (damaged pixel data behind a valid header): that
    step cannot be shown, every other step can."""

    def __init__(self, step_id: int, reason: str):
        super().__init__(f"the image of step {step_id} is damaged and cannot be shown ({reason})")
        self.step_id = step_id
        self.reason = reason


class ImageStore:
    """Lossless step images on disk with an LRU cache of recently used ones."""

    def __init__(
        self,
        folder: Path | None = None,
        cache_size: int = 4,
        max_pending: int = 2,
        cache_bytes: int = 160 * 2**20,
    ):
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="mgie-history-")
        self.folder = Path(folder) if folder else Path(self._tmp.name) if self._tmp is not None else Path()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cache_size = max(1, int(cache_size))
        # Small photos: several steps cached; a 24 MP photo (72 MB decoded): the last two.
        self.cache_bytes = cache_bytes
        # Images queued for the writer are held in memory too; put() waits rather than let
        # more than this many pile up, so a burst of edits cannot grow memory without bound.
        self.max_pending = max(1, int(max_pending))
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()
        self._writes: dict[int, Future[Any]] = {}
        # Images not yet safely on disk, kept whatever the cache evicts: a failed write (disk
        # full) is retried by the next flush() instead of losing the step.
        self._unwritten: dict[int, Image.Image] = {}
        # Steps whose file would not decode, with why: asked for again, they fail at once.
        self._damaged: dict[int, str] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer")
        self._master: np.ndarray | None = None  # the opened photo's master until it is on disk
        self._master_write: Future[Any] | None = None

    def path(self, step_id: int) -> Path:
        return self.folder / f"step-{step_id:05d}.png"

    @property
    def master_path(self) -> Path:
        """Where the opened photo's 16-bit master lives (core/master.py), if it had one."""
        return self.folder / "master-16bit.tif"

    def put_master(self, master: np.ndarray) -> None:
        """Keep the opened photo's master: written on the writer thread (a 24 MP one takes
        seconds), and held in memory until it is safely on disk."""
        with self._lock:
            self._master = master
        self._master_write = self._writer.submit(self._write_master, master)

    def hold_master(self, master: np.ndarray) -> None:
        """Keep the opened photo's master in memory only (a chain that ``edit`` or ``batch`` saves
        and forgets); ``master_file`` writes it if a session is saved after all."""
        with self._lock:
            self._master = master

    def master_file(self) -> Path:
        """The master's file, on disk (a session being saved copies it): written now if it was only
        held, waited for if it is being written, written once more if that failed (a full disk)."""
        with self._lock:
            held, pending = self._master, self._master_write
        if held is not None and pending is None:
            pending = self._master_write = self._writer.submit(self._write_master, held)
        if pending is not None:
            try:
                pending.result()
            except Exception:
                with self._lock:
                    held = self._master
                if held is None:
                    raise
                self._master_write = self._writer.submit(self._write_master, held)
                self._master_write.result()  # once more: the disk may have room now
        return self.master_path

    def _write_master(self, master: np.ndarray) -> None:
        data = stored_bytes(master)
        atomic_write(self.master_path, lambda fh: fh.write(data), "the photo's 16-bit master")
        with self._lock:
            self._master = None

    @property
    def has_master(self) -> bool:
        return self._master is not None or self.master_path.is_file()

    def master(self) -> np.ndarray | None:
        """The opened photo's master, or None: it had 8 bits per channel and was sRGB."""
        with self._lock:
            held = self._master
        if held is not None:
            return held
        return read_stored(self.master_path) if self.master_path.is_file() else None

    def put(self, step_id: int, image: Image.Image) -> None:
        image = image.copy()
        self._remember(step_id, image)
        with self._lock:
            self._unwritten[step_id] = image
            self._damaged.pop(step_id, None)  # a new image replaces the damaged file
        self._submit(step_id, image)
        self._limit_pending()

    def _submit(self, step_id: int, image: Image.Image) -> Future[Any]:
        future = self._writer.submit(self._write, step_id, image)
        with self._lock:
            self._writes[step_id] = future
        return future

    def has(self, step_id: int) -> bool:
        """Whether the store holds an image for this step (queued, cached or on disk)."""
        return step_id in self._writes or step_id in self._cache or self.path(step_id).is_file()

    @property
    def cached_ids(self) -> tuple[int, ...]:
        """Steps whose decoded image is held in memory, least recently used first."""
        with self._lock:
            return tuple(self._cache)

    @property
    def pending(self) -> int:
        """Step images queued or being written."""
        return sum(1 for f in list(self._writes.values()) if not f.done())

    def get(self, step_id: int) -> Image.Image:
        with self._lock:
            if step_id in self._cache:
                self._cache.move_to_end(step_id)
                return self._cache[step_id]
            if step_id in self._unwritten:
                return self._unwritten[step_id]
        pending = self._writes.get(step_id)
        if pending is not None:
            pending.result()
        image = self._read(step_id)
        self._remember(step_id, image)
        return image

    @property
    def damaged(self) -> dict[int, str]:
        """Steps found damaged when their image was read, and why."""
        with self._lock:
            return dict(self._damaged)

    def _read(self, step_id: int) -> Image.Image:
        """Decode a step's file. Opening a session checks each PNG's header and chunks but decodes
        no pixels (the window decodes every step for its thumbnail right after; doing it twice
        would double the wait), so pixel data damaged behind a valid header surfaces here."""
        with self._lock:
            reason = self._damaged.get(step_id)
        if reason is not None:
            raise DamagedImage(step_id, reason)
        try:
            with Image.open(self.path(step_id)) as f:
                image: Image.Image = f.copy()
                return image
        except MemoryError:
            raise
        except UnidentifiedImageError:
            reason = "not a readable image"  # Pillow's own message holds the work folder's path
        except OSError as exc:
            if exc.errno is not None:  # the disk, not the data: another try may work
                raise InputError(f"the image of step {step_id} cannot be read ({os_reason(exc)})") from None
            reason = _decoder_reason(exc)
        except Exception as exc:  # Pillow's decoders raise SyntaxError, ValueError, ... on bad data
            reason = _decoder_reason(exc)
        with self._lock:
            self._damaged[step_id] = reason
        raise DamagedImage(step_id, reason)

    def flush(self) -> None:
        """Wait until every step image is on disk (re-raising a failed write)."""
        with self._lock:
            futures = list(self._writes.items())
        for step_id, future in futures:
            try:
                future.result()
            except Exception:
                with self._lock:
                    image = self._unwritten.get(step_id)
                if image is None:
                    raise
                self._submit(step_id, image).result()  # once more: the disk may have room now
        self._prune()

    def _prune(self) -> None:
        # Finished writes need no bookkeeping; a failed one stays so get()/flush() report it.
        with self._lock:
            for step_id, future in list(self._writes.items()):
                if future.done() and future.exception() is None:
                    self._writes.pop(step_id, None)

    def _limit_pending(self) -> None:
        self._prune()
        with self._lock:
            waiting = [f for f in self._writes.values() if not f.done()]
        # Oldest first (the single writer finishes them in order). A failed write is not raised
        # here: its image stays in memory and flush() retries and reports it.
        futures_wait(waiting[: max(0, len(waiting) - self.max_pending)])

    def close(self) -> None:
        self.flush()
        self._writer.shutdown(wait=True)
        if self._tmp is not None:
            self._tmp.cleanup()

    def _remember(self, step_id: int, image: Image.Image) -> None:
        with self._lock:
            self._cache[step_id] = image
            self._cache.move_to_end(step_id)
            while len(self._cache) > 1 and (
                len(self._cache) > self.cache_size or self._cached_bytes() > self.cache_bytes
            ):
                self._cache.popitem(last=False)

    def _cached_bytes(self) -> int:
        return sum(im.width * im.height * len(im.getbands()) for im in self._cache.values())

    def _write(self, step_id: int, image: Image.Image) -> None:
        final = self.path(step_id)
        tmp = final.with_suffix(".png.tmp")
        image.save(tmp, format="PNG", compress_level=1)  # lossless; speed over size
        tmp.replace(final)
        with self._lock:
            self._unwritten.pop(step_id, None)


def _decoder_reason(exc: Exception) -> str:
    # "image file is truncated (0 bytes not processed)": the words before the detail suffice.
    return os_reason(exc).split(" (")[0]


class History:
    def __init__(self, store: ImageStore | None = None):
        self._lock = threading.RLock()  # autosave reads the graph from a file-work thread
        self.store = store or ImageStore()
        self._steps: dict[int, Step] = {}
        self._ids = itertools.count()
        self._current: int | None = None
        self._redo_child: dict[int, int] = {}  # parent -> the child redo returns to
        self._blends: dict[tuple[int, float], Image.Image] = {}  # the last step shown below full strength

    # ---- building ---------------------------------------------------------------------
    def start(self, image: Image.Image) -> Step:
        """Begin a history with the opened photo as its root."""
        return self._add(Step(next(self._ids), None), image)

    def push(
        self,
        image: Image.Image,
        *,
        instruction: str,
        expressive_instruction: str = "",
        params: StepParams = DEFAULT_EDIT,
        timings: dict[str, Any] | None = None,
        parent: int | None = None,
        steered_instruction: str = "",
        mask: str = "",
    ) -> Step:
        """Add an edit as a child of ``parent`` (default: the current step) and make it current.
        Pushing from a step that already has children starts a new branch. ``steered_instruction``:
        the person's own expressive instruction, kept beside MGIE's."""
        parent = self._current if parent is None else parent
        if parent not in self._steps:
            raise ValueError("push before start(): there is no step to edit from")
        step = Step(
            next(self._ids),
            parent,
            instruction,
            expressive_instruction,
            params,
            dict(timings or {}),
            steered_instruction=steered_instruction,
            mask=mask,
        )
        return self._add(step, image)

    def _add(self, step: Step, image: Image.Image) -> Step:
        with self._lock:
            self._steps[step.id] = step
        self.store.put(step.id, image)
        self._move_to(step.id)
        return step

    # ---- persistence ------------------------------------------------------------------
    def to_manifest(self) -> dict[str, Any]:
        """The graph as plain JSON-able data: every step, the current one and the redo memory.

        ``{"current": id, "steps": [{"id", "parent", "instruction", "expressive_instruction",
        "steered_instruction", "mask", "params", "timings", "created", "redo_child"}, ...]}`` in id order. ``redo_child`` is
        the child that redo returns to from that step (``None`` when redo has nowhere to go).
        Images are not included: they stay in the store, under ``store.path(id)``.
        """
        with self._lock:
            return self._manifest()

    def _manifest(self) -> dict[str, Any]:
        steps = []
        for step in self.steps:
            steps.append(
                {
                    "id": step.id,
                    "parent": step.parent,
                    "instruction": step.instruction,
                    "expressive_instruction": step.expressive_instruction,
                    "steered_instruction": step.steered_instruction,
                    "mask": step.mask,
                    "params": step.params.to_json(),
                    "timings": dict(step.timings),
                    "created": step.created,
                    "redo_child": self._redo_child.get(step.id),
                }
            )
        return {"current": self._current, "steps": steps}

    @classmethod
    def restore(cls, manifest: dict[str, Any], store: ImageStore) -> History:
        """Rebuild a history from ``to_manifest()`` data whose images are already in ``store``.

        Everything is checked before use; a damaged or hostile manifest raises InputError
        saying what is wrong (missing parent or image, cycles, wrong types, ...).
        """
        steps, current, redo = validate_manifest(manifest)
        for step in steps:
            if not store.has(step.id):
                raise InputError(f"the image of step {step.id} is missing")
        history = cls(store)
        history._steps = {step.id: step for step in steps}
        history._ids = itertools.count(max(history._steps) + 1)
        history._current = current
        history._redo_child = redo
        return history

    # ---- reading ----------------------------------------------------------------------
    @property
    def current(self) -> Step | None:
        return None if self._current is None else self._steps[self._current]

    @property
    def steps(self) -> list[Step]:
        return sorted(self._steps.values(), key=lambda s: s.id)

    def __len__(self) -> int:
        return len(self._steps)

    def step(self, step_id: int) -> Step:
        return self._steps[step_id]

    def image(self, step_id: int | None = None) -> Image.Image:
        """The step as it looks: its render blended with its source at the step's strength."""
        step_id = self._current_id() if step_id is None else step_id
        strength = self.strength(step_id)
        if strength >= 1.0:
            return self.store.get(step_id)
        key = (step_id, strength)
        with self._lock:
            blended = self._blends.get(key)
        if blended is None:
            blended = self._blend_down(step_id)
            with self._lock:
                self._blends = {key: blended}  # the latest only: strength changes one step at a time
        return blended

    def _blend_down(self, step_id: int) -> Image.Image:
        # A loop, not recursion: a session may chain thousands of steps below full strength.
        partial = []
        node = step_id
        while self.strength(node) < 1.0:  # a root is at full strength: the loop ends there at the latest
            partial.append(node)
            parent = self._steps[node].parent
            assert parent is not None, "a root is at full strength"
            node = parent
        image = self.store.get(node)
        for node in reversed(partial):
            image = blend(image, self.store.get(node), self.strength(node))
        return image

    def rendered(self, step_id: int | None = None) -> Image.Image:
        """The step's own image at full strength (what the session stores)."""
        return self.store.get(self._current_id() if step_id is None else step_id)

    # ---- strength -----------------------------------------------------------------------
    def strength(self, step_id: int) -> float:
        step = self._steps[step_id]
        return step.params.strength  # 1 for the photo (nothing under it) and a crop, rotation or flip

    def can_set_strength(self, step_id: int) -> bool:
        """An edit with no later steps: later edits were made from it as it looked then."""
        step = self._steps[step_id]
        return step.is_render and not self.children(step_id)

    def set_strength(self, step_id: int, strength: float) -> Step:
        if not self.can_set_strength(step_id):
            raise ValueError(f"step {step_id} is the original, a geometry step or has later edits")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, not {strength}")
        with self._lock:
            step = self._steps[step_id]
            self._steps[step_id] = replace(step, params=step.params.with_strength(strength))
            return self._steps[step_id]

    def children(self, step_id: int) -> list[Step]:
        return [s for s in self.steps if s.parent == step_id]

    def lineage(self, step_id: int) -> list[Step]:
        """Root ... step_id."""
        chain = []
        node: int | None = step_id
        while node is not None:
            chain.append(self._steps[node])
            node = self._steps[node].parent
        return chain[::-1]

    def depth(self, step_id: int) -> int:
        return len(self.lineage(step_id)) - 1

    # ---- moving -----------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return self.current is not None and not self.current.is_root

    @property
    def can_redo(self) -> bool:
        return self._current is not None and self._current in self._redo_child

    def undo(self) -> Step | None:
        current = self.current
        if current is None or current.parent is None:  # what can_undo says
            return None
        self._move_to(current.parent)
        return self.current

    def redo(self) -> Step | None:
        if not self.can_redo:
            return None
        self._move_to(self._redo_child[self._current_id()])
        return self.current

    def go_to(self, step_id: int) -> Step:
        if step_id not in self._steps:
            raise KeyError(f"no step {step_id}")
        self._move_to(step_id)
        return self._steps[step_id]

    def _current_id(self) -> int:
        assert self._current is not None, "the history is started"
        return self._current

    def _move_to(self, step_id: int) -> None:
        # Remember the branch we came along so redo retraces it.
        with self._lock:
            for step in self.lineage(step_id)[1:]:
                if step.parent is not None:  # all but the root, which [1:] leaves out
                    self._redo_child[step.parent] = step.id
            self._current = step_id

    def close(self) -> None:
        self.store.close()


def blend(source: Image.Image, result: Image.Image, strength: float) -> Image.Image:
    """``strength`` of the way from ``source`` to ``result``, at full resolution."""
    if source.size != result.size or source.mode != result.mode:
        source = source.convert(result.mode).resize(result.size, Image.Resampling.LANCZOS)
    return Image.blend(source, result, strength)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# Numbers a manifest may hold. 2**63 bounds the largest the app writes (a 63-bit seed); times
# end with the year 9999, as Python's own dates do, so they always format.
MAX_MAGNITUDE = 2**63
LATEST_TIME = 253_402_300_799.0  # 9999-12-31 23:59:59 UTC
MAX_NESTING = 32  # params hold a geometry op at most two levels down


def _is_id(value: object) -> TypeGuard[int]:
    # Bounded too: an id names a file (step_member) and shows in messages.
    return _is_int(value) and 0 <= value <= MAX_MAGNITUDE


def is_time(value: object) -> TypeGuard[int | float]:
    """A number of seconds since 1970 that the app can show as a date (not NaN, not 1e400)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= LATEST_TIME


def value_problem(value: object) -> tuple[str, str] | None:
    """The first thing in parsed JSON that no part of the app could take, as (where, why):
    a number that is not finite or past ``MAX_MAGNITUDE``, a string or key that is not valid
    Unicode (a lone surrogate), nesting past ``MAX_NESTING``. ``where`` is a path like
    ``params.geometry``. A stack, not recursion, so any depth the parser accepted is safe."""
    stack: list[tuple[tuple[str | int, ...], object]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if len(path) > MAX_NESTING:
            return _path_text(path), "is nested too deeply"
        if isinstance(item, dict):
            for key, child in item.items():
                if not is_text(key):
                    return _path_text(path), "has a key that is not valid text"
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return _path_text(path), "is not a finite number"
        elif _is_int(item) and not -MAX_MAGNITUDE <= item <= MAX_MAGNITUDE:
            return _path_text(path), "is too large a number"
        elif isinstance(item, str) and not is_text(item):
            return _path_text(path), "is not valid text (a lone surrogate)"
    return None


def _path_text(path: tuple[str | int, ...]) -> str:
    # Built only for the message: keys come from the file and may be long or hold controls.
    text = "".join(
        f"[{part}]" if isinstance(part, int) else f".{display_text(part, width=30)}" for part in path
    )
    return display_text(text.lstrip("."), width=60)


def _shown_path(key: str, where: str) -> str:
    return f"{key}.{where}" if where and not where.startswith("[") else key + where


def validate_manifest(manifest: object) -> tuple[list[Step], int, dict[int, int]]:
    """Check ``History.to_manifest()`` data from an untrusted source.

    Returns (steps, current id, redo memory) or raises InputError naming the problem.
    """
    if not isinstance(manifest, dict):
        raise InputError("the history is not a JSON object")
    raw_steps = manifest.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InputError("the history has no steps")

    steps: dict[int, Step] = {}
    redo_raw: dict[int, object] = {}
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise InputError(f"step #{index + 1} of the history is not a JSON object")
        step_id = raw.get("id")
        if not _is_id(step_id):
            raise InputError(f"step #{index + 1} of the history has no valid id")
        if step_id in steps:
            raise InputError(f"step {step_id} appears twice in the history")
        parent = raw.get("parent")
        if parent is not None and not _is_id(parent):
            raise InputError(f"step {step_id} has an invalid parent")
        fields: dict[str, Any] = {}
        for key, kind, default in (
            ("instruction", str, ""),
            ("expressive_instruction", str, ""),
            ("steered_instruction", str, ""),
            ("mask", str, ""),
            ("params", dict, {}),
            ("timings", dict, {}),
        ):
            value = raw.get(key, default)
            if not isinstance(value, kind):
                raise InputError(f"step {step_id} has an invalid '{key}'")
            if problem := value_problem(value):  # checked here, once: nothing later re-checks
                where, why = problem
                raise InputError(f"step {step_id} has an invalid '{_shown_path(key, where)}': it {why}")
            fields[key] = value
        try:  # typed here, once: the rest of the app takes a step's settings as they are
            fields["params"] = StepParams.from_json(fields["params"], root=parent is None)
        except InputError as exc:
            raise InputError(f"step {step_id} is damaged: {exc}") from None
        created = raw.get("created", 0.0)
        if not is_time(created):
            raise InputError(f"step {step_id} has an invalid 'created' time")
        steps[step_id] = Step(step_id, parent, created=created, **fields)
        redo_raw[step_id] = raw.get("redo_child")

    for step in steps.values():
        if step.parent is not None and step.parent not in steps:
            raise InputError(f"step {step.id} refers to a parent step {step.parent} that does not exist")
    # Every chain of parents must end at a root within len(steps) hops; otherwise it loops.
    reaches_root: set[int] = set()
    for step in steps.values():
        seen: set[int] = set()  # a set: a 10 000-step chain read leaf first stays linear
        node: int | None = step.id
        while node is not None and node not in reaches_root:
            if node in seen:
                raise InputError(f"the history's steps form a cycle (through step {node})")
            seen.add(node)
            node = steps[node].parent
        reaches_root.update(seen)

    current = manifest.get("current")
    if not _is_int(current) or current not in steps:
        raise InputError("the history's current step does not exist")

    redo: dict[int, int] = {}
    for step_id, child in redo_raw.items():
        if child is None:
            continue
        if not _is_int(child) or child not in steps or steps[child].parent != step_id:
            raise InputError(f"step {step_id} has a redo entry that is not one of its children")
        redo[step_id] = child
    return sorted(steps.values(), key=lambda s: s.id), current, redo
