"""The edit graph: every step a node with its image, parent and settings.

Undo/redo walk the current branch; an edit from an older step starts a new branch and
every branch stays reachable. Step images go to disk losslessly (PNG, written on a
background thread) with a small in-memory cache, so long sessions of large photos stay
within a bounded amount of memory. Pure Python: no Qt, no torch.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Step:
    id: int
    parent: int | None
    instruction: str = ""                 # empty for the opened photo
    expressive_instruction: str = ""
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @property
    def is_root(self) -> bool:
        return self.parent is None


class ImageStore:
    """Lossless step images on disk with an LRU cache of recently used ones."""

    def __init__(self, folder: Path | None = None, cache_size: int = 4):
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="mgie-history-")
        self.folder = Path(folder or self._tmp.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()
        self._writes: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer")

    def path(self, step_id: int) -> Path:
        return self.folder / f"step-{step_id:05d}.png"

    def put(self, step_id: int, image: Image.Image) -> None:
        image = image.copy()
        self._remember(step_id, image)
        self._writes[step_id] = self._writer.submit(self._write, step_id, image)

    def get(self, step_id: int) -> Image.Image:
        with self._lock:
            if step_id in self._cache:
                self._cache.move_to_end(step_id)
                return self._cache[step_id]
        pending = self._writes.get(step_id)
        if pending is not None:
            pending.result()
        with Image.open(self.path(step_id)) as f:
            image = f.copy()
        self._remember(step_id, image)
        return image

    def flush(self) -> None:
        """Wait until every step image is on disk."""
        for future in list(self._writes.values()):
            future.result()

    def close(self) -> None:
        self.flush()
        self._writer.shutdown(wait=True)
        if self._tmp is not None:
            self._tmp.cleanup()

    def _remember(self, step_id: int, image: Image.Image) -> None:
        with self._lock:
            self._cache[step_id] = image
            self._cache.move_to_end(step_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _write(self, step_id: int, image: Image.Image) -> None:
        final = self.path(step_id)
        tmp = final.with_suffix(".png.tmp")
        image.save(tmp, format="PNG", compress_level=1)  # lossless; speed over size
        tmp.replace(final)


class History:
    def __init__(self, store: ImageStore | None = None):
        self.store = store or ImageStore()
        self._steps: dict[int, Step] = {}
        self._ids = itertools.count()
        self._current: int | None = None
        self._redo_child: dict[int, int] = {}  # parent -> the child redo returns to

    # ---- building ---------------------------------------------------------------------
    def start(self, image: Image.Image) -> Step:
        """Begin a history with the opened photo as its root."""
        return self._add(Step(next(self._ids), None), image)

    def push(self, image: Image.Image, *, instruction: str, expressive_instruction: str = "",
             params: dict | None = None, timings: dict | None = None, parent: int | None = None) -> Step:
        """Add an edit as a child of ``parent`` (default: the current step) and make it current.
        Pushing from a step that already has children starts a new branch."""
        parent = self._current if parent is None else parent
        if parent not in self._steps:
            raise ValueError("push before start(): there is no step to edit from")
        step = Step(next(self._ids), parent, instruction, expressive_instruction, dict(params or {}), dict(timings or {}))
        return self._add(step, image)

    def _add(self, step: Step, image: Image.Image) -> Step:
        self._steps[step.id] = step
        self.store.put(step.id, image)
        self._move_to(step.id)
        return step

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
        return self.store.get(self._current if step_id is None else step_id)

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
        if not self.can_undo:
            return None
        self._move_to(self.current.parent)
        return self.current

    def redo(self) -> Step | None:
        if not self.can_redo:
            return None
        self._move_to(self._redo_child[self._current])
        return self.current

    def go_to(self, step_id: int) -> Step:
        if step_id not in self._steps:
            raise KeyError(f"no step {step_id}")
        self._move_to(step_id)
        return self.current

    def _move_to(self, step_id: int) -> None:
        # Remember the branch we came along so redo retraces it.
        for step in self.lineage(step_id)[1:]:
            self._redo_child[step.parent] = step.id
        self._current = step_id

    def close(self) -> None:
        self.store.close()
