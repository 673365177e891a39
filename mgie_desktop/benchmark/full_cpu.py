"""The real size on a CPU (``bench --size full --device cpu``): the full-size stand-in written,
imported and edited at the default preset, each step in a process of its own so its peak
anonymous memory (RssAnon: what must fit, unlike file pages the kernel can drop) is its own.

Side by side in one run: the import against reading its sources once; the render half in bf16
against fp32 on the same UNet and VAE; our edit against what the reference path would need.
MGIE's half takes 15-30 minutes and ~44 GB of disk; a benchmark, not a test.

Then FLUX.2 [klein] 4B, the second engine (``parts``: "mgie", "klein" or both): the stand-in's
random klein installed into the bundle (``add_klein``, hard links), then in a process of its own
klein alone loaded (``BundleParts.KLEIN``) and timed piece by piece at about a megapixel: the
load, the text encoder's reading of an instruction, one denoising step with the VAE encode and
decode around it. A 4-step edit is projected from those pieces (the formula is in the report),
and its peak anonymous memory is judged against 12 GB in bf16 with the 8-bit text encoder.
``parts=("klein",)`` measures klein alone (estimated 10-20 minutes and 16 GB of disk at full size):
its bundle is then a tiny MGIE one, which it needs only to be installed into.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty

GB = 2**30
TOKENS = 40  # random weights never stop by themselves: a realistic expressive instruction's length
OS_RESERVE_GB = 3.0  # what the desktop and the system keep of a machine's RAM, for the "machines" table
# Peak anonymous memory of one edit is checked in the two modes the targets name (bf16 with the
# 8-bit LLM, and bf16 throughout), one denoising step each: steps do not change the peak.
MEMORY_MODES = {"bf16_8bit": ("bf16", "8bit"), "bf16": ("bf16", "none")}
TARGETS = {
    "import.ratio": ("<=", 3.0),
    "import.peak_anon_gb": ("<=", 4.0),
    "render.bf16_speedup": (">=", 2.5),
    "memory.bf16_8bit.peak_anon_gb": ("<=", 12.0),
    "memory.bf16.peak_anon_gb": ("<=", 18.0),
    # issue 29: a klein edit on the CPU in bf16 with the 8-bit text encoder (its plan where bf16 is native)
    "klein.memory.peak_anon_gb": ("<=", 12.0),
}
# issue 28: the edit (load excluded) where bf16 is native (AVX-512 BF16, AMX), and where it is not
FAST_EDIT_S = {"bf16": 120.0, "fp32": 300.0}
PARTS = ("mgie", "klein")
KLEIN_WORDS = "make the sky a sunset"
KLEIN_MEMORY_PRECISION = "bf16"  # what the klein memory target is stated in


class AnonPeak:
    """Peak RssAnon of a process (sampled every 0.2 s from /proc/PID/status)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, anon_bytes(self.pid) or 0)
            self._stop.wait(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / GB


def anon_bytes(pid: int | str = "self") -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"RssAnon:\s+(\d+) kB", status)
    return int(found.group(1)) * 1024 if found else None


def _peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM): anonymous memory and file pages together."""
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return 0
    return int(found.group(1)) * 1024 if found else 0


def drop_caches() -> bool:
    """Cold reads for fair timings where allowed (root on Linux); False elsewhere."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def read_once(paths: list[Path]) -> float:
    started, buffer = time.perf_counter(), bytearray(16 * 2**20)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass
    return time.perf_counter() - started


