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


def run(device_name: str, photo: Image.Image, log, size: str = "tiny", tokens: int = 40) -> dict:
    """Tiny: models written to disk in the reference formats, loaded both ways. Full: the real
    geometry with random weights built in memory (GPU only), both paths sharing the modules."""
    from mgie_desktop.engine.devices import dtype_for, pick_device
    from mgie_desktop.engine.runtime import quiet_libraries

    quiet_libraries()
    device = pick_device(device_name)
    dtype = dtype_for(device)
    image = photo.convert("RGB").resize((512, 512), Image.Resampling.LANCZOS)
    with tempfile.TemporaryDirectory(prefix="mgie-bench-") as tmp:
        if size == "full":
            engine, reference, load = _full_size(device_name, device, dtype, Path(tmp), log, tokens)
            max_new = tokens
        else:
            engine, reference, load = _tiny_size(device_name, device, dtype, Path(tmp), log)
            max_new = 96
        edit = _compare_edits(engine, reference, image, device, log, max_new)
    return {"device": str(device), "dtype": str(dtype).removeprefix("torch."), "size": size,
            "edit": edit, "load": load}


def _tiny_size(device_name, device, dtype, root: Path, log):
    from mgie_desktop.engine.convert import convert, locate_reference
    from mgie_desktop.engine.pipeline import MgieEngine
    from mgie_desktop.engine.reference_path import ReferencePath
    from mgie_desktop.engine.tiny import write_tiny_reference

    log("writing tiny reference files and converting them")
    src = write_tiny_reference(root / "tiny-reference")
    convert(locate_reference(src), root)
    log("loading: reference path (torch.load into initialised modules), then the bundle")
    ref_loads, our_loads = [], []
    for _ in range(3):
        ref_loads.append(ReferencePath.load(src, device, dtype).load_seconds)
        our_loads.append(MgieEngine(root, device=device_name).load_seconds)
    load = {"reference_s": min(ref_loads), "bundle_s": min(our_loads), "speedup": min(ref_loads) / min(our_loads),
            "what": "every model, tiny sizes"}
    return MgieEngine(root, device=device_name), ReferencePath.load(src, device, dtype), load


def _full_size(device_name, device, dtype, root: Path, log, tokens: int, sizes=None):
    from mgie_desktop.engine.pipeline import MgieEngine
    from mgie_desktop.engine.random_models import FULL, random_bundle
    from mgie_desktop.engine.reference_path import ReferencePath

    log("building full-size random models on the device (LLaMA-7B, CLIP ViT-L/14, SD-1.5 UNet and VAE)")
    bundle = random_bundle(sizes or FULL, device, dtype)
    load = _unet_load_comparison(bundle.unet, dtype, root, log)
    engine = MgieEngine(None, device=device_name, bundle=bundle)
    engine.forced_new_tokens = tokens  # random weights: make both paths write a realistic answer length
    m = bundle.model
    reference = ReferencePath.assemble(m.llm, m.projector, m.edit_head, m.emb, m.vision, bundle.image_processor,
                                       bundle.unet, bundle.vae, bundle.scheduler_config, bundle.tokenizer,
                                       device, dtype)
    return engine, reference, load


def _unet_load_comparison(unet, dtype, root: Path, log) -> dict:
    """The same UNet weights loaded the reference's way (random init, torch.load of a pickle,
    load_state_dict) and ours (safetensors from_pretrained, no init)."""
    from diffusers import UNet2DConditionModel

    log("saving the UNet both ways and loading it back (cold page cache is not forced)")
    torch.save(unet.state_dict(), root / "unet.pt")
    unet.save_pretrained(root / "unet")
    config = dict(unet.config)
    started = time.perf_counter()
    theirs = UNet2DConditionModel.from_config(config)
    theirs.load_state_dict(torch.load(root / "unet.pt", map_location="cpu", weights_only=True))
    reference_s = time.perf_counter() - started
    del theirs
    started = time.perf_counter()
    UNet2DConditionModel.from_pretrained(root / "unet", torch_dtype=dtype)
    bundle_s = time.perf_counter() - started
    return {"reference_s": reference_s, "bundle_s": bundle_s, "speedup": reference_s / bundle_s,
            "what": "the SD-1.5 UNet (1.7 GB in fp16); the LLM was not written to disk"}


def _compare_edits(engine, reference, image, device, log, max_new: int) -> dict:
    instruction = "make the sky a sunset"
    rss = PeakRss()

    def ours():
        guide = engine.instruct(image, instruction)
        started = time.perf_counter()
        engine.render(image, guide.conditioning, params_for())
        _sync(device)
        return {"instruct_s": guide.seconds, "render_s": time.perf_counter() - started, "tokens": guide.new_tokens}

    def theirs():
        return reference.edit(image, instruction, int(engine.bundle.info["image_token_len"]), max_new)[1]

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
    return {"reference_s": ref["total_s"], "default_s": ours_r["total_s"], "speedup": ref["total_s"] / ours_r["total_s"],
            "reference": ref, "default": ours_r, "reference_steps": 100, "default_steps": params_for().steps}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
