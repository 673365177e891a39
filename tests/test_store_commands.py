"""``models download / list / verify`` as plain functions: licences, exit codes, JSON status,
and one end-to-end run that downloads tiny reference files and converts them into a bundle."""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections import namedtuple
from pathlib import Path

import pytest
from http_fault_server import FAST, Fault, FaultServer, blob, manifest_dict, sha256, write_manifest

from mgie_desktop.store.commands import (
    download_command,
    list_command,
    manifest_status,
    verify_command,
    verify_sources,
)
from mgie_desktop.store.install import free_sources
from mgie_desktop.store.manifest import Manifest

A, B, C = blob(4000, 5), blob(1500, 6), blob(700, 7)


@pytest.fixture
def server():
    with FaultServer({"a.bin": A, "b.bin": B, "c.bin": C}) as s:
        yield s


@pytest.fixture
def manifest_path(server, tmp_path):
    return write_manifest(tmp_path / "manifest.json", manifest_dict(server, ["a.bin", "b.bin", "c.bin"]))


def download(manifest, dest, accept=True, stdin="", **kw):
    out, err = io.StringIO(), io.StringIO()
    kw.setdefault("convert", False)
    code = download_command(
        str(manifest),
        dest,
        accept,
        stdin=io.StringIO(stdin),
        out=out,
        err=err,
        policy=FAST,
        reserve_bytes=0,
        **kw,
    )
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_refusing_the_license_exits_2_and_downloads_nothing(server, manifest_path, tmp_path, answer):
    code, out, err = download(manifest_path, tmp_path / "m", accept=False, stdin=answer)
    assert code == 2
    assert "License: Test License" in out and "https://example.invalid/license" in out
    assert "license not accepted: Test License" in err
    assert server.log == [] and not (tmp_path / "m" / "sources").exists()


def test_accepting_the_license_on_stdin_downloads(server, manifest_path, tmp_path):
    code, out, err = download(manifest_path, tmp_path / "m", accept=False, stdin="yes\n")
    assert code == 0, err
    assert "Do you accept this license?" in out and "3 downloaded" in out
    assert (tmp_path / "m/sources/a.bin").read_bytes() == A


def test_exit_codes_for_bad_input_and_failures(server, manifest_path, tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "models": [{"id": "x"}]}', encoding="utf-8")
    code, _, err = download(bad, tmp_path / "m")
    assert code == 2 and "malformed manifest" in err and "Traceback" not in err

    traversal = manifest_dict(server, ["a.bin"])
    traversal["models"][0]["files"][0]["path"] = "../../escape.bin"
    code, _, err = download(write_manifest(tmp_path / "t.json", traversal), tmp_path / "m")
    assert code == 2 and "points outside the models directory" in err
    assert not (tmp_path / "escape.bin").exists()

    server.add_fault("b.bin", Fault("wrong"))
    code, _, err = download(manifest_path, tmp_path / "m")
    assert code == 1 and "sources/b.bin: sha256" in err
    assert not (tmp_path / "m/sources/b.bin").exists()

    cancel = threading.Event()
    cancel.set()
    assert download(manifest_path, tmp_path / "m2", cancel=cancel)[0] == 130

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1, 1, 0))
    code, _, err = download(manifest_path, tmp_path / "m3")
    assert code == 2 and "not enough disk space" in err