def run(
    photo,
    log,
    work: Path | None = None,
    tokens: int = TOKENS,
    steps: int | None = None,
    size: str = "full",
    cold: bool = True,
    side: int = 512,
    parts: tuple[str, ...] = PARTS,
    klein_budget: int | None = None,
) -> dict:
    """The whole CPU report. ``work`` keeps the stand-in and the bundle for the next run (a
    temporary folder by default, removed after); tests shrink it with ``size``, ``steps``, the
    edit's ``side`` (512: the reference's size) and klein's ``klein_budget`` (MGIE's pixel budget,
    which klein edits at four times: None is the default, about a megapixel for klein), and
    leave the machine's page cache alone (``cold=False``). ``parts`` chooses the engines measured."""
    from mgie_desktop.core.errors import InputError
    from mgie_desktop.testing.random_klein import KLEIN_STANDIN_DIR, weight_bytes
    from mgie_desktop.testing.standin import SIZES, _nbytes, _plan

    parts = tuple(parts)
    if not parts or set(parts) - set(PARTS):
        raise InputError(f"the parts measured are {' and/or '.join(PARTS)}, not {', '.join(parts) or 'none'}")
    mgie, klein = "mgie" in parts, "klein" in parts
    keep = work is not None
    work = Path(work or tempfile.mkdtemp(prefix="mgie-bench-full-cpu-"))
    work.mkdir(parents=True, exist_ok=True)
    src, models = work / "standin", work / "models"
    try:
        missing = _missing(src, parts)
        # MGIE: its sources and the bundle converted from them; klein: once (hard-linked into the bundle)
        need = 2.0 * sum(_nbytes(shapes) for _, shapes in _plan(SIZES[size])) if "mgie" in missing else 0.0
        need += weight_bytes(size) if "klein" in missing else 0
        free = shutil.disk_usage(work).free
        if free < need:
            raise InputError(
                f"the full-size CPU benchmark ({', '.join(parts)}) needs about {need / 1e9:.0f} GB free in "
                f"{work}; {free / 1e9:.0f} GB are"
            )
        report: dict = {
            "device": "cpu",
            "size": size,
            "parts": list(parts),
            "cold_cache": cold and drop_caches(),
        }
        report["standin"] = _standin(src, size, log, missing)
        if mgie:
            report["import"] = _import(src, models, log, cold)
            if not keep:  # the edit needs only the bundle; klein's folder waits to be installed
                for path in src.iterdir():
                    if path.name != KLEIN_STANDIN_DIR:
                        shutil.rmtree(path) if path.is_dir() else path.unlink()
            _measure_mgie(report, models, photo, log, tokens, steps, cold, side)
        if klein:
            # after MGIE's measures: an installed klein would count in the MGIE engine's memory plan
            report["klein"] = _klein(
                work, src / KLEIN_STANDIN_DIR, models, photo, log, cold, keep, klein_budget
            )
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    report["targets"] = {key: _judge(_get(report, key), *rule) for key, rule in TARGETS.items()}
    if "edit" in report:  # issue 28: instruct + render, by what the CPU computes natively
        edit = report["edit"]
        bound = FAST_EDIT_S["bf16" if edit["precision"] == "bf16" else "fp32"]
        report["targets"]["edit.instruct_render_s"] = _judge(
            edit["instruct_s"] + edit["render_s"], "<=", bound
        )
        report["targets"]["edit.peak_anon_gb"] = _judge(edit["peak_anon_gb"], "<=", 12.0)
    return report


def _measure_mgie(report: dict, models: Path, photo, log, tokens: int, steps, cold: bool, side: int) -> None:
    report["edit"] = _in_child(
        _edit_child,
        log,
        f"one {side}x{side} edit at the default preset, with the 8-bit LLM (the plan within 12 GB)",
        cold,
        models=str(models),
        photo=photo,
        tokens=tokens,
        steps=steps,
        side=side,
        llm_quant="8bit",
    )
    report["render"] = _in_child(
        _render_child,
        log,
        "the render half in fp32 and in bf16, same UNet",
        cold,
        models=str(models),
        side=side,
    )
    report["render"]["bf16_speedup"] = report["render"]["fp32_s"] / report["render"]["bf16_s"]
    report["memory"] = {
        key: _in_child(
            _edit_child,
            log,
            f"peak memory of an edit in {precision}, LLM {quant} (1 step)",
            cold,
            models=str(models),
            photo=photo,
            tokens=tokens,
            steps=1,
            precision=precision,
            llm_quant=quant,
            side=side,
        )
        for key, (precision, quant) in MEMORY_MODES.items()
    }
    report["reference"] = _reference_need(models, report["edit"])
    report["machines"] = _machines(models)


