"""The window on a remote engine: the same edits, history and cancel as with the local one, a
status bar naming the server and its GPU, and a dropped connection that is survived."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel
from test_remote import Restartable
from test_ui import _no_question

from mgie_desktop.remote.security import client_token_file, save_client_token, saved_client_token
from mgie_desktop.ui.main_window import MainWindow
from mgie_desktop.ui.remote_engine import RemoteEngine

TIMEOUT = 60_000


@pytest.fixture(autouse=True)
def _leave_asyncio_as_found():
    """qasync marks Qt's loop as asyncio's running loop on this thread; other tests use asyncio.run."""
    yield
    asyncio.events._set_running_loop(None)


def remote_window(qtbot, tmp_path, url: str, token: str) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("engine/kind", "remote")
    settings.setValue("engine/address", url)
    save_client_token(token)
    window = MainWindow(
        tmp_path / "no-models-here", "cpu", settings=settings, autosave_folder=tmp_path / "autosave"
    )
    qtbot.addWidget(window, before_close_func=_no_question)
    window.show()
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=TIMEOUT)
    window.panel.preset.setCurrentText("draft")  # small renders in window tests (conftest)
    window.panel.steps.setValue(3)
    return window


def open_photo(qtbot, window, path):
    window.open_path(path)
    qtbot.waitUntil(lambda: window.document.history is not None, timeout=TIMEOUT)


def edit(qtbot, window, text: str) -> None:
    before = len(window.document.history)
    window.panel.instruction.setPlainText(text)
    window.edits.apply_edit()
    qtbot.waitUntil(
        lambda: len(window.document.history) == before + 1 and window.document.running is None,
        timeout=TIMEOUT,
    )


def test_edits_on_a_server_chain_undo_and_name_the_server(qtbot, tmp_path, server, photo_path):
    window = remote_window(qtbot, tmp_path, server.url, server.token)
    assert isinstance(window.edits.engine, RemoteEngine)
    host = server.url.removeprefix("http://")
    assert host in window.model_label.text() and "CPU (" in window.model_label.text()
    # The server's models, not this computer's (which has none), decide what can be compared and recorded.
    assert window.edits.engine.has_plain_ip2p(window.models_dir)
    assert window.edits.engine.models_identity(window.models_dir)["bundle"]
    open_photo(qtbot, window, photo_path)
    edit(qtbot, window, "make the sky a sunset")
    first = window.document.history.current
    assert first.expressive_instruction and window.panel.expressive.text() == first.expressive_instruction
    edit(qtbot, window, "more contrast")  # chains: starts from the first edit's result
    assert window.document.history.current.parent == first.id
    window.document.undo()
    assert window.document.history.current.id == first.id
    window.panel.variation_count.setValue(2)
    window.panel.instruction.setPlainText("make it warmer")
    window.panel.variations_button.click()  # two seeds in one job on the server, picked here
    qtbot.waitUntil(
        lambda: window.edits.variations_picker is not None and window.edits.variations_picker.isVisible(),
        timeout=TIMEOUT,
    )
    window.edits.variations_picker.keep_button.click()
    assert (
        window.document.history.current.parent == first.id
        and window.document.history.current.instruction == "make it warmer"
    )


def test_cancel_on_a_server_changes_nothing(qtbot, tmp_path, server, photo_path):
    window = remote_window(qtbot, tmp_path, server.url, server.token)
    open_photo(qtbot, window, photo_path)
    window.panel.steps.setValue(400)
    window.panel.instruction.setPlainText("slow edit")
    window.edits.apply_edit()
    qtbot.waitUntil(lambda: window.panel.progress.value() >= 1, timeout=TIMEOUT)
    window.edits.cancel_edit()
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)
    assert len(window.document.history) == 1 and "cancelled" in window.statusBar().currentMessage()


class Proxy:
    """A TCP relay in front of the server whose connections can be cut, and refused for a while."""

    def __init__(self, port: int):
        self.target, self.refusing, self.pairs = port, threading.Event(), []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.refusing.set()
        for pair in self.pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.pairs.clear()

    def close(self) -> None:
        self.listener.close()


def test_a_dropped_connection_mid_edit_is_said_retried_and_the_edit_lands(
    qtbot, tmp_path, server, photo_path
):
    port = int(server.url.rsplit(":", 1)[1])
    proxy = Proxy(port)
    try:
        window = remote_window(qtbot, tmp_path, f"http://127.0.0.1:{proxy.port}", server.token)
        open_photo(qtbot, window, photo_path)
        messages = []
        window.statusBar().messageChanged.connect(messages.append)
        window.panel.steps.setValue(20)
        window.panel.instruction.setPlainText("make it warmer")
        window.edits.apply_edit()
        qtbot.waitUntil(lambda: window.panel.progress.value() >= 1, timeout=TIMEOUT)
        proxy.cut()  # the network goes away mid-edit...
        qtbot.waitUntil(lambda: any("Lost the connection" in m for m in messages), timeout=TIMEOUT)
        assert window.document.history is not None and len(window.document.history) == 1  # the document stays
        proxy.refusing.clear()  # ...and comes back
        qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)
        assert any("again" in m for m in messages)
        assert window.document.history.current.instruction == "make it warmer"
    finally:
        proxy.close()


@pytest.fixture
def restartable(tiny_models, tmp_path):
    running = Restartable(tiny_models, tmp_path / "token")
    yield running
    running.close()


def start_slow_edit(qtbot, window, photo_path, text: str) -> list[str]:
    """An edit running on the server (its first step done); the status bar's messages from then."""
    open_photo(qtbot, window, photo_path)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    window.panel.steps.setValue(20)
    window.panel.instruction.setPlainText(text)
    window.edits.apply_edit()
    qtbot.waitUntil(lambda: window.panel.progress.value() >= 1, timeout=TIMEOUT)
    return messages


