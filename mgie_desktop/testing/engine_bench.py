"""Edit and load timings: the reference path against our default path, same process and inputs."""

from __future__ import annotations

import gc
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import save_file

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.params import EditParams, params_for
from mgie_desktop.engine.convert import convert, locate_reference
from mgie_desktop.engine.devices import dtype_for, free_device_memory, pick_device, quantization_available
from mgie_desktop.engine.inventory import bundle_path, check_installed
from mgie_desktop.engine.memory import plan_memory
from mgie_desktop.engine.pipeline import MgieEngine
from mgie_desktop.engine.runtime import quiet_libraries
from mgie_desktop.engine.tiny import write_tiny_reference
from mgie_desktop.store.manifest import SOURCES_DIR
from mgie_desktop.testing.random_models import FULL, SD15_UNET, random_bundle, save_random_bundle
from mgie_desktop.testing.reference_path import ReferencePath

# What PyTorch may use in the 8 GB check: an 8 GB card less ~512 MB the CUDA context takes.
LOW_MEMORY_MB = 8192 - 512


class PeakRss:
    """Peak resident memory of this process while a block runs (sampled every 10 ms)."""

    def __init__(self):
        psutil = load("psutil")

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


def run(
    device_name: str,
    photo: Image.Image,
    log,
    size: str = "tiny",
    models_dir: Path | None = None,
    tokens: int = 40,
    sizes=None,
    load_unet: dict | None = None,
    side: int = 512,
) -> dict:
    """Three sources of models, one comparison. ``tiny``: models written to disk in the
    reference formats, the reference path loaded from those files. ``full``: the real geometry
    with random weights built in memory (GPU only), both paths sharing the modules.
    ``models_dir``: the user's installed bundle, both paths sharing its modules.

    ``load.speedup`` always times weights of a real size: the installed UNet (or, for the
    generated models, a full-size SD-1.5 UNet with random weights) loaded the reference's way
    and ours; ``sizes``, ``load_unet`` and ``side`` (the photo's side) shrink the run for tests."""
    quiet_libraries()
    device = pick_device(device_name)
    dtype = dtype_for(device)
    image = photo.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    with tempfile.TemporaryDirectory(prefix="mgie-bench-") as tmp:
        root = Path(tmp)
        if models_dir is not None:
            engine, reference, time_loads = _installed(
                Path(models_dir), device_name, device, dtype, root, log
            )
        elif size == "full":
            engine, reference, time_loads = _full_size(device_name, device, dtype, root, log, tokens, sizes)
        else:
            engine, reference, time_loads = _tiny_size(device_name, device, dtype, root, log, load_unet)
        edit = _compare_edits(engine, reference, image, device, log)
        loads = time_loads()  # after the edits, so the loads' gigabytes do not sit in the edits' peak RSS
        if models_dir is not None or size != "full":
            low_memory = {"peak_gpu_reserved_mb": None, "skipped": "measured with --size full only"}
        elif not quantization_available():
            low_memory = {
                "peak_gpu_reserved_mb": None,
                "skipped": "bitsandbytes (the quantization extra) is not installed",
            }
        else:
            log("saving the full-size models as a bundle, to load them as an 8 GB card would")
            save_random_bundle(engine.bundle, root / "saved")
            del (
                engine,
                reference,
                time_loads,
            )  # every holder of the models: the next run starts from an empty GPU
            low_memory = _low_memory_edit(root / "saved", device_name, image, tokens, log)
    return {
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "size": "installed" if models_dir is not None else size,
        "side": side,
        "edit": edit,
        "load": loads,
        "low_memory": low_memory,
    }


