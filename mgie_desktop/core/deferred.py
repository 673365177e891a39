"""Imports made after start-up, from any thread: one at a time, through one gate.

Start-up defers imports so the window shows first; the first imports of Pillow, the session
code, the store and torch then happen on several threads at once (file tasks, the recovery
check, the engine's thread, the model manager's). CPython's import locks are per module, and a
thread importing ``pkg.sub`` takes the lock of ``pkg.sub`` before it waits for ``pkg``. Two
threads first-importing one package can each hold a lock the other needs; the deadlock detector
then hands one of them a half-made module ("cannot import name ... from partially initialized
module", or a ``KeyError`` on the package). Serialising first imports removes that, whatever the
package graph looks like.

What is deferred: the heavy libraries (torch, diffusers, transformers, accelerate, bitsandbytes,
huggingface_hub outside the engine), optional extras (pillow_heif, psutil, ray), and a module
that would put one of those, or Pillow and numpy, on the window's start-up path. Everything else,
the project's own modules and light libraries, is a plain import at the top of the module, so
dependencies stay visible and typed. Every function-level import in ``core``, ``store``,
``engine`` and ``ui`` goes through ``load`` (a test checks it). What is already fully imported is
returned without touching the gate, so a thread never waits on another's slow import (torch, for
seconds) for something it already has.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType
from typing import Any

GATE = threading.RLock()  # re-entrant: a module imported through the gate may load others through it


def load(module: str, *names: str) -> Any:
    """``import module`` (no names), or ``from module import name[, name...]``: the module, the
    one object named, or a tuple of them. Safe from any thread at any time."""
    found = sys.modules.get(module)
    if found is not None and not _initializing(found) and all(n in vars(found) for n in names):
        return _pick(found, names)
    with GATE:  # attribute access too: libraries such as diffusers import submodules lazily on it
        return _pick(importlib.import_module(module), names)


def _pick(module: ModuleType, names: tuple[str, ...]) -> Any:
    values = tuple(_attribute(module, name) for name in names)
    return module if not names else values[0] if len(values) == 1 else values


def _attribute(module: ModuleType, name: str) -> Any:
    try:
        return getattr(module, name)
    except AttributeError:  # like `from package import submodule`
        return importlib.import_module(f"{module.__name__}.{name}")


def _initializing(module: ModuleType) -> bool:
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))