def test_a_server_restarted_mid_edit_gets_the_edit_again_and_it_lands_once(
    qtbot, tmp_path, restartable, photo_path
):
    window = remote_window(qtbot, tmp_path, restartable.url, restartable.token)
    messages = start_slow_edit(qtbot, window, photo_path, "make it warmer")
    restartable.restart()  # the running edit goes with the old server
    qtbot.waitUntil(lambda: len(window.document.history) == 2, timeout=TIMEOUT)
    assert window.document.history.current.instruction == "make it warmer"
    assert any("lost the edit" in m for m in messages) and any("again" in m for m in messages)
    qtbot.wait(500)
    assert len(window.document.history) == 2 and window.document.running is None  # landed once
    assert restartable.info()["accepted"] == 1  # and the new server ran it once


def test_a_server_gone_for_good_mid_edit_fails_in_one_line_keeping_the_instruction(
    qtbot, tmp_path, restartable, photo_path
):
    window = remote_window(qtbot, tmp_path, restartable.url, restartable.token)
    window.edits.engine.client.retry_delays = (0.2, 0.2, 0.2)  # not a minute of trying, in a test
    start_slow_edit(qtbot, window, photo_path, "make it warmer")
    restartable.stop()
    qtbot.waitUntil(lambda: window.document.running is None, timeout=TIMEOUT)
    assert len(window.document.history) == 1
    assert "did not come back" in window.last_error and "\n" not in window.last_error
    assert window.panel.instruction.toPlainText() == "make it warmer"  # kept, to send again


def test_esc_while_the_server_is_away_ends_the_edit_at_once(qtbot, tmp_path, restartable, photo_path):
    window = remote_window(qtbot, tmp_path, restartable.url, restartable.token)
    window.edits.engine.client.retry_delays = (60.0,) * 3  # it would wait minutes for the server
    messages = start_slow_edit(qtbot, window, photo_path, "make it warmer")
    restartable.stop()
    qtbot.waitUntil(lambda: any("lost" in m.lower() for m in messages), timeout=TIMEOUT)
    window.edits.cancel_edit()
    qtbot.waitUntil(lambda: window.document.running is None, timeout=10_000)
    assert len(window.document.history) == 1 and "cancelled" in window.statusBar().currentMessage()


def test_the_engine_dialog_switches_and_keeps_the_token_private(qtbot, tmp_path, server, tiny_models):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(tiny_models, "cpu", settings=settings, autosave_folder=tmp_path / "autosave")
    qtbot.addWidget(window, before_close_func=_no_question)
    window.show()
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=TIMEOUT)
    assert window.edits.engine is window.edits.local
    from mgie_desktop.ui.engine_settings import EngineDialog

    dialog = EngineDialog(False, "", "", window)
    dialog.remote_button.setChecked(True)
    dialog.address.setText("workstation:8765")  # no scheme: refused in the dialog, which stays open
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted and "Not a server address" in dialog.problem.text()
    window.engine_settings.apply(True, server.url, server.token)
    qtbot.waitUntil(
        lambda: window.model_state == "ready" and "remote" in window.model_label.text(), timeout=TIMEOUT
    )
    assert settings.value("engine/kind") == "remote" and settings.value("engine/address") == server.url
    assert server.token not in (tmp_path / "settings.ini").read_text()  # the token is not in the settings
    assert saved_client_token() == server.token and os.stat(client_token_file()).st_mode & 0o077 == 0
    window.engine_settings.apply(False)  # back to this computer: it loads its own models again
    qtbot.waitUntil(
        lambda: window.model_state == "ready" and "remote" not in window.model_label.text(), timeout=TIMEOUT
    )
    assert window.edits.engine is window.edits.local


def test_the_window_finds_this_computers_own_server_token_by_itself(qtbot, tmp_path, tiny_models, photo_path):
    from mgie_desktop.remote.serve import spawn_server
    from mgie_desktop.ui.engine_settings import EngineDialog

    process, url, _token = spawn_server(tiny_models, None)  # the token made in the config folder
    try:
        window = remote_window(qtbot, tmp_path, url, "")  # none pasted into the dialog
        assert isinstance(window.edits.engine, RemoteEngine)
        open_photo(qtbot, window, photo_path)
        edit(qtbot, window, "make it warmer")
        assert window.document.history.current.instruction == "make it warmer"
        hint = " ".join(label.text() for label in EngineDialog(True, url, "", window).findChildren(QLabel))
        assert "needs one too" in hint and "leave the token empty" in hint
    finally:
        process.terminate()
        process.communicate(timeout=30)