def _missing(src: Path, parts: tuple[str, ...]) -> tuple[str, ...]:
    """The engines of ``parts`` whose stand-in ``src`` does not hold yet."""
    from mgie_desktop.engine.klein_files import is_klein_folder
    from mgie_desktop.testing.random_klein import KLEIN_STANDIN_DIR

    present = {
        "mgie": (src / "mgie_7b" / "unet.pt").is_file(),
        "klein": is_klein_folder(src / KLEIN_STANDIN_DIR),
    }
    return tuple(part for part in parts if not present[part])


def _standin(src: Path, size: str, log, missing: tuple[str, ...]) -> dict:
    """What ``models random`` writes (``standin.write_standin``), in a process of its own: only
    the engines the stand-in in ``src`` lacks."""
    if not missing:
        log(f"using the {size} stand-in already in {src}")
        return {"seconds": None, "reused": True, "written": []}
    from mgie_desktop.testing.random_klein import weight_bytes
    from mgie_desktop.testing.standin import SIZES, _nbytes, _plan

    gb = sum(_nbytes(shapes) for _, shapes in _plan(SIZES[size])) if "mgie" in missing else 0
    gb = (gb + (weight_bytes(size) if "klein" in missing else 0)) / 1e9
    log(f"writing the {size} stand-in ({', '.join(missing)}: {gb:.1f} GB) to {src}")
    done = _in_child(_standin_child, log, "the stand-in", False, src=str(src), size=size, engines=missing)
    return {"reused": False, **done}


def _standin_child(queue, src: str, size: str, engines: tuple[str, ...]) -> None:
    try:
        from mgie_desktop.testing.standin import write_standin

        done = write_standin(Path(src), size, engines=engines)
        written = [engine for engine in engines if engine != "klein" or done["klein"]]
        queue.put({"seconds": done["seconds"], "gb": done["bytes"] / 1e9, "written": written})
    except Exception as exc:
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _import(src: Path, models: Path, log, cold: bool) -> dict:
    from mgie_desktop.engine.convert import locate_reference
    from mgie_desktop.engine.weights import checkpoint_files

    layout = locate_reference(src)
    sources = [
        *checkpoint_files(layout.llava),
        layout.mllm,
        layout.unet,
        *checkpoint_files(layout.clip),
        *checkpoint_files(layout.ip2p / "vae"),
    ]
    plain = [
        layout.ip2p / "unet" / "diffusion_pytorch_model.safetensors",
        layout.ip2p / "text_encoder" / "model.safetensors",
    ]
    sources += [path for path in plain if path.is_file()]  # the optional comparison, converted too
    cold and drop_caches()
    log("reading the sources once")
    read_s = read_once(sources)
    shutil.rmtree(models, ignore_errors=True)
    cold and drop_caches()
    log("models import of the stand-in")
    seconds, peak = _timed_command(["models", "import", str(src), "--dest", str(models)])
    return {
        "read_once_s": read_s,
        "source_gb": sum(p.stat().st_size for p in sources) / 1e9,
        "seconds": seconds,
        "ratio": seconds / read_s,
        "peak_anon_gb": peak,
    }


def _timed_command(args: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "mgie_desktop", *args], stdout=subprocess.DEVNULL)
    sampler = AnonPeak(child.pid)
    code = child.wait()
    peak = sampler.stop()
    if code != 0:
        raise RuntimeError(f"`mgie-desktop {' '.join(args)}` failed with exit code {code}")
    return time.perf_counter() - started, peak


