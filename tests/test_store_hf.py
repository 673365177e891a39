"""Hugging Face sources, with hf_hub_download replaced (no network): files in the user's HF
cache are linked into the models directory, not copied, and checked against the Hub's hash."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

import huggingface_hub
import pytest
from http_fault_server import FAST, blob, sha256
from huggingface_hub.errors import LocalEntryNotFoundError

from mgie_desktop.core.errors import EditCancelled
from mgie_desktop.store import hf, reach
from mgie_desktop.store.download import CACHED, INSTALLED, Downloader
from mgie_desktop.store.errors import DownloadError, HashMismatch
from mgie_desktop.store.manifest import Manifest
from mgie_desktop.store.progress import DOWNLOADING
from mgie_desktop.store.state import StoreState

WEIGHTS, CONFIG = blob(5000, 3), b'{"model_type": "test"}\n'
REV = "a" * 40


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """An HF-cache layout (blobs named by the Hub's hash, snapshot symlinks) and a stand-in
    for hf_hub_download that serves from it, "downloading" through the given tqdm class."""

    def __init__(self, root, files: dict[str, bytes], blob_names: dict[str, str] | None = None):
        self.root, self.files, self.calls = root, files, []
        self.blob_names = blob_names or {}
        self.cached: set[str] = set()

    def put(self, name: str) -> str:
        data = self.files[name]
        blob_name = self.blob_names.get(name) or (sha256(data) if name.endswith(".bin") else git_sha1(data))
        blob_path = self.root / "blobs" / blob_name
        blob_path.parent.mkdir(parents=True, exist_ok=True)
        blob_path.write_bytes(data)
        link = self.root / "snapshots" / REV / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(blob_path)
        self.cached.add(name)
        return str(link)

    def __call__(
        self, repo_id, filename, *, revision=None, repo_type=None, force_download=False, tqdm_class=None, **kw
    ):
        self.calls.append((repo_id, filename, revision, force_download))
        if filename not in self.cached or force_download:
            bar = tqdm_class(total=len(self.files[filename]))
            for i in range(0, len(self.files[filename]), 1000):
                bar.update(min(1000, len(self.files[filename]) - i))
            bar.close()
        return self.put(filename)


def manifest(sha: str | None = None, repo: str = "owner/repo") -> Manifest:
    src = {"hf_repo": repo, "revision": REV}
    return Manifest.from_dict(
        {
            "schema": 1,
            "models": [
                {
                    "id": "m",
                    "name": "M",
                    "license": {"name": "L", "url": "https://x.invalid"},
                    "files": [
                        {
                            "path": "sources/m/weights.bin",
                            "size": len(WEIGHTS),
                            "sha256": sha,
                            "source": {**src, "hf_path": "weights.bin"},
                        },
                        {
                            "path": "sources/m/config.json",
                            "size": None,
                            "sha256": None,
                            "source": {**src, "hf_path": "config.json"},
                        },
                    ],
                }
            ],
        }
    )


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fake repo inside the (sandboxed, see conftest) Hugging Face cache, under a unique name."""
    repo = f"owner/repo-{uuid.uuid4().hex[:12]}"
    fake = FakeHub(
        hf.cache_dir() / f"models--{repo.replace('/', '--')}", {"weights.bin": WEIGHTS, "config.json": CONFIG}
    )
    fake.repo = repo
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(
        hf, "offline", lambda: False
    )  # conftest turns offline mode on; the fake hub is "online"
    monkeypatch.setattr(reach, "connect", lambda host, port, timeout: None)  # and answers
    return fake


def test_a_file_in_the_hf_cache_is_linked_not_copied(tmp_path, hub):
    hub.put("weights.bin")
    hub.put("config.json")
    dest = tmp_path / "models"
    d = Downloader(manifest(repo=hub.repo), dest, policy=FAST, reserve_bytes=0)
    assert [f.state for f in d.plan().files] == [CACHED, CACHED]
    assert d.plan().need_bytes == 0
    result = d.run()
    assert result.reused == ["sources/m/weights.bin", "sources/m/config.json"]
    target = dest / "sources/m/weights.bin"
    assert os.path.samefile(target, hub.root / "blobs" / sha256(WEIGHTS))  # the same file: no second copy
    assert target.read_bytes() == WEIGHTS
    state = StoreState(dest)
    assert state.get("sources/m/weights.bin")["hash_source"] == "hub-lfs"
    assert state.get("sources/m/config.json")["hash_source"] == "hub-git"
    assert [f.state for f in d.plan().files] == [INSTALLED, INSTALLED]


def test_a_missing_file_is_fetched_through_huggingface_hub_with_progress(tmp_path, hub):
    records = []
    d = Downloader(
        manifest(sha=sha256(WEIGHTS), repo=hub.repo),
        tmp_path,
        progress=records.append,
        policy=FAST,
        reserve_bytes=0,
    )
    d.report_every = 0
    result = d.run()
    assert result.downloaded == ["sources/m/weights.bin", "sources/m/config.json"]
    assert hub.calls[0] == (hub.repo, "weights.bin", REV, False)
    done = [
        r.file.done for r in records if r.file.phase == DOWNLOADING and r.file.path == "sources/m/weights.bin"
    ]
    assert done[-1] == len(WEIGHTS)
    assert StoreState(tmp_path).get("sources/m/weights.bin")["hash_source"] == "manifest"


def test_a_damaged_cache_entry_is_fetched_again_then_fails_for_good(tmp_path, hub):
    hub.blob_names["weights.bin"] = "b" * 64  # the Hub's hash no longer matches the bytes
    with pytest.raises(HashMismatch, match="sources/m/weights.bin"):
        Downloader(manifest(repo=hub.repo), tmp_path, policy=FAST, reserve_bytes=0).run()
    assert [c[3] for c in hub.calls if c[1] == "weights.bin"] == [False, True]
    assert not (tmp_path / "sources/m/weights.bin").exists()


def test_cancel_during_an_hf_download(tmp_path, hub):
    cancel = threading.Event()

    def progress(p):
        if p.file.phase == DOWNLOADING and p.file.done >= 1000:
            cancel.set()

    d = Downloader(
        manifest(repo=hub.repo), tmp_path, progress=progress, cancel=cancel, policy=FAST, reserve_bytes=0
    )
    d.report_every = 0
    with pytest.raises(EditCancelled):
        d.run()
    assert not (tmp_path / "sources/m/weights.bin").exists()


def test_offline_mode_without_the_file_says_so(tmp_path, monkeypatch):
    def offline_download(*args, **kwargs):
        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline_download)
    monkeypatch.setattr(hf, "offline", lambda: True)
    with pytest.raises(DownloadError, match="offline mode is on .* 2 file"):
        Downloader(manifest(), tmp_path, policy=FAST, reserve_bytes=0).run()
    # Even past the preflight, hf_hub_download's own "not cached" answer is explained.
    with pytest.raises(DownloadError, match="not in the Hugging Face cache and offline mode is on"):
        hf.fetch(manifest().files[0].source, "sources/m/weights.bin", policy=FAST)
