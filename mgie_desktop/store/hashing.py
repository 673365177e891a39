"""File hashes in large chunks, cancellable between chunks, reporting bytes hashed."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from mgie_desktop.core.errors import EditCancelled

HASH_CHUNK = 16 * 1024 * 1024


def check_cancel(cancel: threading.Event | None, what: str = "download") -> None:
    if cancel is not None and cancel.is_set():
        raise EditCancelled(f"{what} cancelled; partial files are kept, run it again to resume")


def sha256_file(
    path: Path,
    cancel: threading.Event | None = None,
    on_bytes: Callable[[int], None] | None = None,
    chunk: int = HASH_CHUNK,
) -> str:
    digest = hashlib.sha256()
    _feed(digest, path, cancel, on_bytes, chunk)
    return digest.hexdigest()


def git_blob_sha1(path: Path, cancel: threading.Event | None = None, chunk: int = HASH_CHUNK) -> str:
    """Git's object id of a file (what the Hub reports as the ETag of a non-LFS file)."""
    digest = hashlib.sha1(f"blob {Path(path).stat().st_size}\0".encode(), usedforsecurity=False)
    _feed(digest, path, cancel, None, chunk)
    return digest.hexdigest()


def _feed(digest, path: Path, cancel, on_bytes, chunk: int) -> None:
    with open(path, "rb") as f:
        while True:
            check_cancel(cancel, "verification")
            block = f.read(chunk)
            if not block:
                return
            digest.update(block)
            if on_bytes is not None:
                on_bytes(len(block))
