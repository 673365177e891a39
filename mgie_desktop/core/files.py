"""Checks every file opener makes before parsing: it exists, is readable, is a file, is not empty."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mgie_desktop.core.errors import InputError


def check_openable(path: Path, fail: Callable[[str], InputError], kind: str) -> None:
    """Raise ``fail(problem)`` naming the problem in plain words."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise fail("the file does not exist.") from None
    except OSError as exc:
        raise fail(f"the file cannot be read ({exc.strerror or exc}).") from None
    if path.is_dir():
        raise fail(f"it is a folder, not {kind}.")
    if st.st_size == 0:
        raise fail("the file is empty (0 bytes).")
