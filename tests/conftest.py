"""Shared fixtures: tiny models built once per run, and an isolated environment so tests
never touch the user's real settings, data or Hugging Face cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="mgie-tests-"))
for var, sub in (
    ("HOME", "home"),
    ("XDG_DATA_HOME", "data"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_CACHE_HOME", "cache"),
    ("HF_HOME", "hf"),
):
    os.environ[var] = str(_SANDBOX / sub)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("MGIE_MODELS", None)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).parent / "data"


def _build(root: Path, emit: bool) -> Path:
    from mgie_desktop.engine.convert import convert, locate_reference
    from mgie_desktop.engine.tiny import write_tiny_reference

    convert(locate_reference(write_tiny_reference(root / "tiny-reference", emit_image_tokens=emit)), root)
    return root


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A models dir converted from tiny random reference files (the LLM never emits [IMG0])."""
    return _build(tmp_path_factory.mktemp("tiny-random"), emit=False)


@pytest.fixture(scope="session")
def emitting_models(tmp_path_factory) -> Path:
    """Tiny models wired to answer "The sky will be orange." then [IMG0..7] and </s>."""
    return _build(tmp_path_factory.mktemp("tiny-emitting"), emit=True)


@pytest.fixture(scope="session")
def klein_models(tmp_path_factory) -> Path:
    """Tiny models (the emitting MGIE) with a tiny random FLUX.2 [klein] added, as `models tiny` makes."""
    from mgie_desktop.engine.klein_files import add_klein
    from mgie_desktop.engine.tiny_klein import write_tiny_klein

    root = _build(tmp_path_factory.mktemp("tiny-klein"), emit=True)
    add_klein(write_tiny_klein(root / "tiny-reference" / "FLUX.2-klein-4B"), root)
    return root


@pytest.fixture(scope="session")
def klein_engine(klein_models):
    from mgie_desktop.engine.pipeline import MgieEngine

    return MgieEngine(klein_models, device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def engine(tiny_models):
    from mgie_desktop.engine.pipeline import MgieEngine

    return MgieEngine(tiny_models, device="cpu", precision="fp32")  # exact math against fp32 references


@pytest.fixture(scope="session")
def emitting_engine(emitting_models):
    from mgie_desktop.engine.pipeline import MgieEngine

    return MgieEngine(emitting_models, device="cpu", precision="fp32")


@pytest.fixture
def photo():
    """A small non-square test photo with structure (gradients and a block)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:64, 0:96]
    rgb = np.stack([x * 2.5, y * 3.5, (x + y) * 1.5], axis=-1).clip(0, 255).astype("uint8")
    rgb[20:40, 30:60] = (240, 240, 30)
    return Image.fromarray(rgb, "RGB")


@pytest.fixture
def photo_path(tmp_path, photo):
    """The test photo saved as a PNG file."""
    path = tmp_path / "beach.png"
    photo.save(path)
    return path


class Server:
    """``mgie-desktop serve`` in its own process, on a free loopback port."""

    def __init__(self, models: Path, token_file: Path, *args: str):
        from mgie_desktop.remote.serve import spawn_server

        self.token_file = token_file
        self.process, self.url, self.token = spawn_server(models, token_file, *args)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> str:
        self.process.terminate()
        try:
            return self.process.communicate(timeout=30)[0]
        except Exception:
            self.process.kill()
            raise


@pytest.fixture(scope="session")
def server(tiny_models, tmp_path_factory):
    """One server for the remote tests (a token, and a 1 MiB request limit to test against)."""
    running = Server(tiny_models, tmp_path_factory.mktemp("server") / "token", "--max-upload-mb", "1")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _small_draft_renders_in_window_tests(request, monkeypatch):
    """Window tests edit with the draft preset: there it renders about 150x100 instead of about
    620x410. What they check (history, signals, widgets) does not depend on the size, and the
    engine's own tests cover the real working sizes."""
    if not request.module.__name__.split(".")[-1].startswith("test_ui"):
        return
    from dataclasses import replace

    from mgie_desktop.core.params import PRESETS

    monkeypatch.setitem(PRESETS, "draft", replace(PRESETS["draft"], pixel_budget=128 * 128))