def test_status_lists_each_file_and_verify_names_bad_ones(server, manifest_path, tmp_path):
    dest = tmp_path / "m"
    assert download(manifest_path, dest)[0] == 0
    (dest / "sources/c.bin").unlink()
    (dest / "sources/c.bin.part").write_bytes(C[:100])
    (dest / "sources/b.bin").write_bytes(B[:10])
    status = manifest_status(manifest_path, dest)
    json.dumps(status)
    (model,) = status["models"]
    assert model["license"] == {"name": "Test License", "url": "https://example.invalid/license"}
    assert [(f["path"], f["status"]) for f in model["files"]] == [
        ("sources/a.bin", "installed"),
        ("sources/b.bin", "corrupt"),
        ("sources/c.bin", "partial"),
    ]
    assert model["status"] == "corrupt" and model["size"] == len(A) + len(B) + len(C)
    assert status["summary"] == {
        "files": 3,
        "installed": 1,
        "unverified": 0,
        "partial": 1,
        "missing": 0,
        "corrupt": 1,
    }
    assert status["bundle"]["installed"] is False

    out = io.StringIO()
    assert list_command(manifest_path, dest, out=out) == 0
    assert "Test model [test]: corrupt" in out.getvalue() and "license: Test License" in out.getvalue()
    assert "\ndownloaded sources: 1 of 3 files (1 partial, 1 corrupt)\n" in out.getvalue()
    assert "\nconverted bundle: " in out.getvalue() and "installed, all the app needs" not in out.getvalue()

    (dest / "sources/a.bin").write_bytes(b"?" + A[1:])  # same size, different bytes
    bad = verify_sources(manifest_path, dest)
    assert bad == [
        f"checksum mismatch: sources/a.bin (sha256 {sha256(b'?' + A[1:])}, expected {sha256(A)})",
        f"wrong size: sources/b.bin (10 bytes, expected {len(B)})",
        "missing: sources/c.bin",
    ]
    out, err = io.StringIO(), io.StringIO()
    assert verify_command(manifest_path, dest, out=out, err=err) == 1
    assert "sources/a.bin" in out.getvalue() and "3 bad file(s)" in err.getvalue()

    # The next download repairs all three, resuming c.bin from its .part.
    assert download(manifest_path, dest)[0] == 0
    assert server.hits("c.bin")[-1].range == "bytes=100-"
    assert verify_sources(manifest_path, dest) == []
    assert manifest_status(manifest_path, dest)["summary"]["installed"] == 3


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory) -> Path:
    from mgie_desktop.engine.tiny import write_tiny_reference

    return write_tiny_reference(tmp_path_factory.mktemp("tiny-ref") / "sources")


def test_download_convert_and_free_end_to_end(tiny_sources, tmp_path):
    files = {
        p.relative_to(tiny_sources).as_posix(): p.read_bytes()
        for p in sorted(tiny_sources.rglob("*"))
        if p.is_file()
    }
    with FaultServer(files) as srv:
        srv.add_fault("mgie_7b/unet.pt", Fault("drop", after=50_000))
        manifest = write_manifest(tmp_path / "manifest.json", manifest_dict(srv, list(files)))
        dest = tmp_path / "models"
        code, out, err = download(manifest, dest, convert=True, free_sources=True)
        assert code == 0, err
        assert "models ready in" in out and "freed" in out
        assert "mgie_7b/unet.pt: done - verified" in out
        assert srv.hits("mgie_7b/unet.pt")[-1].range == "bytes=50000-"
        from mgie_desktop.engine.inventory import check_installed

        check_installed(dest)
        assert not (dest / "sources").exists()  # freed after conversion
        assert manifest_status(manifest, dest)["bundle"]["installed"] is True
        gets = len(srv.log)
        code, out, _ = download(manifest, dest, convert=True)
        assert code == 0 and "nothing to do" in out and len(srv.log) == gets


def test_free_sources_spares_files_the_manifest_does_not_list(server, manifest_path, tmp_path):
    dest = tmp_path / "m"
    assert download(manifest_path, dest)[0] == 0
    (dest / "sources/mine.txt").write_text("keep me", encoding="utf-8")
    assert free_sources(Manifest.load(manifest_path), dest) == len(A) + len(B) + len(C)
    assert sorted(p.name for p in (dest / "sources").iterdir()) == ["mine.txt"]


@pytest.mark.parametrize(
    ("sizes", "approx", "shown"),
    [
        ((10_000, 2_000), None, "12.0 kB"),  # every size listed: exact
        ((None, 2_000), 50_000, "about 50.0 kB"),  # the manifest's estimate
        ((None, 2_000), None, "at least 2.0 kB"),  # what is known, said as such
        ((None, None), None, "size not listed"),
    ],
)  # never ">= 0 B"
def test_list_says_each_model_s_size_as_well_as_it_is_known(sizes, approx, shown, tmp_path):
    files = [
        {
            "path": f"sources/{i}.bin",
            "size": size,
            "sha256": None,
            "source": {"url": f"https://example.invalid/{i}"},
        }
        for i, size in enumerate(sizes)
    ]
    data = {
        "schema": 1,
        "models": [
            {
                "id": "m",
                "name": "M",
                "approx_size": approx,
                "files": files,
                "license": {"name": "L", "url": "https://example.invalid/l"},
            }
        ],
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data), encoding="utf-8")
    out = io.StringIO()
    assert list_command(manifest, tmp_path / "models", out=out) == 0
    assert f"M [m]: missing, {shown}\n" in out.getvalue()
