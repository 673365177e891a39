"""FLUX.2 [klein]'s files in a bundle, without torch (the model manager and `models import-klein`
use it): what a klein folder is, and installing one into the bundle's ``klein/``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from mgie_desktop.core.errors import ModelFilesError
from mgie_desktop.engine.inventory import KLEIN_DIR, bundle_path, read_inventory, sha256_file, write_inventory

PIPELINE_CLASS = "Flux2KleinPipeline"
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
SKIPPED = (".*", "*.md", "*.png", "*.jpg")  # the model card, its pictures, the cache's own files


def folder(models_dir: Path) -> Path:
    return bundle_path(Path(models_dir)) / KLEIN_DIR


def is_klein_folder(path: Path) -> bool:
    """A FLUX.2 [klein] model in the diffusers layout (a folder to import, or the bundle's own)."""
    try:
        index = json.loads((Path(path) / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(index, dict)
        and index.get("_class_name") == PIPELINE_CLASS
        and all((Path(path) / part).is_dir() for part in COMPONENTS)
    )


def add_klein(src: Path, models_dir: Path) -> dict[str, Any]:
    """Put a FLUX.2 [klein] folder (diffusers layout) into an installed bundle: written aside and
    hashed there, then moved in with the inventory naming it, so an interrupted install leaves
    the bundle as it was (with its old klein, if it had one)."""
    src = Path(src)
    if not is_klein_folder(src):
        raise ModelFilesError(
            f"{src} is not a FLUX.2 [klein] model in the diffusers layout (model_index.json naming "
            f"{PIPELINE_CLASS}, and {', '.join(COMPONENTS)}/)"
        )
    check_distilled(src)
    inventory, bundle = read_inventory(models_dir), bundle_path(models_dir)
    work, final = bundle / (KLEIN_DIR + ".partial"), bundle / KLEIN_DIR
    shutil.rmtree(work, ignore_errors=True)
    try:
        # 16 GB: hard-linked where the source is on the same disk (a Hugging Face cache, a stand-in),
        # so the bundle takes no second copy; the cache's symbolic links are followed.
        shutil.copytree(src, work, ignore=shutil.ignore_patterns(*SKIPPED), copy_function=_link_or_copy)
        known = {
            rel: meta["sha256"]
            for rel, meta in inventory["files"].items()
            if not rel.startswith(KLEIN_DIR + "/")
        }
        for path in sorted(p for p in work.rglob("*") if p.is_file()):
            known[f"{KLEIN_DIR}/{path.relative_to(work).as_posix()}"] = sha256_file(path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    return write_inventory(
        bundle,
        {**inventory["model"], "klein": True},
        inventory.get("source", {}),
        inventory.get("dtype", "float16"),
        known,
    )


def check_distilled(path: Path) -> None:
    """ModelFilesError for an undistilled (base) klein: the app runs the distilled model, in its
    own 4 steps without guidance, at install and at load alike."""
    index = json.loads((Path(path) / "model_index.json").read_text(encoding="utf-8"))
    if not index.get("is_distilled", False):
        raise ModelFilesError(
            f"{path} holds an undistilled (base) FLUX.2 [klein]: MGIE Desktop runs the distilled "
            "FLUX.2-klein-4B, which edits in 4 steps"
        )


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another disk, or a file system without hard links
        shutil.copy2(src, dst)
