"""The downloader against a real local HTTP server with injected faults: resume with Range,
retries, stalls, wrong hashes, full or read-only disks, cancel. Never a half or unverified
file under the final name."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections import namedtuple

import pytest
from http_fault_server import FAST, Fault, FaultServer, blob, manifest_dict, sha256

from mgie_desktop.core.errors import EditCancelled
from mgie_desktop.store import http as store_http
from mgie_desktop.store.download import CORRUPT, INSTALLED, MISSING, PARTIAL, Downloader
from mgie_desktop.store.errors import DestinationNotWritable, DownloadError, HashMismatch, NotEnoughSpace
from mgie_desktop.store.manifest import Manifest
from mgie_desktop.store.progress import DONE, DOWNLOADING, VERIFYING
from mgie_desktop.store.state import StoreState
from mgie_desktop.store.verify import verify_files

BIG, SMALL = blob(6000, 1), blob(300, 2)


@pytest.fixture
def server():
    with FaultServer({"big.bin": BIG, "small.json": SMALL}) as s:
        yield s


def make(server, dest, names=("big.bin", "small.json"), progress=None, cancel=None, **kw):
    manifest = Manifest.from_dict(manifest_dict(server, list(names), **kw))
    return Downloader(manifest, dest, progress=progress, cancel=cancel, policy=FAST, reserve_bytes=0)


def leftovers(dest):
    return sorted(
        p.relative_to(dest).as_posix()
        for p in dest.rglob("*")
        if p.is_file() and ".mgie-store" not in p.parts
    )


def test_fresh_download_verifies_and_reports_progress(server, tmp_path):
    records = []
    d = make(server, tmp_path, progress=records.append)
    plan = d.plan()
    assert [f.state for f in plan.files] == [MISSING, MISSING]
    assert plan.need_bytes == len(BIG) + len(SMALL) and plan.enough_space
    result = d.run()
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG
    assert (tmp_path / "sources/small.json").read_bytes() == SMALL
    assert leftovers(tmp_path) == ["sources/big.bin", "sources/small.json"]
    assert result.downloaded == ["sources/big.bin", "sources/small.json"] and result.bytes == len(BIG) + len(
        SMALL
    )
    assert StoreState(tmp_path).recorded_sha256("sources/big.bin") == sha256(BIG)
    phases = {(r.file.path, r.file.phase) for r in records}
    assert ("sources/big.bin", DOWNLOADING) in phases and ("sources/big.bin", VERIFYING) in phases
    assert ("sources/big.bin", DONE) in phases
    last = records[-1]
    assert (last.done, last.total, last.index, last.files_total) == (len(BIG) + len(SMALL),) * 2 + (2, 2)
    # A second run has nothing to do and transfers nothing.
    assert [f.state for f in d.plan().files] == [INSTALLED, INSTALLED]
    gets = len(server.log)
    assert d.run().skipped == ["sources/big.bin", "sources/small.json"]
    assert len(server.log) == gets


def test_dropped_connection_resumes_with_range_in_the_same_run(server, tmp_path):
    server.add_fault("big.bin", Fault("drop", after=2500), Fault("drop", after=1000))
    make(server, tmp_path, names=["big.bin"]).run()
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG
    hits = server.hits("big.bin")
    assert [h.range for h in hits] == [None, "bytes=2500-", "bytes=3500-"]
    assert [h.status for h in hits] == [200, 206, 206]
    assert sum(h.sent for h in hits) == len(BIG)  # no byte fetched twice


@pytest.mark.parametrize("at", [0, 1, 1023, 1024, 1025, len(BIG) - 1])
def test_a_connection_dropped_at_any_byte_completes_correctly(server, tmp_path, at):
    server.add_fault("big.bin", Fault("drop", after=at))
    make(server, tmp_path, names=["big.bin"]).run()
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG and leftovers(tmp_path) == ["sources/big.bin"]
    hits = server.hits("big.bin")
    assert [h.range for h in hits] == [None, f"bytes={at}-" if at else None]
    assert sum(h.sent for h in hits) == len(BIG)


def test_a_file_of_the_wrong_size_on_the_server_is_refused(server, tmp_path):
    d = make(server, tmp_path, names=["big.bin"])  # the manifest says 6000 bytes
    server.files["big.bin"] = BIG[:-10]
    with pytest.raises(DownloadError, match="serves 5990 bytes but the manifest expects 6000"):
        d.run()
    assert leftovers(tmp_path) == []


def test_leftover_part_resumes_on_the_next_run(server, tmp_path):
    part = tmp_path / "sources/big.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BIG[:3000])
    d = make(server, tmp_path, names=["big.bin"])
    (planned,) = d.plan().files
    assert (planned.state, planned.have, planned.need) == (PARTIAL, 3000, len(BIG) - 3000)
    d.run()
    (hit,) = server.hits("big.bin")
    assert (hit.range, hit.status, hit.sent) == ("bytes=3000-", 206, len(BIG) - 3000)
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG and not part.exists()


def test_garbage_part_fails_the_hash_then_the_next_run_repairs(server, tmp_path):
    part = tmp_path / "sources/big.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 3000)
    with pytest.raises(HashMismatch, match="sources/big.bin"):
        make(server, tmp_path, names=["big.bin"]).run()
    assert leftovers(tmp_path) == []
    make(server, tmp_path, names=["big.bin"]).run()
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_wrong_bytes_are_a_failure_and_leave_no_file(server, tmp_path):
    server.add_fault("big.bin", Fault("wrong"))
    with pytest.raises(HashMismatch) as info:
        make(server, tmp_path).run()
    assert "sources/big.bin" in str(info.value) and "does not match" in str(info.value)
    assert leftovers(tmp_path) == ["sources/small.json"]  # the other file still completed
    make(server, tmp_path).run()
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    server.add_fault("big.bin", Fault("status", status=500), Fault("status", status=503))
    make(server, tmp_path, names=["big.bin"]).run()
    assert [h.status for h in server.hits("big.bin")] == [500, 503, 200]
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_persistent_server_errors_give_up_with_a_clear_message(server, tmp_path):
    server.add_fault("big.bin", *[Fault("status", status=500)] * 5)
    with pytest.raises(DownloadError, match=r"sources/big.bin failed: HTTP 500.*gave up after 3 tries"):
        make(server, tmp_path, names=["big.bin"]).run()
    assert leftovers(tmp_path) == []


def test_not_found_is_not_retried(server, tmp_path):
    data = manifest_dict(server, ["big.bin"])
    data["models"][0]["files"][0]["source"]["url"] = server.url("nowhere.bin")
    with pytest.raises(DownloadError, match="HTTP 404"):
        Downloader(Manifest.from_dict(data), tmp_path, policy=FAST, reserve_bytes=0).run()
    assert len(server.hits("nowhere.bin")) == 1


def test_a_stall_gives_up_with_a_clear_message_and_keeps_the_part(server, tmp_path):
    server.add_fault("big.bin", Fault("stall", after=1500), *[Fault("stall", after=0)] * 3)
    with pytest.raises(
        DownloadError, match=r"stalled \(no data for 0.3 s\).*1500 bytes kept.*run again to resume"
    ):
        make(server, tmp_path, names=["big.bin"]).run()
    assert leftovers(tmp_path) == ["sources/big.bin.part"]
    make(server, tmp_path, names=["big.bin"]).run()
    assert server.hits("big.bin")[-1].range == "bytes=1500-"
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_server_that_ignores_range_restarts_cleanly(server, tmp_path):
    server.add_fault("big.bin", Fault("drop", after=2000), Fault("ignore_range"))
    make(server, tmp_path, names=["big.bin"]).run()
    assert [h.status for h in server.hits("big.bin")] == [200, 200]
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_not_enough_disk_space_refuses_before_any_transfer(server, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 100, 100))
    d = make(server, tmp_path)
    assert not d.plan().enough_space
    with pytest.raises(NotEnoughSpace, match="needs 6.3 kB .* only 100 B are free"):
        d.run()
    assert server.hits("big.bin") == [] and leftovers(tmp_path) == []


def test_a_full_disk_mid_transfer_keeps_the_part_for_later(server, tmp_path, monkeypatch):
    real_open = store_http.open_part

    class Full:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written >= 2048:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(store_http, "open_part", lambda path, mode: Full(real_open(path, mode)))
    with pytest.raises(NotEnoughSpace, match="disk is full"):
        make(server, tmp_path, names=["big.bin"]).run()
    assert leftovers(tmp_path) == ["sources/big.bin.part"]
    monkeypatch.setattr(store_http, "open_part", real_open)
    make(server, tmp_path, names=["big.bin"]).run()
    assert server.hits("big.bin")[-1].range == "bytes=2048-"
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_read_only_destination_is_refused_clearly(server, tmp_path, monkeypatch):
    dest = tmp_path / "ro"
    dest.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: simulate a read-only mount instead
        real_open = os.open

        def refusing(path, flags, *args, **kwargs):
            if str(path).startswith(str(dest)) and flags & os.O_CREAT:
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing)
    else:
        dest.chmod(0o555)
    try:
        with pytest.raises(DestinationNotWritable, match=f"cannot write to the models directory {dest}"):
            make(server, dest).run()
    finally:
        dest.chmod(0o755)
    assert server.hits("big.bin") == [] and leftovers(dest) == []


def test_cancel_mid_download_leaves_a_resumable_part(server, tmp_path):
    cancel = threading.Event()

    def progress(p):
        if p.file.phase == DOWNLOADING and p.file.done >= 2048:
            cancel.set()

    d = make(server, tmp_path, names=["big.bin"], progress=progress, cancel=cancel)
    d.report_every = 0
    with pytest.raises(EditCancelled, match="run it again to resume"):
        d.run()
    part = tmp_path / "sources/big.bin.part"
    assert 2048 <= part.stat().st_size < len(BIG)
    assert not (tmp_path / "sources/big.bin").exists()
    kept = part.stat().st_size
    make(server, tmp_path, names=["big.bin"]).run()
    assert server.hits("big.bin")[-1].range == f"bytes={kept}-"
    assert (tmp_path / "sources/big.bin").read_bytes() == BIG


def test_unknown_size_and_hash_are_probed_and_recorded_at_first_download(server, tmp_path):
    d = make(server, tmp_path, names=["big.bin"], sizes=False, hashes=False)
    (planned,) = d.plan().files
    assert planned.size == len(BIG)  # asked the server (HEAD)
    d.run()
    rec = StoreState(tmp_path).get("sources/big.bin")
    assert rec["sha256"] == sha256(BIG) and rec["hash_source"] == "first-download"
    # Later corruption is caught against the recorded hash, and the next run repairs it.
    path = tmp_path / "sources/big.bin"
    path.write_bytes(b"x" + BIG[1:])
    assert verify_files(d.manifest, tmp_path) == [
        f"checksum mismatch: sources/big.bin (sha256 {sha256(b'x' + BIG[1:])}, expected {sha256(BIG)})"
    ]
    make(server, tmp_path, names=["big.bin"], sizes=False, hashes=False).run()
    assert path.read_bytes() == BIG


def test_a_corrupt_final_file_is_replaced(server, tmp_path):
    make(server, tmp_path, names=["big.bin"]).run()
    path = tmp_path / "sources/big.bin"
    path.write_bytes(BIG[:100])
    d = make(server, tmp_path, names=["big.bin"])
    assert d.plan().files[0].state == CORRUPT
    d.run()
    assert path.read_bytes() == BIG and leftovers(tmp_path) == ["sources/big.bin"]


def test_files_of_unknown_size_count_at_their_model_s_estimate_before_the_first_byte(
    server, tmp_path, monkeypatch
):
    """A manifest without sizes (and servers not asked) still refuses a download that cannot fit."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 50_000, 50_000))
    data = manifest_dict(server, ["big.bin", "small.json"], sizes=False)
    data["models"][0]["approx_size"] = 80_000  # the manifest's estimate: more than the 50 kB free
    d = Downloader(Manifest.from_dict(data), tmp_path, policy=FAST, reserve_bytes=0, probe_sizes=False)
    plan = d.plan()
    assert plan.unknown_sizes == 2 and [s.need for s in plan.space] == [80_000] and not plan.enough_space
    with pytest.raises(NotEnoughSpace, match="needs 80.0 kB .* only 50.0 kB are free"):
        d.run()
    assert server.hits("big.bin") == [] and leftovers(tmp_path) == []
    data["models"][0]["approx_size"] = 20_000  # fits: the download goes ahead
    assert (
        Downloader(Manifest.from_dict(data), tmp_path, policy=FAST, reserve_bytes=0, probe_sizes=False)
        .plan()
        .enough_space
    )
