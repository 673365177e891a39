"""Hugging Face sources, through huggingface_hub (imported lazily).

huggingface_hub brings its own resumable download into the user's cache and honours HF_HOME,
HF_HUB_CACHE, HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE. A file already in that cache is not
downloaded again: the models directory gets a hard link to the cached blob (a symbolic link
across file systems; a copy only when neither is possible). The cache's blob name is the
Hub's own hash of the file (the LFS sha256, or the git blob id of small files), which the
downloader checks when the manifest has no sha256.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

# huggingface_hub (and the httpx it brings) takes 0.1-0.2 s to import: through ``load`` when first
# used, not when the model manager's window imports this module on the GUI thread.
from mgie_desktop.core.deferred import load
from mgie_desktop.core.errors import MgieError
from mgie_desktop.store.errors import DestinationNotWritable, DownloadError, NotEnoughSpace
from mgie_desktop.store.hashing import check_cancel
from mgie_desktop.store.http import DEFAULT_POLICY, RetryPolicy
from mgie_desktop.store.manifest import Source

_HEX64, _HEX40 = re.compile(r"[0-9a-f]{64}"), re.compile(r"[0-9a-f]{40}")


def offline() -> bool:
    constants = load("huggingface_hub", "constants")

    return bool(constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The Hub's address (``HF_ENDPOINT`` or huggingface.co)."""
    return load("huggingface_hub.constants").ENDPOINT


def cache_dir() -> Path:
    constants = load("huggingface_hub", "constants")

    return Path(constants.HF_HUB_CACHE)


def cached_file(source: Source) -> Path | None:
    """The file in the user's Hugging Face cache, if it is there (no network)."""
    try_to_load_from_cache = load("huggingface_hub", "try_to_load_from_cache")

    try:
        found = try_to_load_from_cache(
            source.hf_repo, source.hf_path, revision=source.revision, repo_type=source.repo_type
        )
    except (OSError, ValueError):
        return None
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def remote_size(source: Source) -> int | None:
    """The file's size from the Hub (one HEAD request); None offline or on any error."""
    if offline():
        return None
    try:
        get_hf_file_metadata, hf_hub_url = load("huggingface_hub", "get_hf_file_metadata", "hf_hub_url")

        url = hf_hub_url(source.hf_repo, source.hf_path, revision=source.revision, repo_type=source.repo_type)
        return get_hf_file_metadata(url, timeout=15).size
    except Exception:  # noqa: BLE001 - a size probe must never fail the plan
        return None


def hub_hash(cache_path: Path) -> tuple[str, str] | None:
    """("hub-lfs", sha256) or ("hub-git", sha1) from the cache's blob name, when it has one."""
    real = Path(os.path.realpath(cache_path))
    if real.parent.name != "blobs":
        return None
    if _HEX64.fullmatch(real.name):
        return "hub-lfs", real.name
    if _HEX40.fullmatch(real.name):
        return "hub-git", real.name
    return None


def fetch(
    source: Source,
    label: str,
    *,
    cancel: threading.Event | None = None,
    on_bytes: Callable[[int], None] = lambda n: None,
    force: bool = False,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Path:
    """The file's path in the Hugging Face cache, downloading it there if needed."""
    huggingface_hub = load("huggingface_hub")
    hf_errors = load("huggingface_hub", "errors")

    tqdm_class = _reporting_tqdm(cancel, on_bytes)
    failures = 0
    while True:
        check_cancel(cancel)
        try:
            path = huggingface_hub.hf_hub_download(
                source.hf_repo,
                source.hf_path,
                revision=source.revision,
                repo_type=source.repo_type,
                force_download=force,
                tqdm_class=tqdm_class,
            )
            return Path(path)
        except MgieError:
            raise  # cancelled, from our progress hook
        except hf_errors.LocalEntryNotFoundError:
            if offline():
                raise DownloadError(
                    f"{label} is not in the Hugging Face cache and offline mode is on "
                    "(HF_HUB_OFFLINE): go online or copy the file into the cache"
                ) from None
            message = "cannot reach the Hugging Face Hub"
        except hf_errors.GatedRepoError:
            raise DownloadError(
                f"{source.hf_repo} is gated: accept its terms on the Hub and set HF_TOKEN"
            ) from None
        except hf_errors.RepositoryNotFoundError:
            raise DownloadError(f"{source.hf_repo} was not found on the Hub (or needs HF_TOKEN)") from None
        except hf_errors.RevisionNotFoundError:
            raise DownloadError(f"revision {source.revision} of {source.hf_repo} was not found") from None
        except hf_errors.EntryNotFoundError:
            raise DownloadError(f"{source.hf_path} is not in {source.hf_repo}@{source.revision}") from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
                raise NotEnoughSpace(
                    f"the disk holding the Hugging Face cache ({cache_dir()}) is full; "
                    "free some space and run again to resume"
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise DestinationNotWritable(
                    f"cannot write the Hugging Face cache ({cache_dir()}): {exc.strerror}"
                ) from None
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - httpx and hub HTTP errors: retried, then reported
            message = f"{type(exc).__name__}: {exc}"
        failures += 1
        if failures > policy.retries:
            raise DownloadError(
                f"download of {label} from {source.describe()} failed after {failures} tries: "
                f"{message}; run again to resume"
            )
        delay = min(policy.max_backoff, policy.backoff * 2 ** (failures - 1))
        if cancel is not None and cancel.wait(delay):
            check_cancel(cancel)


def snapshot_commit(cached: Path, hf_path: str) -> str | None:
    """The commit a file fetched into the cache came from: hf_hub_download returns
    ``.../snapshots/<commit>/<hf_path>`` (a branch or the default resolved by the Hub)."""
    depth = len(hf_path.split("/"))
    snapshot = Path(cached).parents[depth - 1] if len(Path(cached).parents) >= depth else None
    if snapshot is None or snapshot.parent.name != "snapshots" or not _HEX40.fullmatch(snapshot.name):
        return None
    return snapshot.name


def place(cached: Path, target: Path) -> str | None:
    """Link ``target`` to the cached blob: "hardlink", "symlink", or None (caller must copy)."""
    real = Path(os.path.realpath(cached))
    tmp = target.with_name(target.name + ".link.part")
    tmp.unlink(missing_ok=True)
    for how, make in (("hardlink", os.link), ("symlink", os.symlink)):
        try:
            make(real, tmp)
        except (OSError, NotImplementedError):
            continue
        os.replace(tmp, target)
        return how
    return None


def _reporting_tqdm(cancel: threading.Event | None, on_bytes: Callable[[int], None]):
    """A tqdm class for hf_hub_download that reports bytes and raises when cancelled."""
    hf_tqdm = load("huggingface_hub.utils", "tqdm")

    class _Reporting(hf_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # our own progress replaces the bar
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            check_cancel(cancel)
            if n and n > 0:
                on_bytes(int(n))
            return super().update(n)

    return _Reporting
