"""No network: a download notices in seconds that its servers cannot be reached, stops the whole
run with one message saying what to do, and cancels at once. The model manager offers the
ways to install without a network (Import from folder…) and to keep the models elsewhere."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from http_fault_server import FAST, write_manifest
from PySide6.QtWidgets import QApplication

from mgie_desktop.core.errors import EditCancelled
from mgie_desktop.store import http, reach
from mgie_desktop.store.download import Downloader
from mgie_desktop.store.errors import DownloadError, ServerUnreachable
from mgie_desktop.store.manifest import Manifest
from mgie_desktop.ui.model_manager import ModelManagerDialog

TIMEOUT = 60_000
FILES = [f"sources/m/part-{i}.bin" for i in range(17)]  # as many files as the real set


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifest_at(base: str, sizes: bool = True) -> dict:
    files = [
        {"path": rel, "size": 1000 if sizes else None, "sha256": None, "source": {"url": f"{base}/{i}"}}
        for i, rel in enumerate(FILES)
    ]
    return {
        "schema": 1,
        "models": [
            {"id": "m", "name": "M", "license": {"name": "L", "url": "https://x.invalid"}, "files": files}
        ],
    }


@pytest.fixture
def slow_network(monkeypatch):
    """Every connection attempt hangs (a black-holed route), as long as the test lets it."""
    release = threading.Event()

    def hang(host, port, timeout):
        release.wait(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(reach, "connect", hang)
    yield
    release.set()


def test_an_unreachable_server_stops_the_whole_run_at_once_with_one_message(tmp_path, monkeypatch):
    base = f"http://127.0.0.1:{closed_port()}"
    fetched = []
    monkeypatch.setattr(http, "fetch_url", lambda *a, **k: fetched.append(a))
    started = time.monotonic()
    with pytest.raises(ServerUnreachable) as caught:
        Downloader(
            Manifest.from_dict(manifest_at(base)), tmp_path / "models", policy=FAST, reserve_bytes=0
        ).run()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert f"cannot reach 127.0.0.1:{base.rsplit(':', 1)[1]}" in message
    assert "Download again" in message and "resumes" in message and "Import from folder" in message
    assert fetched == []  # no file was tried, so none waited out its own retries
    assert not list((tmp_path / "models").rglob("*.part"))


def test_planning_does_not_ask_unreachable_servers_for_sizes(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(http, "probe_size", lambda url, timeout: asked.append(url))
    base = f"http://127.0.0.1:{closed_port()}"
    plan = Downloader(
        Manifest.from_dict(manifest_at(base, sizes=False)), tmp_path / "m", reserve_bytes=0
    ).plan()
    assert asked == [] and plan.unknown_sizes == len(FILES)


def test_the_network_going_away_mid_run_stops_the_run(tmp_path, monkeypatch):
    up = iter([True, False])  # reachable at the start, gone after the first failure
    attempts = []

    def connect(host, port, timeout):
        if not next(up, False):
            raise OSError("network is unreachable")

    def fail(url, part, **kwargs):
        attempts.append(url)
        raise DownloadError("connection reset")

    monkeypatch.setattr(reach, "connect", connect)
    monkeypatch.setattr(http, "fetch_url", fail)
    with pytest.raises(ServerUnreachable):
        Downloader(
            Manifest.from_dict(manifest_at("http://models.example")), tmp_path / "m", reserve_bytes=0
        ).run()
    assert len(attempts) == 1


def test_cancel_while_the_servers_are_asked_is_immediate(tmp_path, slow_network):
    cancel = threading.Event()
    loader = Downloader(
        Manifest.from_dict(manifest_at("http://models.example")),
        tmp_path / "m",
        cancel=cancel,
        reserve_bytes=0,
        reach_timeout=60,
    )
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_run(loader)))
    worker.start()
    time.sleep(0.3)
    cancel.set()
    stopped = time.monotonic()
    worker.join(10)
    assert time.monotonic() - stopped < 1.0
    assert isinstance(outcome[0], EditCancelled)


def _run(loader):
    try:
        loader.run()
    except Exception as exc:  # noqa: BLE001 (returned to the test)
        return exc
    return None


def test_reaching_through_a_proxy_asks_the_proxy(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    assert reach.server_name("https://huggingface.co/x") == "proxy.internal:3128"
    monkeypatch.delenv("https_proxy")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    assert reach.server_name("https://huggingface.co/x") == "huggingface.co:443"


# ---- the dialog ---------------------------------------------------------------------------------
def open_dialog(qtbot, tmp_path, manifest):
    dialog = ModelManagerDialog(tmp_path / "models", manifest, policy=FAST, reserve_bytes=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.snapshot is not None and not dialog.busy, timeout=TIMEOUT)
    for box in dialog.license_boxes:
        box.setChecked(True)
    return dialog


def test_the_dialog_says_once_that_the_hub_cannot_be_reached(qtbot, tmp_path):
    manifest = write_manifest(tmp_path / "manifest.json", manifest_at(f"http://127.0.0.1:{closed_port()}"))
    dialog = open_dialog(qtbot, tmp_path, manifest)
    started = time.monotonic()
    dialog.download_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert time.monotonic() - started < 15
    assert dialog.last_error.startswith("Cannot reach") and "Import from folder" in dialog.last_error
    log = dialog.log_view.toPlainText()
    assert log.lower().count("cannot reach") == 1 and "failed:" not in log  # one message, not one per file


def test_the_dialog_cancels_at_once(qtbot, tmp_path, slow_network):
    manifest = write_manifest(tmp_path / "manifest.json", manifest_at("http://models.example"))
    dialog = open_dialog(qtbot, tmp_path, manifest)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.busy, timeout=TIMEOUT)
    time.sleep(0.3)
    QApplication.processEvents()
    dialog.cancel_button.click()
    stopped = time.monotonic()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert time.monotonic() - stopped < 1.5
    assert "cancelled" in dialog.overall_label.text()


def test_the_shipped_manifest_gives_one_total_size(qtbot, tmp_path):
    dialog = ModelManagerDialog(tmp_path / "models", None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.snapshot is not None and not dialog.busy, timeout=TIMEOUT)
    assert "of about 17.8 GB in all" in dialog.summary_label.text() and "?" not in dialog.summary_label.text()


def test_import_from_folder_installs_without_a_network(qtbot, tmp_path):
    from mgie_desktop.engine.tiny import write_tiny_reference

    source = write_tiny_reference(tmp_path / "from-a-usb-stick")
    manifest = write_manifest(tmp_path / "manifest.json", manifest_at("http://models.example"))
    dialog = open_dialog(qtbot, tmp_path, manifest)
    with qtbot.waitSignal(dialog.installed, timeout=TIMEOUT):
        assert dialog.import_from(source)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert dialog.snapshot.bundle_installed and (tmp_path / "models" / "bundle").is_dir()


def test_choosing_another_models_folder(qtbot, tmp_path):
    manifest = write_manifest(tmp_path / "manifest.json", manifest_at("http://models.example"))
    dialog = open_dialog(qtbot, tmp_path, manifest)
    elsewhere = tmp_path / "big-disk" / "mgie"
    with qtbot.waitSignal(dialog.models_dir_chosen, timeout=TIMEOUT) as chosen:
        dialog.use_models_dir(elsewhere)
    assert chosen.args == [elsewhere] and str(elsewhere) in dialog.where_label.text()
    qtbot.waitUntil(lambda: dialog.snapshot is not None and not dialog.busy, timeout=TIMEOUT)
    assert dialog.worker.dest == elsewhere
