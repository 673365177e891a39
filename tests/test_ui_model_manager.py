"""The model manager dialog (offscreen, pytest-qt) against a local fault-injecting HTTP server
serving tiny reference model files: licence gate, download + conversion, pause/cancel and
resume, hash mismatch, verify/repair, freeing the sources, closing during a download."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from http_fault_server import FAST, Fault, FaultServer, blob, manifest_dict, write_manifest
from PySide6.QtWidgets import QLabel

from mgie_desktop.store.http import RetryPolicy
from mgie_desktop.ui.model_manager import ModelManagerDialog

TIMEOUT = 60_000
STALLED = "mgie_7b/unet.pt"
STALL_AT = 50_000
# Stalls end in 0.2 s and are retried many times: a long window in which the download is
# stuck at STALL_AT bytes, each stall noticed quickly once cancelled.
PATIENT = RetryPolicy(retries=200, backoff=0.001, max_backoff=0.01, stall_timeout=0.2, chunk_size=4096)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> dict[str, bytes]:
    from mgie_desktop.engine.tiny import write_tiny_reference

    src = write_tiny_reference(tmp_path_factory.mktemp("tiny-ref") / "sources")
    return {p.relative_to(src).as_posix(): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()}


@pytest.fixture
def tiny_server(tiny_files):
    with FaultServer(tiny_files) as srv:
        yield srv


@pytest.fixture
def converted_on(monkeypatch) -> list[str]:
    """Names of the threads the converter ran on."""
    from mgie_desktop.store import install

    threads, original = [], install.convert_sources

    def convert_sources(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(install, "convert_sources", convert_sources)
    return threads


def open_dialog(qtbot, tmp_path: Path, server: FaultServer, names=None, policy: RetryPolicy = FAST):
    manifest = write_manifest(
        tmp_path / "manifest.json", manifest_dict(server, names or sorted(server.files))
    )
    dialog = ModelManagerDialog(tmp_path / "models", manifest, policy=policy, reserve_bytes=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.snapshot is not None and not dialog.busy, timeout=TIMEOUT)
    return dialog


def accept(dialog) -> None:
    for box in dialog.license_boxes:
        box.setChecked(True)


def idle(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)


def wait_for_part(qtbot, dialog, rel: str = STALLED, size: int = STALL_AT) -> Path:
    part = dialog.models_dir / "sources" / (rel + ".part")
    qtbot.waitUntil(lambda: part.is_file() and part.stat().st_size >= size, timeout=TIMEOUT)
    return part


def test_licence_gate_download_convert_verify_repair_free(qtbot, tmp_path, tiny_server, converted_on):
    from mgie_desktop.engine.inventory import check_installed

    dialog = open_dialog(qtbot, tmp_path, tiny_server)
    models = dialog.models_dir
    assert set(dialog.file_states().values()) == {"missing"}
    assert dialog.tree.topLevelItem(0).childCount() == len(tiny_server.files)
    texts = " ".join(w.text() for w in dialog.findChildren(QLabel))
    assert "https://example.invalid/license" in texts and "Test License" in dialog.license_boxes[0].text()

    # No download before the licence is accepted.
    assert not dialog.download_button.isEnabled()
    dialog.download_button.click()
    dialog.download()  # even called directly
    assert tiny_server.log == [] and not dialog.busy and "Accept the licences" in dialog.last_error
    accept(dialog)
    assert dialog.download_button.isEnabled()

    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        dialog.download_button.click()
        assert not dialog.download_button.isEnabled() and dialog.pause_button.isEnabled()
    check_installed(models)
    idle(qtbot, dialog)
    assert set(dialog.file_states().values()) == {"installed"}
    assert converted_on and all(name != threading.main_thread().name for name in converted_on)
    assert dialog.last_error == "" and not dialog.error_label.isVisible()
    assert dialog.overall_bar.value() == dialog.overall_bar.maximum()
    assert not dialog.download_button.isEnabled() and dialog.free_button.isEnabled()

    # Bit rot that keeps size and mtime: only a re-hash finds it; Repair fetches it again.
    rotten = models / "sources" / "mgie_7b" / "mllm.pt"
    st = rotten.stat()
    data = bytearray(rotten.read_bytes())
    data[100] ^= 0xFF
    rotten.write_bytes(bytes(data))
    os.utime(rotten, ns=(st.st_atime_ns, st.st_mtime_ns))
    dialog.verify_button.click()
    idle(qtbot, dialog)
    assert [rel for rel, _ in dialog.verify_report.bad] == ["sources/mgie_7b/mllm.pt"]
    assert (
        "checksum mismatch: sources/mgie_7b/mllm.pt" in dialog.last_error and dialog.error_label.isVisible()
    )
    assert dialog.repair_button.isEnabled()
    gets = len(tiny_server.hits("mgie_7b/mllm.pt"))
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        dialog.repair_button.click()
    idle(qtbot, dialog)
    assert len(tiny_server.hits("mgie_7b/mllm.pt")) == gets + 1
    assert rotten.read_bytes() == tiny_server.files["mgie_7b/mllm.pt"]
    dialog.verify_button.click()
    idle(qtbot, dialog)
    assert dialog.verify_report.ok and not dialog.repair_button.isEnabled()

    # Free the sources: the bundle stays installed and nothing is downloaded again.
    dialog.free_button.click()
    idle(qtbot, dialog)
    assert not (models / "sources").exists()
    check_installed(models)
    assert dialog.snapshot.sources_freed and not dialog.free_button.isEnabled()
    assert not dialog.download_button.isEnabled() and dialog.download_button.text() == "Installed"


@pytest.mark.parametrize("stop", ["cancel", "pause"])
def test_stopping_keeps_the_part_and_download_resumes(qtbot, tmp_path, tiny_server, stop):
    from mgie_desktop.engine.inventory import check_installed

    tiny_server.add_fault(STALLED, Fault("stall", after=STALL_AT), *[Fault("stall")] * 100)
    dialog = open_dialog(qtbot, tmp_path, tiny_server, policy=PATIENT)
    accept(dialog)
    installed = []
    dialog.installed.connect(lambda: installed.append(True))
    dialog.download_button.click()
    part = wait_for_part(qtbot, dialog)
    getattr(dialog, f"{stop}_button").click()
    idle(qtbot, dialog)

    final = dialog.models_dir / "sources" / STALLED
    assert not final.exists() and part.stat().st_size == STALL_AT
    assert dialog.file_states()[f"sources/{STALLED}"] == "partial"
    assert dialog.file_states()["sources/mgie_7b/mllm.pt"] == "installed"  # finished before the stop
    assert not installed and dialog.last_error == ""
    assert dialog.download_button.text() == "Resume" and dialog.download_button.isEnabled()
    assert ("Paused" if stop == "pause" else "cancelled") in dialog.overall_label.text()

    with tiny_server.lock:
        tiny_server.faults.clear()
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        dialog.download_button.click()
    check_installed(dialog.models_dir)
    assert tiny_server.hits(STALLED)[-1].range == f"bytes={STALL_AT}-"
    assert final.read_bytes() == tiny_server.files[STALLED] and not part.exists()


def test_hash_mismatch_is_shown_and_does_not_install(qtbot, tmp_path):
    files = {"a.bin": blob(3000, 1), "b.bin": blob(2000, 2)}
    with FaultServer(files) as srv:
        srv.add_fault("b.bin", Fault("wrong"))
        dialog = open_dialog(qtbot, tmp_path, srv)
        accept(dialog)
        with qtbot.assertNotEmitted(dialog.installed, wait=100):
            dialog.download_button.click()
            idle(qtbot, dialog)
    assert "sources/b.bin: sha256" in dialog.last_error and "does not match" in dialog.last_error
    assert dialog.error_label.isVisible() and "sources/b.bin: sha256" in dialog.error_label.text()
    assert "sources/b.bin: sha256" in dialog.log_view.toPlainText()
    assert dialog.file_states() == {"sources/a.bin": "installed", "sources/b.bin": "missing"}
    assert not (dialog.models_dir / "sources" / "b.bin").exists()
    assert not (dialog.models_dir / "bundle").exists()  # no conversion after a failed download
    assert dialog.download_button.isEnabled()  # try again


def test_closing_during_a_download_cancels_and_joins_the_worker(qtbot, tmp_path):
    files = {"big.bin": blob(200_000, 3)}
    with FaultServer(files) as srv:
        srv.add_fault("big.bin", Fault("stall", after=STALL_AT), *[Fault("stall")] * 100)
        dialog = open_dialog(qtbot, tmp_path, srv, policy=PATIENT)
        accept(dialog)
        dialog.download_button.click()
        part = wait_for_part(qtbot, dialog, "big.bin")
        assert dialog.busy and dialog.worker_thread.isRunning()
        dialog.close()
        assert not dialog.isVisible()
        assert dialog.worker_thread.isFinished() and not dialog.worker_thread.isRunning()
    assert not (dialog.models_dir / "sources" / "big.bin").exists() and part.stat().st_size == STALL_AT
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)  # the cancelled outcome still arrives


def test_closing_during_the_conversion_waits_for_it(qtbot, tmp_path, monkeypatch):
    from mgie_desktop.store import install

    started, release = threading.Event(), threading.Event()

    def slow_convert(dest, log=lambda msg: None, **options):  # the converter cannot be interrupted
        started.set()
        release.wait(TIMEOUT / 1000)
        return {"files": {}}

    monkeypatch.setattr(install, "convert_sources", slow_convert)
    with FaultServer({"a.bin": blob(1000, 4)}) as srv:
        dialog = open_dialog(qtbot, tmp_path, srv)
        accept(dialog)
        dialog.download_button.click()
        qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
        qtbot.waitUntil(lambda: not dialog.cancel_button.isEnabled(), timeout=TIMEOUT)
        assert not dialog.pause_button.isEnabled()
        dialog.close()
        assert dialog.isVisible() and dialog.busy  # stays open, says why
        assert "cannot be interrupted" in dialog.log_view.toPlainText()
        with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
            release.set()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT)
        assert not dialog.worker_thread.isRunning()


def test_a_bad_manifest_is_shown_not_raised(qtbot, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "models": [{"id": "x"}]}', encoding="utf-8")
    dialog = ModelManagerDialog(tmp_path / "models", bad)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.last_error.startswith("Malformed manifest") and dialog.error_label.isVisible()
    assert not dialog.download_button.isEnabled() and not dialog.busy


def test_the_dialog_module_does_not_import_torch():
    code = (
        "import sys, mgie_desktop.ui.model_manager; "
        "bad = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_optional_comparison_model_is_fetched_only_when_ticked_and_added_to_the_bundle(
    qtbot, tmp_path, tiny_server
):
    from mgie_desktop.engine.inventory import read_inventory

    names = sorted(tiny_server.files)
    plain = [
        n
        for n in names
        if n.startswith(("instruct-pix2pix/text_encoder/", "instruct-pix2pix/tokenizer/"))
        or n.startswith("instruct-pix2pix/unet/diffusion_pytorch_model")
    ]
    data = manifest_dict(tiny_server, [n for n in names if n not in plain])
    optional = manifest_dict(tiny_server, plain)["models"][0]
    data["models"].append({**optional, "id": "ip2p", "name": "InstructPix2Pix's own model", "optional": True})
    dialog = ModelManagerDialog(
        tmp_path / "models", write_manifest(tmp_path / "manifest.json", data), policy=FAST, reserve_bytes=0
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.snapshot is not None and not dialog.busy, timeout=TIMEOUT)
    assert dialog.plain_box.isVisible() and not dialog.plain_box.isChecked()
    assert dialog.tree.topLevelItemCount() == 1  # the optional model is not part of the download
    accept(dialog)
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        dialog.download_button.click()
    idle(qtbot, dialog)
    assert not read_inventory(dialog.models_dir)["model"]["plain_ip2p"]
    assert not any(tiny_server.hits(n) for n in plain)
    dialog.free_button.click()
    idle(qtbot, dialog)
    assert dialog.download_button.text() == "Installed" and not dialog.download_button.isEnabled()

    dialog.include_plain()  # what the window's Compare asks for
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 2 and not dialog.busy, timeout=TIMEOUT)
    assert dialog.snapshot.lacks_optional and dialog.download_button.isEnabled()
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        dialog.download_button.click()
    idle(qtbot, dialog)
    assert read_inventory(dialog.models_dir)["model"]["plain_ip2p"] and not dialog.snapshot.lacks_optional
    assert all(tiny_server.hits(n) for n in plain)
