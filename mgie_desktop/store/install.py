"""After the download: convert the sources into the app's bundle, verify it, free the sources."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import ModelFilesError
from mgie_desktop.engine.inventory import check_installed, problems
from mgie_desktop.store.download import part_path
from mgie_desktop.store.errors import DestinationNotWritable
from mgie_desktop.store.manifest import SOURCES_DIR, Manifest, target_path


def sources_dir(dest: Path) -> Path:
    return Path(dest) / SOURCES_DIR


def convert_sources(
    dest: Path, log: Callable[[str], None] = lambda msg: None, full_hash: bool = True
) -> dict:
    """Convert ``dest/sources`` into ``dest/bundle`` and check the result; return its inventory.

    Imports the engine (torch) only here. Raises ModelFilesError when the sources are
    incomplete or the bundle does not verify.
    """
    # engine.convert imports torch (seconds): loaded when a conversion runs, not with the model manager
    convert, locate_reference = load("mgie_desktop.engine.convert", "convert", "locate_reference")

    dest = Path(dest)
    inventory = convert(locate_reference(sources_dir(dest)), dest, log=log)
    check_installed(dest)
    if full_hash:
        log("verifying the bundle")
        bad = problems(dest, full_hash=True)
        if bad:
            raise ModelFilesError(f"the converted bundle in {dest} does not verify: {'; '.join(bad[:5])}")
    return inventory


def install_sources(dest: Path, log: Callable[[str], None] = lambda msg: None) -> dict:
    """Convert what was downloaded: the whole bundle, or, when the bundle is installed and its
    sources were freed, just InstructPix2Pix's own parts added to it (the optional comparison)."""
    dest = Path(dest)
    # engine.convert imports torch: see convert_sources
    add_plain_ip2p, has_plain_ip2p, IP2P_DIR, LLAVA_DIR = load(
        "mgie_desktop.engine.convert", "add_plain_ip2p", "has_plain_ip2p", "IP2P_DIR", "LLAVA_DIR"
    )

    sources = sources_dir(dest)
    freed = not (sources / LLAVA_DIR / "config.json").is_file()
    if freed and has_plain_ip2p(sources / IP2P_DIR):
        check_installed(dest)  # the bundle the parts are added to
        log("adding InstructPix2Pix's own model to the installed bundle")
        return add_plain_ip2p(sources / IP2P_DIR, dest)
    return convert_sources(dest, log)


def sources_size(manifest: Manifest, dest: Path) -> int:
    """Bytes that ``free_sources`` would give back (links into the HF cache count as 0)."""
    total = 0
    for entry in manifest.files:
        target = target_path(Path(dest), entry.path)
        for path in (target, part_path(target)):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                total += st.st_size if st.st_nlink == 1 else 0
    return total


def free_sources(manifest: Manifest, dest: Path) -> int:
    """Delete the manifest's downloaded files (and their ``.part`` files) from ``dest``; return
    the bytes freed. Hugging Face cache files are left alone (only our links go). The record of
    their hashes stays, so a later re-download is still checked against it."""
    dest = Path(dest)
    freed = sources_size(manifest, dest)
    for entry in manifest.files:
        target = target_path(dest, entry.path)
        for path in (target, part_path(target)):
            try:
                if path.is_file() or path.is_symlink():
                    path.unlink()
            except FileNotFoundError:
                pass
            except PermissionError as exc:
                raise DestinationNotWritable(f"cannot delete {path}: {exc.strerror}") from None
    _prune_empty_dirs(sources_dir(dest))
    return freed


def _prune_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass  # not empty: files the manifest does not list are the user's
    if root.is_dir() and not any(root.iterdir()):
        shutil.rmtree(root, ignore_errors=True)
