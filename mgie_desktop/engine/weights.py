"""Reading weight files as they lie on a user's disk: safetensors, or pickled ``.bin``/``.pt``
loaded only with ``weights_only=True`` (a pickle can run code; tensors-only cannot)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mgie_desktop.core.errors import ModelFilesError

# Preferred first: an index (sharded), then a single file; safetensors before pickles.
_CHECKPOINT_NAMES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of one weight file. Pickles are memory-mapped where their format allows."""
    path = Path(path)
    if not path.is_file():
        raise ModelFilesError(f"missing weight file: {path}")
    if path.stat().st_size == 0:
        raise ModelFilesError(f"weight file is empty: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFilesError(f"weight file is corrupt or truncated: {path} ({exc})") from exc
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            sd = torch.load(path, map_location="cpu", weights_only=True)  # legacy, pre-zip format
    except pickle.UnpicklingError as exc:
        raise ModelFilesError(
            f"refusing to load {path}: it holds Python objects other than tensors, "
            f"which could run code ({str(exc).splitlines()[0]})"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError/EOFError/zip errors for damaged files
        raise ModelFilesError(f"weight file is corrupt or truncated: {path} ({exc})") from exc
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelFilesError(f"{path} is not a state dict of tensors")
    return sd


def checkpoint_files(directory: Path) -> list[Path]:
    """The weight files of a Hugging Face style model directory, shards included."""
    directory = Path(directory)
    for name in _CHECKPOINT_NAMES:
        candidate = directory / name
        if not candidate.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                weight_map = json.loads(candidate.read_text(encoding="utf-8"))["weight_map"]
            except (ValueError, KeyError) as exc:
                raise ModelFilesError(f"unreadable checkpoint index {candidate}: {exc}") from exc
            shards = sorted(set(weight_map.values()))
            return [directory / _safe_name(s, candidate) for s in shards]
        return [candidate]
    raise ModelFilesError(f"no weights found in {directory} (looked for {', '.join(_CHECKPOINT_NAMES)})")


def read_checkpoint_dir(directory: Path) -> dict[str, torch.Tensor]:
    sd: dict[str, torch.Tensor] = {}
    for shard in checkpoint_files(directory):
        sd.update(read_state_dict(shard))
    return sd


def _safe_name(name: str, index: Path) -> str:
    if Path(name).name != name:
        raise ModelFilesError(f"{index} points outside its directory: {name!r}")
    return name
