"""After the download: convert the sources into the app's bundle, verify it, free the sources."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import InputError, ModelFilesError
from mgie_desktop.engine.inventory import KLEIN_DIR, bundle_path, check_installed, has_klein, problems
from mgie_desktop.engine.klein_files import add_klein, is_klein_folder
from mgie_desktop.store.download import RESERVE_BYTES, existing_ancestor, part_path
from mgie_desktop.store.errors import DestinationNotWritable, NotEnoughSpace
from mgie_desktop.store.manifest import SOURCES_DIR, Manifest, target_path
from mgie_desktop.store.progress import format_bytes
from mgie_desktop.store.state import STATE_DIR

KLEIN_SOURCES = "FLUX.2-klein-4B"  # sources/FLUX.2-klein-4B: where the manifest's klein files land


def sources_dir(dest: Path) -> Path:
    return Path(dest) / SOURCES_DIR


def klein_sources(dest: Path) -> Path:
    """The downloaded FLUX.2 [klein] (the optional second engine), in the diffusers layout."""
    return sources_dir(dest) / KLEIN_SOURCES


def convert_sources(
    dest: Path,
    log: Callable[[str], None] = lambda msg: None,
    full_hash: bool = True,
    keep_klein: bool = True,
) -> dict:
    """Convert ``dest/sources`` into ``dest/bundle`` and check the result; return its inventory.
    ``keep_klein``: FLUX.2 [klein] in the old bundle is carried into the new one (``klein_kept``).

    Imports the engine (torch) only here. Raises ModelFilesError when the sources are
    incomplete or the bundle does not verify.
    """
    # engine.convert imports torch (seconds): loaded when a conversion runs, not with the model manager
    convert, locate_reference = load("mgie_desktop.engine.convert", "convert", "locate_reference")

    dest = Path(dest)
    with klein_kept(dest, log) if keep_klein else nullcontext():
        convert(locate_reference(sources_dir(dest)), dest, log=log)
    inventory: dict = check_installed(dest)
    if full_hash:
        log("verifying the bundle")
        bad = problems(dest, full_hash=True)
        if bad:
            raise ModelFilesError(f"the converted bundle in {dest} does not verify: {'; '.join(bad[:5])}")
    return inventory


def install_sources(
    dest: Path, log: Callable[[str], None] = lambda msg: None, with_klein: bool = True
) -> dict:
    """Convert what was downloaded: the whole bundle, or, when the bundle is installed and its
    sources were freed, just InstructPix2Pix's own parts added to it (the optional comparison).
    A FLUX.2 [klein] download (the optional second engine) is then copied in as it is, after a
    conversion too, which writes a new bundle without it; ``with_klein`` False when this run's
    download did not include (and so did not verify) it: an earlier, interrupted download of it
    may have left a folder of the right shape with files missing."""
    dest = Path(dest)
    # engine.convert imports torch: see convert_sources
    add_plain_ip2p, has_plain_ip2p, IP2P_DIR, LLAVA_DIR = load(
        "mgie_desktop.engine.convert", "add_plain_ip2p", "has_plain_ip2p", "IP2P_DIR", "LLAVA_DIR"
    )
    sources = sources_dir(dest)
    freed = not (sources / LLAVA_DIR / "config.json").is_file()
    klein = with_klein and is_klein_folder(klein_sources(dest))
    if freed and has_plain_ip2p(sources / IP2P_DIR):
        check_installed(dest)  # the bundle the parts are added to
        log("adding InstructPix2Pix's own model to the installed bundle")
        inventory = add_plain_ip2p(sources / IP2P_DIR, dest)
    elif freed and klein:
        return install_klein(klein_sources(dest), dest, log)  # only the second engine was downloaded
    else:
        inventory = convert_sources(dest, log, keep_klein=not klein)  # a downloaded klein replaces it
    return install_klein(klein_sources(dest), dest, log) if klein else inventory


@contextmanager
def klein_kept(dest: Path, log: Callable[[str], None] = lambda msg: None) -> Iterator[None]:
    """Around a conversion, which writes a new bundle without FLUX.2 [klein]: the installed one
    is hard-linked aside first (no second copy) and added to the new bundle after, so a repair or
    a re-import of MGIE does not lose 16 GB that may no longer be anywhere else. A failed
    conversion leaves the old bundle, klein and all; the links aside go either way."""
    dest = Path(dest)
    installed = bundle_path(dest) / KLEIN_DIR
    kept = dest / STATE_DIR / "klein-kept"
    shutil.rmtree(kept, ignore_errors=True)
    if not is_klein_folder(installed):
        yield
        return
    try:
        shutil.copytree(installed, kept, copy_function=os.link)
    except OSError as exc:  # no hard links on this file system: a 16 GB copy is not made unasked
        shutil.rmtree(kept, ignore_errors=True)
        log(f"FLUX.2 [klein] cannot be kept across the conversion ({_first_line(exc)}): add it again after")
        yield
        return
    try:
        yield
        if not has_klein(dest):
            install_klein(kept, dest, log)
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def install_klein(src: Path, dest: Path, log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Copy a FLUX.2 [klein] folder (diffusers layout: a download, or a copy already on this
    computer such as a Hugging Face cache snapshot) into the installed bundle at ``dest``.

    InputError, before anything is written, for a folder that is not FLUX.2 [klein], a models
    directory without an installed bundle, or a disk without room for the copy; NotEnoughSpace
    when the disk fills up during the copy (the half copy is removed, the bundle is unchanged)."""
    src, dest = Path(src).expanduser(), Path(dest).expanduser()
    if not src.is_dir():
        raise InputError(f"{src} is not a folder")
    snapshots = klein_snapshots(src)
    if not is_klein_folder(src) and len(snapshots) == 1:
        src = snapshots[0]  # a Hugging Face cache's repository folder: its one snapshot
        log(f"using the Hugging Face cache snapshot {src}")
    elif not is_klein_folder(src) and snapshots:
        raise InputError(
            f"{src} holds {len(snapshots)} snapshots of FLUX.2 [klein]: name one of them "
            f"({', '.join(p.name[:12] for p in snapshots)})"
        )
    if not is_klein_folder(src):
        raise InputError(
            f"{src} is not FLUX.2 [klein] in the diffusers layout: expected model_index.json naming "
            "Flux2KleinPipeline and transformer/, vae/, text_encoder/, tokenizer/, scheduler/ "
            "(a copy of black-forest-labs/FLUX.2-klein-4B)"
        )
    try:
        check_installed(dest)  # the bundle the model is added to
    except ModelFilesError as exc:
        raise InputError(f"cannot add FLUX.2 [klein]: {exc}") from None
    bundle = bundle_path(dest)
    size, need = _bytes_to_copy(src, bundle)
    try:
        free = shutil.disk_usage(existing_ancestor(bundle)).free
    except OSError:
        free = None
    if need and free is not None and need + RESERVE_BYTES > free:
        raise NotEnoughSpace(
            f"adding FLUX.2 [klein] needs about {format_bytes(need)} free in {bundle} "
            f"(plus {format_bytes(RESERVE_BYTES)} to spare); {format_bytes(free)} are free: nothing was copied"
        )
    how = "copying" if need else "hard-linking (the same disk: no second copy)"
    log(f"adding FLUX.2 [klein] ({format_bytes(size)}) to {bundle}: {how}, then hashing it")
    try:
        inventory: dict[str, Any] = add_klein(src, dest)
    except OSError as exc:  # shutil.copytree gathers its files' errors into one shutil.Error
        if _disk_full(exc):
            raise NotEnoughSpace(
                f"the disk holding {dest} filled up while FLUX.2 [klein] was copied; nothing was "
                "installed: free some space and try again"
            ) from None
        if getattr(exc, "errno", None) in (
            errno.EACCES,
            errno.EPERM,
            errno.EROFS,
        ) or "Permission denied" in str(exc):
            raise DestinationNotWritable(
                f"cannot write FLUX.2 [klein] into {bundle}: {_first_line(exc)}"
            ) from None
        raise ModelFilesError(f"copying FLUX.2 [klein] from {src} failed: {_first_line(exc)}") from exc
    log(f"FLUX.2 [klein] added to {bundle}")
    return inventory


