"""``mgie-desktop --selftest``: prove an installed copy works, without any downloaded models.

In one process and a temporary directory: write tiny random-weight models in the reference's
formats, convert them, run one edit end to end on the CPU, check the shipped models manifest
loads, then open the main window offscreen, let it load the same models on its engine thread,
and close it. Prints one line per stage and finally ``selftest OK (<seconds> s)``; any failure
prints ``selftest FAILED: <reason>`` and returns 1. Meant for installers and CI: the frozen
app has no Python to poke at, so this is how a build is known to be whole.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1
INSTRUCTION = "make the sky a sunset"
IMAGE_SIZE = (90, 60)  # not a multiple of 8 and not square: the finish must restore it exactly
WINDOW_TIMEOUT_S = 120.0


class SelftestError(Exception):
    """A stage ran but its result is wrong."""


def run_selftest(out=None) -> int:
    """Run every stage; return 0 and print ``selftest OK`` only if all of them worked."""
    out = out or sys.stdout
    started = time.perf_counter()

    def say(line: str) -> None:
        print(f"selftest: {line}", file=out, flush=True)

    # No network, no user settings, no window on screen: everything this test needs is local.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    frozen = getattr(sys, "frozen", False)
    say(f"{'frozen app' if frozen else 'python'} {sys.executable}")
    stage = "starting"
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="mgie-selftest-") as tmp:
            warnings.simplefilter("ignore")
            tmp_path = Path(tmp)
            stage = "reading the torch build and the GPU"
            for line in _environment():
                say(line)
            stage = "writing and converting tiny models"
            models = _tiny_models(tmp_path)
            say(f"tiny models converted ({_size_mb(models):.1f} MB)")
            stage = "running one edit"
            seconds, size = _one_edit(models)
            say(f"edit {INSTRUCTION!r} on the CPU -> {size[0]}x{size[1]} in {seconds:.1f} s")
            stage = "reading the shipped models manifest"
            say(f"models manifest: {_manifest()}")
            stage = "opening the window offscreen"
            say(f"window opened offscreen, {_window(models, tmp_path)}, closed")
    except Exception as exc:  # the reason on one line; the traceback goes to stderr for whoever debugs it
        traceback.print_exc(file=sys.stderr)
        reason = f"{stage}: {type(exc).__name__}: {exc}".replace("\n", " ")
        print(f"selftest FAILED: {reason}", file=out, flush=True)
        return EXIT_FAILED
    print(f"selftest OK ({time.perf_counter() - started:.1f} s)", file=out, flush=True)
    return EXIT_OK


def _environment() -> list[str]:
    """The torch build, the GPU or why none, and the plan ``auto`` would choose for the full models."""
    import torch

    from mgie_desktop.engine.devices import auto_plan_text, gpu_status, torch_build

    status = gpu_status()
    gpu = status.text if status.device else f"none: {status.text}; edits run on the CPU"
    return [f"torch {torch.__version__}: {torch_build()}", f"GPU: {gpu}", f"plan: {auto_plan_text()}"]


def _tiny_models(tmp: Path) -> Path:
    from mgie_desktop.engine.convert import convert, locate_reference
    from mgie_desktop.engine.runtime import quiet_libraries
    from mgie_desktop.engine.tiny import write_tiny_reference

    quiet_libraries()  # before the tiny writer: its config warnings and progress bars are noise here
    models = tmp / "models"
    reference = write_tiny_reference(tmp / "tiny-reference")
    inventory = convert(locate_reference(reference), models)
    if not inventory.get("files"):
        raise SelftestError("the converter wrote no files")
    return models


def _one_edit(models: Path) -> tuple[float, tuple[int, int]]:
    from PIL import Image

    from mgie_desktop.core.params import params_for
    from mgie_desktop.engine.pipeline import MgieEngine

    image = _test_image()
    started = time.perf_counter()
    engine = MgieEngine(models, device="cpu")
    outcome = engine.edit(image, INSTRUCTION, params_for("draft", steps=2, pixel_budget=64 * 64))
    result = outcome.image
    if not isinstance(result, Image.Image):
        raise SelftestError(f"the edit returned {type(result).__name__}, not an image")
    if result.size != image.size:
        raise SelftestError(
            f"the edit returned {result.size[0]}x{result.size[1]}, "
            f"not the input's {image.size[0]}x{image.size[1]}"
        )
    if not outcome.instruction.text:
        raise SelftestError("the instruction half produced no text")
    return time.perf_counter() - started, result.size


def _test_image():
    """A small sky-over-ground picture, made here so the test needs no files."""
    from PIL import Image, ImageDraw

    width, height = IMAGE_SIZE
    image = Image.new("RGB", IMAGE_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=(int(80 + 100 * t), int(140 + 60 * t), 230))
    draw.rectangle([0, height * 2 // 3, width, height], fill=(60, 110, 50))
    return image


def _manifest() -> str:
    from mgie_desktop.store.manifest import default_manifest_path, load_manifest

    path = default_manifest_path()
    manifest = load_manifest(path)
    return f"{len(manifest.models)} model(s) listed"


def _window(models: Path, tmp: Path) -> str:
    from PySide6.QtCore import QCoreApplication, QSettings, qInstallMessageHandler  # noqa: TID251
    from PySide6.QtWidgets import QApplication  # noqa: TID251 (the window check needs Qt)

    from mgie_desktop.ui.main_window import MainWindow

    def quiet_offscreen(mode, context, message: str) -> None:
        if "propagateSizeHints" not in message:  # the offscreen plugin's one harmless complaint
            print(message, file=sys.stderr)

    previous_handler = qInstallMessageHandler(quiet_offscreen)
    app = QApplication.instance() or QApplication(
        [sys.argv[0] if sys.argv else "mgie-desktop", "-platform", "offscreen"]
    )
    platform = app.platformName()
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)  # never the user's settings
    window = MainWindow(models, "cpu", settings=settings)
    try:
        window.show()
        deadline = time.perf_counter() + WINDOW_TIMEOUT_S
        while window.model_state not in ("ready", "error", "not installed"):
            if time.perf_counter() > deadline:
                raise SelftestError(
                    f"the window's engine did not load within {WINDOW_TIMEOUT_S:.0f} s "
                    f"(state {window.model_state!r})"
                )
            QCoreApplication.processEvents()
            time.sleep(0.02)
        state, detail = window.model_state, window.model_label.toolTip()
        if state != "ready":
            raise SelftestError(f"the window's engine is {state!r}: {detail}")
        if not window.isVisible():
            raise SelftestError("the window is not visible after show()")
    finally:
        window.close()  # joins the engine thread
        QCoreApplication.processEvents()
        qInstallMessageHandler(previous_handler)
    return f"platform {platform}, engine ready ({detail})"


def _size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6
