"""Edit and load timings: the reference path against our default path, same process and inputs."""

from __future__ import annotations

import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from PIL import Image

from mgie_desktop.core.params import params_for


class PeakRss:
    """Peak resident memory of this process while a block runs (sampled every 10 ms)."""

    def __init__(self):
        import psutil

        self._process, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.01)

    @contextmanager
    def measure(self):
        self.peak, self._stop = self._process.memory_info().rss, threading.Event()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            self._stop.set()
            sampler.join()


def run(device_name: str, photo: Image.Image, log) -> dict:
    from mgie_desktop.engine.convert import convert, locate_reference
    from mgie_desktop.engine.devices import dtype_for, pick_device
    from mgie_desktop.engine.pipeline import MgieEngine
    from mgie_desktop.engine.reference_path import ReferencePath
    from mgie_desktop.engine.runtime import quiet_libraries
    from mgie_desktop.engine.tiny import write_tiny_reference

    quiet_libraries()
    device = pick_device(device_name)
    dtype = dtype_for(device)
    image = photo.convert("RGB").resize((512, 512), Image.Resampling.LANCZOS)
    instruction = "make the sky a sunset"
    with tempfile.TemporaryDirectory(prefix="mgie-bench-") as tmp:
        root = Path(tmp)
        log("writing tiny reference files and converting them")
        src = write_tiny_reference(root / "tiny-reference")
        convert(locate_reference(src), root)
        rss = PeakRss()

        log("loading: reference path (torch.load into initialised modules), then the bundle")
        ref_loads, our_loads = [], []
        for _ in range(3):
            ref_loads.append(ReferencePath(src, device, dtype).load_seconds)
            our_loads.append(MgieEngine(root, device=device_name).load_seconds)
        reference = ReferencePath(src, device, dtype)
        engine = MgieEngine(root, device=device_name)

        def ours():
            guide = engine.instruct(image, instruction)
            started = time.perf_counter()
            engine.render(image, guide.conditioning, params_for())
            _sync(device)
            return {"instruct_s": guide.seconds, "render_s": time.perf_counter() - started}

        def theirs():
            return reference.edit(image, instruction, int(engine.bundle.info["image_token_len"]))[1]

        results = {}
        for name, fn in (("reference", theirs), ("default", ours)):
            log(f"editing 512x512: {name} path (one warm-up, then timed)")
            fn()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            with rss.measure():
                started = time.perf_counter()
                stages = fn()
                total = time.perf_counter() - started
            results[name] = {"total_s": total, **stages, "peak_rss_mb": rss.peak / 2**20,
                             "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None}
    ref, ours_r = results["reference"], results["default"]
    return {
        "device": str(device), "dtype": str(dtype).removeprefix("torch."), "size": "tiny",
        "edit": {"reference_s": ref["total_s"], "default_s": ours_r["total_s"],
                 "speedup": ref["total_s"] / ours_r["total_s"], "reference": ref, "default": ours_r,
                 "reference_steps": 100, "default_steps": params_for().steps},
        "load": {"reference_s": min(ref_loads), "bundle_s": min(our_loads),
                 "speedup": min(ref_loads) / min(our_loads)},
    }


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