def _low_memory_edit(models_dir: Path, device_name: str, image, tokens: int, log) -> dict:
    """The 8 GB target: the bundle loaded with the LLM in 4-bit and the diffusion half visiting
    the GPU only while it renders (what ``auto`` plans for an 8 GB card). PyTorch is held to
    LOW_MEMORY_MB for the run, so fitting is proven, not inferred from a peak on a big card."""
    gc.collect()
    torch.cuda.empty_cache()
    left_over = torch.cuda.memory_allocated() / 2**20
    if left_over > 64:
        raise RuntimeError(
            f"{left_over:.0f} MB still allocated on the GPU before the 8 GB check: "
            "something still holds the previous models"
        )
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(LOW_MEMORY_MB * 2**20 / total)
    torch.cuda.reset_peak_memory_stats()
    log(f"loading with a 4-bit LLM and offload, then one edit, within {LOW_MEMORY_MB} MB")
    result = {"limit_mb": LOW_MEMORY_MB, "left_over_before_mb": left_over}
    try:
        engine = MgieEngine(models_dir, device=device_name, memory="offload", llm_quant="4bit")
        engine.forced_new_tokens = tokens
        started = time.perf_counter()
        engine.edit(image, "make the sky a sunset", _params_at(image))
        torch.cuda.synchronize()
        result.update(
            plan=f"{engine.memory.placement}, {engine.memory.llm_quant} LLM",
            fits=True,
            edit_s=time.perf_counter() - started,
            load_s=engine.load_seconds,
        )
    except torch.OutOfMemoryError as exc:
        result.update(plan="offload, 4bit LLM", fits=False, error=str(exc).splitlines()[0])
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    result.update(
        peak_gpu_reserved_mb=torch.cuda.max_memory_reserved() / 2**20,
        peak_gpu_allocated_mb=torch.cuda.max_memory_allocated() / 2**20,
    )
    return result


def _tiny_size(device_name, device, dtype, root: Path, log, load_unet: dict | None):
    log("writing tiny reference files and converting them")
    src = write_tiny_reference(root / "tiny-reference")
    convert(locate_reference(src), root)

    # Tiny weights load in milliseconds either way (configs and tokenizer dominate), so loading
    # is timed on a UNet of the real size instead.
    def time_loads() -> dict:
        return _random_unet_load(load_unet or SD15_UNET, device, dtype, root / "load", log)

    return (
        MgieEngine(root, device=device_name, dtype=dtype),
        ReferencePath.load(src, device, dtype),
        time_loads,
    )


def _full_size(device_name, device, dtype, root: Path, log, tokens: int, sizes=None):
    log("building full-size random models on the device (LLaMA-7B, CLIP ViT-L/14, SD-1.5 UNet and VAE)")
    bundle = random_bundle(sizes or FULL, device, dtype)
    engine = MgieEngine(None, device=device_name, bundle=bundle)
    engine.forced_new_tokens = tokens  # random weights: make both paths write a realistic answer length

    def time_loads() -> dict:
        return _unet_load_comparison(*_store_unet(bundle.unet, root), device, dtype, log)

    return engine, _reference_sharing(engine, device, dtype), time_loads


def _installed(models_dir: Path, device_name, device, dtype, root: Path, log):
    """The user's bundle. The reference path shares its modules (two copies of a 7B model would
    not fit); loading compares the reference's own unet.pt, when the sources are still there,
    with the bundle's UNet."""
    check_installed(models_dir)
    plan = plan_memory(device.type, free_device_memory(device), "auto", "auto", quantization_available())
    if plan.placement != "all" or plan.llm_quant != "none":  # said before minutes of loading, not after
        raise InputError(
            f"the reference path needs the whole model on {device} (about 16 GB in fp16); "
            f"this device would run {plan.placement} with LLM quantisation {plan.llm_quant}"
        )
    log(f"loading the installed models from {models_dir}")
    engine = MgieEngine(models_dir, device=device_name, dtype=dtype, memory="all", llm_quant="none")

    def time_loads() -> dict:
        pickled = models_dir / SOURCES_DIR / "mgie_7b" / "unet.pt"
        if not pickled.is_file():
            log("the reference's unet.pt was freed after conversion: writing the bundle's UNet as a pickle")
            pickled = _pickle_unet(_fp16_state(engine.bundle.unet), root)
        return _unet_load_comparison(pickled, bundle_path(models_dir) / "unet", device, dtype, log)

    return engine, _reference_sharing(engine, device, dtype), time_loads


def _reference_sharing(engine, device, dtype):
    b, m = engine.bundle, engine.bundle.model
    return ReferencePath.assemble(
        m.llm,
        m.projector,
        m.edit_head,
        m.emb,
        m.vision,
        b.image_processor,
        b.unet,
        b.vae,
        b.scheduler_config,
        b.tokenizer,
        device,
        dtype,
    )


def _random_unet_load(config: dict, device, dtype, root: Path, log) -> dict:
    UNet2DConditionModel = load("diffusers", "UNet2DConditionModel")

    log("building a UNet of the SD-1.5 geometry with random weights, to time loading it both ways")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**config)
    pickled, folder = _store_unet(unet, root)
    del unet
    return _unet_load_comparison(pickled, folder, device, dtype, log)


def _store_unet(unet, root: Path) -> tuple[Path, Path]:
    """The same fp16 weights both ways: MGIE's pickle and our bundle's folder."""
    state = _fp16_state(unet)
    return _pickle_unet(state, root), _save_unet(unet, state, root)