def _in_child(target, log, what: str, cold: bool, **kwargs) -> dict:
    """``target(queue, **kwargs)`` in a fresh (spawned) process; its result with its peak RssAnon."""
    log(what)
    cold and drop_caches()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(queue,), kwargs=kwargs)
    child.start()
    sampler = AnonPeak(child.pid)
    result = None
    while result is None and (child.is_alive() or not queue.empty()):
        try:
            result = queue.get(timeout=1)
        except Empty:  # still working
            continue
    child.join()
    peak = sampler.stop()
    if not isinstance(result, dict):
        raise RuntimeError(
            f"{what}: the measuring process ended without a result (exit code {child.exitcode})"
        )
    if "error" in result:
        raise RuntimeError(f"{what}: {result['error']}")
    return {**result, "peak_anon_gb": peak}


def _edit_child(
    queue,
    models: str,
    photo,
    tokens: int,
    steps: int | None,
    precision: str = "auto",
    llm_quant: str = "auto",
    side: int = 512,
) -> None:
    try:
        from dataclasses import replace

        import torch
        from PIL import Image

        from mgie_desktop.core.params import params_for
        from mgie_desktop.engine.devices import DTYPES
        from mgie_desktop.engine.pipeline import MgieEngine

        image = photo.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
        engine = MgieEngine(Path(models), device="cpu", precision=precision, llm_quant=llm_quant)
        engine.forced_new_tokens = tokens
        params = replace(params_for(), pixel_budget=side * side, **({"steps": steps} if steps else {}))
        started = time.perf_counter()
        outcome = engine.edit(image, "make the sky a sunset", params)
        queue.put(
            {
                "precision": {dtype: name for name, dtype in DTYPES.items()}[engine.dtype],
                "llm_quant": engine.memory.llm_quant,
                "plan": engine.precision_reason,
                "threads": torch.get_num_threads(),
                "load_s": engine.load_seconds,
                "instruct_s": outcome.timings["instruct_s"],
                "render_s": outcome.timings["render_s"],
                "edit_s": time.perf_counter() - started,
                "steps": params.steps,
                "new_tokens": outcome.instruction.new_tokens,
            }
        )
    except Exception as exc:  # reported by the parent, with what was being measured
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _render_child(queue, models: str, side: int) -> None:
    """The render half's pieces on the bundle's own UNet and VAE, in each precision: the VAE
    encode and decode of a ``side``-square photo and one denoising step (batch 3, the 3-way guidance)."""
    try:
        import torch
        from diffusers import AutoencoderKL, UNet2DConditionModel

        from mgie_desktop.core.params import params_for
        from mgie_desktop.engine.devices import conv_memory_format
        from mgie_desktop.engine.inventory import bundle_path

        bundle, steps = bundle_path(Path(models)), params_for().steps
        result: dict = {"steps": steps}
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            form = conv_memory_format(torch.device("cpu"), dtype)  # as the engine holds them
            unet = (
                UNet2DConditionModel.from_pretrained(bundle / "unet", torch_dtype=dtype)
                .eval()
                .to(memory_format=form)
            )
            vae = (
                AutoencoderKL.from_pretrained(bundle / "vae", torch_dtype=dtype).eval().to(memory_format=form)
            )
            step_s, vae_s = _time_render_pieces(unet, vae, dtype, side)
            result[f"{name}_step_s"], result[f"{name}_vae_s"] = step_s, vae_s
            result[f"{name}_s"] = vae_s + steps * step_s
            if "unet_step_tflop" not in result:  # the same arithmetic in either precision
                result["unet_step_tflop"] = _step_tflop(unet, dtype, side)
            result[f"{name}_gflops"] = result["unet_step_tflop"] * 1000 / step_s  # what the CPU sustained
            del unet, vae
        queue.put(result)
    except Exception as exc:
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _step_tflop(unet, dtype, side: int) -> float:
    """The floating-point operations of one denoising step (batch 3), as torch counts them: with
    the seconds, how close a CPU runs to its peak (docs/PERFORMANCE.md, issue 28)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    latents = torch.randn(3, unet.config.in_channels, side // 8, side // 8, dtype=dtype)
    text = torch.randn(3, 77, unet.config.cross_attention_dim, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        unet(latents, 500, encoder_hidden_states=text)
    return float(counter.get_total_flops()) / 1e12


def _time_render_pieces(unet, vae, dtype, side: int, repeats: int = 2) -> tuple[float, float]:
    """Seconds of one UNet step (after one untimed step: kernel selection and first-use costs,
    which the engine's warm-up pays) and of a VAE encode plus decode."""
    import torch

    latents = torch.randn(3, unet.config.in_channels, side // 8, side // 8, dtype=dtype)
    text = torch.randn(3, 77, unet.config.cross_attention_dim, dtype=dtype)
    pixels = torch.randn(1, 3, side, side, dtype=dtype)
    with torch.inference_mode():
        unet(latents, 500, encoder_hidden_states=text)
        step_s = _best(lambda: unet(latents, 500, encoder_hidden_states=text), repeats)
        started = time.perf_counter()
        vae.decode(vae.encode(pixels).latent_dist.mode())
        return step_s, time.perf_counter() - started


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _klein(work: Path, klein_src: Path, models: Path, photo, log, cold: bool, keep: bool, budget) -> dict:
    """FLUX.2 [klein] 4B: the stand-in's installed into the bundle (a tiny MGIE bundle is made to
    hold it where MGIE is not measured), then loaded alone and timed in a process of its own."""
    from mgie_desktop.engine.inventory import INVENTORY, bundle_path
    from mgie_desktop.engine.klein_files import add_klein, folder, is_klein_folder

    if not is_klein_folder(klein_src):
        return {"skipped": f"the stand-in has no FLUX.2 [klein] ({klein_src}): this diffusers cannot make it"}
    result: dict = {}
    if not (bundle_path(models) / INVENTORY).is_file():
        result["host"] = _host_bundle(work / "host-standin", models, log)
    log("installing the stand-in's FLUX.2 [klein] into the bundle (add_klein)")
    started = time.perf_counter()
    add_klein(klein_src, models)
    result["install_s"] = time.perf_counter() - started
    installed = folder(models) / "transformer" / "config.json"
    result["linked"] = os.path.samefile(installed, klein_src / "transformer" / "config.json")
    if not keep:
        shutil.rmtree(klein_src)  # the bundle holds its own links (or copy)
    budget = budget or _default_budget()
    what = "FLUX.2 [klein] alone: load, text encoder, 1 denoising step at ~{:.1f} MP, VAE encode and decode"
    size = _klein_size(photo, budget)
    result.update(
        _in_child(
            _klein_child,
            log,
            what.format(size[0] * size[1] / 1e6),
            cold,
            models=str(models),
            photo=photo,
            words=KLEIN_WORDS,
            pixel_budget=budget,
        )
    )
    if result["precision"] == KLEIN_MEMORY_PRECISION:
        result["memory"] = {
            "precision": result["precision"],
            "peak_anon_gb": result["peak_anon_gb"],
            "measured": "by the timed run above (the plan here is bf16)",
        }
    else:  # fp32 where bf16 is emulated and fp32 fits: the target is stated for bf16
        memory = _in_child(
            _klein_child,
            log,
            f"FLUX.2 [klein] in {KLEIN_MEMORY_PRECISION} for its peak memory (1 step)",
            cold,
            models=str(models),
            photo=photo,
            words=KLEIN_WORDS,
            pixel_budget=budget,
            precision=KLEIN_MEMORY_PRECISION,
        )
        result["memory"] = {
            "precision": memory["precision"],
            "peak_anon_gb": memory["peak_anon_gb"],
            "measured": f"by a second run in {KLEIN_MEMORY_PRECISION} (the plan here is {result['precision']})",
        }
    return result


def _default_budget() -> int:
    from mgie_desktop.core.params import params_for

    return params_for().pixel_budget


def _klein_size(photo, budget: int) -> tuple[int, int]:
    from mgie_desktop.core.sizing import klein_working_size

    return klein_working_size(photo.width, photo.height, budget)


def _host_bundle(host: Path, models: Path, log) -> dict:
    """klein alone loads none of MGIE's models, but installs into a bundle: a tiny MGIE one."""
    from mgie_desktop.engine.convert import convert, locate_reference
    from mgie_desktop.testing.standin import write_standin

    log("a tiny MGIE bundle to install FLUX.2 [klein] into (klein loads none of its models)")
    started = time.perf_counter()
    write_standin(host, "tiny", engines=("mgie",))
    convert(locate_reference(host), models)
    shutil.rmtree(host, ignore_errors=True)
    return {"mgie": "tiny", "seconds": time.perf_counter() - started}


class _Stopwatch:
    """Seconds spent in the pipeline's transformer calls and VAE encodes and decodes (wrapped on
    the instances), and the token counts the transformer saw."""

    def __init__(self, pipe) -> None:
        self.seconds: dict[str, float] = {"step": 0.0, "vae_encode": 0.0, "vae_decode": 0.0}
        self.calls: dict[str, int] = dict.fromkeys(self.seconds, 0)
        self.tokens: dict[str, int] = {}
        self._wrap(pipe.transformer, "forward", "step")
        self._wrap(pipe.vae, "encode", "vae_encode")
        self._wrap(pipe.vae, "decode", "vae_decode")

    def _wrap(self, owner, method: str, key: str) -> None:
        inner = getattr(owner, method)

        def timed(*args, **kwargs):
            if key == "step":
                image, text = kwargs["hidden_states"], kwargs["encoder_hidden_states"]
                self.tokens = {"image_and_reference": int(image.shape[1]), "text": int(text.shape[1])}
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                self.calls[key] += 1

        setattr(owner, method, timed)


def _klein_child(queue, models: str, photo, words: str, pixel_budget: int, precision: str = "auto") -> None:
    """klein loaded alone, as the engine loads it; its text encoder's reading of ``words``; one
    denoising step of the engine's own pipeline at the size an edit of ``photo`` takes, with the
    VAE encode of the photo and the decode of the result; the finish back to the photo's size."""
    try:
        import torch

        from mgie_desktop.core.finishing import finish_renders
        from mgie_desktop.core.params import params_for
        from mgie_desktop.engine import klein
        from mgie_desktop.engine.devices import DTYPES
        from mgie_desktop.engine.loading import BundleParts
        from mgie_desktop.engine.pipeline import MgieEngine

        photo = photo.convert("RGB")
        engine = MgieEngine(Path(models), device="cpu", precision=precision, parts=BundleParts.KLEIN)
        model, loaded_anon = engine.klein_model, anon_bytes() or 0
        pipe, params = model.pipe, params_for(pixel_budget=pixel_budget)
        used = klein.settings_used(params)
        source = klein.klein_source(photo, params.pixel_budget)
        started = time.perf_counter()
        embeds = model.embeddings(words)
        text_s = time.perf_counter() - started
        watch = _Stopwatch(pipe)
        started = time.perf_counter()
        with torch.inference_mode():
            renders = pipe(
                image=source,
                prompt_embeds=embeds,
                height=source.height,
                width=source.width,
                num_inference_steps=1,
                guidance_scale=used.text_guidance,
                generator=torch.Generator(device="cpu").manual_seed(0),
            ).images
        pipeline_s = time.perf_counter() - started
        started = time.perf_counter()
        finish_renders(photo, source, renders, "detail", None)
        finish_s = time.perf_counter() - started
        step_s = watch.seconds["step"] / max(1, watch.calls["step"])
        passes = watch.calls["step"]  # transformer passes per step: 2 for a guided base model
        other_s = pipeline_s - sum(watch.seconds.values())
        edit_s = (
            text_s
            + watch.seconds["vae_encode"]
            + used.steps * passes * step_s
            + watch.seconds["vae_decode"]
            + other_s
            + finish_s
        )
        queue.put(
            {
                "precision": {dtype: name for name, dtype in DTYPES.items()}[engine.dtype],
                "plan": engine.precision_reason,
                "threads": torch.get_num_threads(),
                "size": list(source.size),
                "megapixels": source.width * source.height / 1e6,
                "tokens": watch.tokens,
                "load_s": engine.load_seconds,
                "anon_after_load_gb": loaded_anon / GB,
                # the weights diffusers and transformers leave memory-mapped are file pages: not in
                # RssAnon, but in the peak RSS, and re-read from disk if the kernel drops them
                "peak_rss_gb": _peak_rss_bytes() / GB,
                "text_s": text_s,
                "step_s": step_s,
                "vae_encode_s": watch.seconds["vae_encode"],
                "vae_decode_s": watch.seconds["vae_decode"],
                "other_s": other_s,
                "finish_s": finish_s,
                "steps": used.steps,
                "passes_per_step": passes,
                "projected_edit_s": edit_s,
                "projection": {
                    "formula": "text_s + vae_encode_s + steps * passes_per_step * step_s + vae_decode_s "
                    "+ other_s + finish_s",
                    "measured": "each piece once, in one process after the load; the one step ran "
                    "in the engine's pipeline (num_inference_steps=1) with no warm-up, so it includes "
                    "first-use costs (a slight overestimate); every step of an edit does the same work",
                    "not_included": "the load (load_s), paid once per session; the text encoder is "
                    "skipped when the same words are edited again",
                },
            }
        )
    except Exception as exc:  # reported by the parent, with what was being measured
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _reference_need(models: Path, edit: dict) -> dict:
    """The reference path keeps every model in one precision (fp32 on a CPU: its fp16 kernels
    are CUDA's) and loads each checkpoint whole: does that fit in this machine's memory?"""
    from mgie_desktop.engine.devices import available_memory
    from mgie_desktop.engine.inventory import bundle_weight_bytes
    from mgie_desktop.engine.memory import cpu_need_gb

    need = cpu_need_gb("fp32", "none", bundle_weight_bytes(models), bundle_weight_bytes(models, "llm/"))
    available = available_memory() / GB
    fits = need <= available
    return {
        "need_gb": need,
        "available_gb": available,
        "fits": fits,
        "note": (
            "fits: compare the two paths with `mgie-desktop bench --models DIR --device cpu`"
            if fits
            else f"the reference path needs about {need:.0f} GB in fp32 and {available:.0f} GB are available: "
            f"it cannot edit at all on this machine; ours did in {edit['edit_s'] + edit['load_s']:.0f} s "
            f"at {edit['peak_anon_gb']:.1f} GB"
        ),
    }


def _machines(models: Path) -> dict:
    """What a 16 GB and a 32 GB machine run (RAM less OS_RESERVE_GB), with and without native bf16."""
    from mgie_desktop.core.errors import InputError
    from mgie_desktop.engine.inventory import bundle_weight_bytes
    from mgie_desktop.engine.memory import plan_cpu

    bundle, llm = bundle_weight_bytes(models), bundle_weight_bytes(models, "llm/")
    table = {}
    for ram in (16, 32):
        for native in (False, True):
            key = f"{ram}gb_{'native_bf16' if native else 'no_bf16'}"
            try:
                plan = plan_cpu("auto", "auto", bundle, llm, int((ram - OS_RESERVE_GB) * GB), native)
                table[key] = {
                    "precision": plan.precision,
                    "llm_quant": plan.llm_quant,
                    "need_gb": plan.need_gb,
                }
            except InputError as exc:
                table[key] = {"precision": None, "llm_quant": None, "error": str(exc)}
    return table


def _get(report: dict, dotted: str) -> float | None:
    node = report
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return None if node is None else float(node)


def _judge(value: float | None, op: str, bound: float) -> dict:
    met = None if value is None else value >= bound if op == ">=" else value <= bound
    return {"target": f"{op} {bound}", "value": value, "met": met}


def print_text(report: dict, out) -> None:
    print(
        f"full-size stand-in on the CPU ({', '.join(report['parts'])}; cold cache: {report['cold_cache']})",
        file=out,
    )
    if "import" in report:
        _print_mgie(report, out)
    if "klein" in report:
        _print_klein(report["klein"], out)
    for key, t in report["targets"].items():
        verdict = {True: "ok  ", False: "MISS", None: "n/a "}[t["met"]]
        print(f"  {verdict} {key} = {t['value']} (target {t['target']})", file=out)


def _print_mgie(report: dict, out) -> None:
    imp, edit, render, ref = report["import"], report["edit"], report["render"], report["reference"]
    print(
        f"import: {imp['seconds']:.1f} s = {imp['ratio']:.2f}x reading the {imp['source_gb']:.1f} GB of sources "
        f"once ({imp['read_once_s']:.1f} s); peak anonymous memory {imp['peak_anon_gb']:.2f} GB",
        file=out,
    )
    print(
        f"edit ({edit['precision']}, LLM {edit['llm_quant']}): load {edit['load_s']:.1f} s, instruct "
        f"{edit['instruct_s']:.1f} s ({edit['new_tokens']} tokens), render {edit['render_s']:.1f} s "
        f"({edit['steps']} steps); peak anonymous memory {edit['peak_anon_gb']:.2f} GB",
        file=out,
    )
    print(
        f"render half: fp32 {render['fp32_s']:.1f} s, bf16 {render['bf16_s']:.1f} s "
        f"(bf16 speedup {render['bf16_speedup']:.2f}x)",
        file=out,
    )
    for key, edit in report["memory"].items():
        print(
            f"memory, {key}: peak anonymous memory {edit['peak_anon_gb']:.2f} GB (load {edit['load_s']:.1f} s, "
            f"instruct {edit['instruct_s']:.1f} s)",
            file=out,
        )
    print(f"reference path: {ref['note']}", file=out)
    for key, plan in report["machines"].items():
        mode = plan.get("error") or f"{plan['precision']}, LLM {plan['llm_quant']}"
        print(f"  {key}: {mode}", file=out)


def _print_klein(k: dict, out) -> None:
    if "skipped" in k:
        print(f"FLUX.2 [klein]: not measured: {k['skipped']}", file=out)
        return
    w, h = k["size"]
    print(
        f"FLUX.2 [klein] ({k['plan']}), {w}x{h} ({k['megapixels']:.2f} MP, "
        f"{k['tokens'].get('image_and_reference', 0)} image and reference tokens, "
        f"{k['tokens'].get('text', 0)} text tokens): load {k['load_s']:.1f} s, text encoder {k['text_s']:.1f} s, "
        f"one step {k['step_s']:.1f} s, VAE encode {k['vae_encode_s']:.1f} s and decode "
        f"{k['vae_decode_s']:.1f} s, finish {k['finish_s']:.1f} s",
        file=out,
    )
    print(
        f"  a {k['steps']}-step edit, projected: {k['projected_edit_s']:.0f} s "
        f"(= {k['projection']['formula']}); peak anonymous memory {k['peak_anon_gb']:.2f} GB "
        f"({k['anon_after_load_gb']:.2f} GB after the load; peak RSS with file pages "
        f"{k['peak_rss_gb']:.2f} GB); in {k['memory']['precision']}: "
        f"{k['memory']['peak_anon_gb']:.2f} GB",
        file=out,
    )
