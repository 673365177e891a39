"""Memory growth of a history holding many large edits (images on disk, a small cache)."""

from __future__ import annotations

import gc
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mgie_desktop.benchmark.fresh_python import run_script
from mgie_desktop.core.history import History, ImageStore


def history_growth_fresh(edits: int = 50) -> dict:
    """``history_growth`` in a fresh interpreter: in a process that already freed gigabytes
    (the engine benchmark's models) new images reuse that memory and growth would read as 0."""
    script = (
        f"import json; from mgie_desktop.benchmark.history_bench import history_growth as g; "
        f"print(json.dumps(g({int(edits)})))"
    )
    return json.loads(run_script(script, timeout=1800).strip().splitlines()[-1])


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
    return {
        "edits": edits,
        "megapixels": size[0] * size[1] / 1e6,
        "growth_mb": (after - before) / 2**20,
        "seconds": elapsed,
    }