def looks_like_klein(folder: Path) -> bool:
    """Is ``folder`` FLUX.2 [klein] in the diffusers layout, or a Hugging Face cache's repository
    folder holding it (what ``install_klein`` takes)? Imports torch (``engine.klein``)."""
    return is_klein_folder(Path(folder)) or bool(klein_snapshots(Path(folder)))


def klein_snapshots(folder: Path) -> list[Path]:
    """The snapshots holding FLUX.2 [klein] in a Hugging Face cache's repository ``folder``."""
    return sorted(p for p in (Path(folder) / "snapshots").glob("*") if is_klein_folder(p))


def _bytes_to_copy(folder: Path, onto: Path) -> tuple[int, int]:
    """(the size of ``folder``, the bytes its copy into ``onto`` takes): files on the disk of
    ``onto`` are hard-linked by ``engine.klein_files.add_klein``, the others copied (links followed)."""
    disk = _device(existing_ancestor(onto))
    size = need = 0
    for dirpath, _dirs, files in os.walk(folder, followlinks=True):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # a dangling link: the copy will say so
            size += st.st_size
            need += st.st_size if _device(Path(path)) != disk else 0
    return size, need


def _device(path: Path) -> int:
    """The disk ``path`` is on (its target's, for a link)."""
    return os.stat(path).st_dev


def _disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)) or (
        "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


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
