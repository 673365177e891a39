"""The converted bundle's inventory: which files it holds, their sizes and sha256.

Torch-free, so the CLI and the window can tell whether models are installed (and what is
missing) without paying for the ML imports.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mgie_desktop.core.errors import ModelFilesError

FORMAT = "mgie-desktop-bundle"
VERSION = 1
INVENTORY = "bundle.json"
BUNDLE_SUBDIR = "bundle"
HASH_CHUNK = 8 * 1024 * 1024

MISSING_HINT = (
    "download them with `mgie-desktop models download` (or Models › Manage models… in the window), "
    "import the reference's files with `mgie-desktop models import SRC --dest DIR`, "
    "or try the engine with tiny test models: `mgie-desktop models tiny DIR`"
)


PLAIN_NOT_INSTALLED = (
    "InstructPix2Pix's own model (the optional comparison) is not installed: download it "
    "with `mgie-desktop models download --with ip2p`, or import the reference's files with "
    "its unet weights, text_encoder/ and tokenizer/ in instruct-pix2pix/"
)


KLEIN_DIR = "klein"  # in the bundle: FLUX.2 [klein] as published, in the diffusers layout
KLEIN_NOT_INSTALLED = (
    "FLUX.2 [klein] (the optional second engine) is not installed: download it with "
    "`mgie-desktop models download --with klein`, or import a copy of black-forest-labs/FLUX.2-klein-4B "
    "with `mgie-desktop models import-klein DIR`"
)


def bundle_path(models_dir: Path) -> Path:
    return Path(models_dir) / BUNDLE_SUBDIR


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_inventory(
    bundle: Path,
    model: dict[str, Any],
    source: dict[str, Any],
    dtype: str,
    hashes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Hash every file of the bundle (``hashes``: those already hashed, by relative path) and
    write the inventory last, atomically: a bundle without ``bundle.json`` is an unfinished
    conversion."""
    files, hashes = {}, hashes or {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != INVENTORY):
        rel = path.relative_to(bundle).as_posix()
        files[rel] = {"size": path.stat().st_size, "sha256": hashes.get(rel) or sha256_file(path)}
    inventory = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": dtype,
        "model": model,
        "source": source,
        "files": files,
    }
    tmp = bundle / (INVENTORY + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(inventory, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, bundle / INVENTORY)
    return inventory


def read_inventory(models_dir: Path) -> dict[str, Any]:
    bundle = bundle_path(models_dir)
    inv_path = bundle / INVENTORY
    if not inv_path.is_file():
        raise ModelFilesError(f"no MGIE models in {models_dir}: {MISSING_HINT}")
    try:
        inventory: dict[str, Any] = json.loads(inv_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFilesError(f"unreadable model inventory {inv_path}: {exc}") from exc
    if inventory.get("format") != FORMAT or not isinstance(inventory.get("files"), dict):
        raise ModelFilesError(f"{inv_path} is not an MGIE Desktop model inventory")
    if inventory.get("version", 0) > VERSION:
        raise ModelFilesError(
            f"{inv_path} was written by a newer MGIE Desktop (format {inventory['version']})"
        )
    return inventory


def bundle_weight_bytes(models_dir: Path, part: str = "") -> int:
    """Bytes of weights in the installed bundle (fp16): what the models take at 2 bytes each.
    ``part`` ("llm/", "unet/", ...) counts one part only."""
    files = read_inventory(models_dir)["files"]
    return sum(
        f["size"]
        for rel, f in files.items()
        if rel.endswith((".safetensors", ".bin")) and rel.startswith(part)
    )


def has_plain_ip2p(models_dir: Path) -> bool:
    """Does the installed bundle hold InstructPix2Pix's own model (the optional comparison)?
    ModelFilesError when there is no bundle at all."""
    return bool(read_inventory(models_dir)["model"].get("plain_ip2p"))


def has_klein(models_dir: Path) -> bool:
    """Does the installed bundle hold FLUX.2 [klein] (the optional second engine)? ModelFilesError
    when there is no bundle at all."""
    return bool(read_inventory(models_dir)["model"].get("klein"))


def bundle_identity(models_dir: Path) -> dict[str, Any]:
    """Which models made an edit, for the record an export carries: where the bundle was
    converted from and a fingerprint of its files (their sha256s, hashed together)."""
    inventory = read_inventory(models_dir)
    files = inventory["files"]
    digest = hashlib.sha256("".join(f"{rel}:{files[rel].get('sha256')}\n" for rel in sorted(files)).encode())
    return {**inventory.get("source", {}), "dtype": inventory.get("dtype"), "bundle": digest.hexdigest()[:16]}


def problems(models_dir: Path, full_hash: bool = False) -> list[str]:
    """Every missing, truncated or (with ``full_hash``) altered file, one line each."""
    inventory = read_inventory(models_dir)
    bundle = bundle_path(models_dir)
    found = []
    for rel, meta in inventory["files"].items():
        path = bundle / rel
        if not path.is_file():
            found.append(f"missing: {rel}")
        elif path.stat().st_size != meta["size"]:
            found.append(f"wrong size: {rel} ({path.stat().st_size} bytes, expected {meta['size']})")
        elif full_hash and sha256_file(path) != meta["sha256"]:
            found.append(f"checksum mismatch: {rel}")
    return found


def check_installed(models_dir: Path) -> dict[str, Any]:
    """The inventory of a complete bundle (sizes checked), or a ModelFilesError saying what is wrong."""
    inventory = read_inventory(models_dir)
    bad = problems(models_dir)
    if bad:
        raise ModelFilesError(
            f"the models in {models_dir} are incomplete: {'; '.join(bad[:5])}. {MISSING_HINT}"
        )
    return inventory