def _fp16_state(unet) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in unet.state_dict().items()}


def _pickle_unet(state: dict, root: Path) -> Path:
    """As MGIE shipped it: an fp16 state dict pickled with torch.save."""
    root.mkdir(parents=True, exist_ok=True)
    torch.save(state, root / "unet.pt")
    return root / "unet.pt"


def _save_unet(unet, state: dict, root: Path) -> Path:
    """As our bundle stores it: fp16 safetensors beside its config."""
    folder = root / "unet"
    folder.mkdir(parents=True, exist_ok=True)
    unet.save_config(folder)
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    return folder


def _unet_load_comparison(pickled: Path, folder: Path, device, dtype, log, repeats: int = 3) -> dict:
    """The same UNet made ready on the device the reference's way and ours. The reference's demo
    loads InstructPix2Pix's own UNet with from_pretrained, moves it to the GPU, then copies
    MGIE's weights over it from the pickled unet.pt (torch.load, load_state_dict); ``folder``
    stands in for that first UNet (same size; timings do not depend on values). Ours reads the
    bundle's safetensors UNet, memory-mapped. Runs alternate; the fastest of each counts."""
    UNet2DConditionModel = load("diffusers", "UNet2DConditionModel")

    def theirs():
        unet = UNet2DConditionModel.from_pretrained(folder, torch_dtype=dtype).to(device)
        state = torch.load(pickled, map_location="cpu", weights_only=True)
        unet.load_state_dict(state)
        return unet, next(iter(state.values())).dtype

    def ours():
        return UNet2DConditionModel.from_pretrained(folder, torch_dtype=dtype).to(device), None

    log("loading the UNet the reference's way and ours, alternately (warm page cache for both)")
    seconds: dict[str, list[float]] = {"reference": [], "bundle": []}
    count, pickled_dtype = 0, None
    for _ in range(repeats):
        for name, load_side in (("reference", theirs), ("bundle", ours)):
            started = time.perf_counter()
            unet, stored = load_side()
            _sync(device)
            seconds[name].append(time.perf_counter() - started)
            count, pickled_dtype = sum(p.numel() for p in unet.parameters()), stored or pickled_dtype
            del unet
    reference_s, bundle_s = min(seconds["reference"]), min(seconds["bundle"])
    return {
        "reference_s": reference_s,
        "bundle_s": bundle_s,
        "speedup": reference_s / bundle_s,
        "what": f"a UNet of {count / 1e6:.0f} M parameters (unet.pt in "
        f"{str(pickled_dtype).removeprefix('torch.')}) made ready on {device} in "
        f"{str(dtype).removeprefix('torch.')}",
    }


def _params_at(image) -> EditParams:
    """The default settings, rendering at the photo's own size (as the reference path does)."""
    return replace(params_for(), pixel_budget=image.width * image.height)


def _compare_edits(engine, reference, image, device, log) -> dict:
    instruction = "make the sky a sunset"
    rss = PeakRss()
    params = _params_at(image)
    # Random full-size weights are forced to a length; otherwise both paths run the same weights
    # greedily and write the same answer, and the reference generated one token more.
    max_new = engine.forced_new_tokens or engine.instruct(image, instruction).new_tokens + 1

    def ours():
        guide = engine.instruct(image, instruction)
        started = time.perf_counter()
        engine.render(image, guide.conditioning, params)
        _sync(device)
        return {
            "instruct_s": guide.seconds,
            "render_s": time.perf_counter() - started,
            "tokens": guide.new_tokens,
        }

    def theirs():
        return reference.edit(image, instruction, int(engine.bundle.info["image_token_len"]), max_new)[1]

    results = {}
    for name, fn in (("reference", theirs), ("default", ours)):
        log(f"editing {image.width}x{image.height}: {name} path (one warm-up, then timed)")
        fn()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with rss.measure():
            started = time.perf_counter()
            stages = fn()
            total = time.perf_counter() - started
        results[name] = {
            "total_s": total,
            **stages,
            "peak_rss_mb": rss.peak / 2**20,
            "peak_gpu_allocated_mb": torch.cuda.max_memory_allocated() / 2**20
            if device.type == "cuda"
            else None,
        }
    ref, ours_r = results["reference"], results["default"]
    return {
        "reference_s": ref["total_s"],
        "default_s": ours_r["total_s"],
        "speedup": ref["total_s"] / ours_r["total_s"],
        "reference": ref,
        "default": ours_r,
        "reference_steps": 100,
        "default_steps": params.steps,
    }


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
