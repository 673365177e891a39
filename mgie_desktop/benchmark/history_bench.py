"""Memory growth of a history holding many large edits (images on disk, a small cache)."""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mgie_desktop.core.history import History, ImageStore


def history_growth(edits: int = 50, size: tuple[int, int] = (6000, 4000)) -> dict:
    import psutil

    process = psutil.Process()
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    with tempfile.TemporaryDirectory(prefix="mgie-history-bench-") as tmp:
        history = History(ImageStore(Path(tmp)))
        history.start(base)
        history.store.flush()
        gc.collect()
        before = process.memory_info().rss
        started = time.perf_counter()
        for i in range(edits):
            edited = base.point(lambda v, i=i: (v + i) % 256)
            history.push(edited, instruction=f"edit {i}", params={"seed": i})
            del edited
        history.store.flush()
        gc.collect()
        after = process.memory_info().rss
        elapsed = time.perf_counter() - started
        history.close()
    return {"edits": edits, "megapixels": size[0] * size[1] / 1e6, "growth_mb": (after - before) / 2**20,
            "seconds": elapsed}
