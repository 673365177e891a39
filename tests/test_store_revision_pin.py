"""A Hub source the manifest does not pin to a commit (a branch, or null for the default branch,
each with a revision_note) is pinned at its first download: the commit the Hub served is recorded
in .mgie-store/verified.json and every later fetch of that repository asks for it."""

from __future__ import annotations

import io
import uuid

import huggingface_hub
import pytest
from http_fault_server import FAST, sha256, write_manifest
from test_store_hf import REV, FakeHub

from mgie_desktop.core.exit_codes import ExitCode
from mgie_desktop.store import hf, reach
from mgie_desktop.store.commands import download_command, manifest_status
from mgie_desktop.store.download import CACHED, INSTALLED, Downloader
from mgie_desktop.store.errors import ManifestError
from mgie_desktop.store.manifest import Manifest, Source
from mgie_desktop.store.state import StoreState

FILES = {"weights/model.bin": b"\x01\x02" * 700, "config.json": b'{"model_type": "test"}\n'}


def manifest_data(repo: str, revision: str | None, note: str = "pinned at first download") -> dict:
    source = {"hf_repo": repo, "revision": revision}
    return {
        "schema": 1,
        "models": [
            {
                "id": "m",
                "name": "M",
                "license": {"name": "L", "url": "https://x.invalid"},
                "revision_note": note,
                "files": [
                    {
                        "path": f"sources/m/{rel}",
                        "size": None,
                        "sha256": None,
                        "source": {**source, "hf_path": rel},
                    }
                    for rel in sorted(FILES)
                ],
            }
        ],
    }


@pytest.fixture
def hub(monkeypatch):
    repo = f"owner/unpinned-{uuid.uuid4().hex[:12]}"
    fake = FakeHub(
        hf.cache_dir() / f"models--{repo.replace('/', '--')}",
        FILES,
        blob_names={"weights/model.bin": sha256(FILES["weights/model.bin"])},
    )
    fake.repo = repo
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(hf, "offline", lambda: False)
    monkeypatch.setattr(reach, "connect", lambda host, port, timeout: None)
    return fake


def test_an_unpinned_revision_needs_a_note_and_reads_as_the_default_branch():
    Manifest.from_dict(manifest_data("o/r", None))
    Manifest.from_dict(manifest_data("o/r", "main"))
    for revision in (None, "main"):
        with pytest.raises(ManifestError, match="pin it or add a revision_note"):
            Manifest.from_dict(manifest_data("o/r", revision, note=""))
    with pytest.raises(ManifestError, match="must name a commit"):
        Manifest.from_dict(manifest_data("o/r", ""))
    source = Manifest.from_dict(manifest_data("o/r", None)).files[0].source
    assert not source.pinned and source.describe() == "hf://o/r@main/config.json"


@pytest.mark.parametrize("revision", [None, "main"])
def test_the_first_download_pins_the_commit_and_later_fetches_ask_for_it(tmp_path, hub, revision):
    path = write_manifest(tmp_path / "manifest.json", manifest_data(hub.repo, revision))
    dest = tmp_path / "models"
    out, err = io.StringIO(), io.StringIO()
    assert (
        download_command(path, dest, True, out=out, err=err, convert=False, policy=FAST, reserve_bytes=0)
        == ExitCode.OK
    ), err.getvalue()
    # The first file is asked for at the branch; the Hub serves a commit, which the rest then use.
    asked = [call[2] for call in hub.calls]
    assert asked[0] == revision and asked[1:] == [REV] * (len(FILES) - 1)
    source = Source(hf_repo=hub.repo, revision=revision, hf_path="config.json")
    assert StoreState(dest).revisions == {source.repo_key: REV}
    assert StoreState(dest).pinned_source(source).revision == REV
    files = manifest_status(path, dest)["models"][0]["files"]
    assert all(f"@{REV}/" in f["source"] for f in files)  # `models list --json` shows the pin

    # A later run (a file lost, a new checkout of the manifest) fetches that commit, not the branch.
    (dest / "sources/m/config.json").unlink()
    hub.calls.clear()
    plan = Downloader(path, dest, policy=FAST, reserve_bytes=0).plan()
    assert [f.state for f in plan.files] == [CACHED, INSTALLED]
    Downloader(path, dest, policy=FAST, reserve_bytes=0).run(plan)
    assert [call[2] for call in hub.calls] == [REV]
    assert (dest / "sources/m/config.json").read_bytes() == FILES["config.json"]


def test_a_pinned_manifest_records_nothing(tmp_path, hub):
    path = write_manifest(tmp_path / "manifest.json", manifest_data(hub.repo, REV, note=""))
    dest = tmp_path / "models"
    assert (
        download_command(path, dest, True, out=io.StringIO(), convert=False, policy=FAST, reserve_bytes=0)
        == 0
    )
    assert [call[2] for call in hub.calls] == [REV] * len(FILES) and StoreState(dest).revisions == {}
