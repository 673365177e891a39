"""FLUX.2 [klein] in the window on a remote engine (issue 29): the engines offered are those the
server says it has (/info's models.klein), a klein edit renders there and lands as a klein step,
and an A/B pair with klein crosses the wire. A real ``mgie-desktop serve`` on 127.0.0.1."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from conftest import Server
from PySide6.QtCore import Qt
from test_ui_remote import open_photo, remote_window

from mgie_desktop.core.params import PRESETS
from mgie_desktop.core.step_params import KLEIN_STEPS, StepKind
from mgie_desktop.ui.ab_compare import ABCompare
from mgie_desktop.ui.remote_engine import RemoteEngine

TIMEOUT = 120_000


@pytest.fixture(autouse=True)
def _leave_asyncio_as_found():
    """qasync marks Qt's loop as asyncio's running loop on this thread; other tests use asyncio.run."""
    yield
    asyncio.events._set_running_loop(None)


@pytest.fixture(autouse=True)
def _smaller_draft_renders(monkeypatch):
    monkeypatch.setitem(PRESETS, "draft", replace(PRESETS["draft"], pixel_budget=64 * 64))


@pytest.fixture(scope="module")
def klein_server(klein_models, tmp_path_factory):
    running = Server(klein_models, tmp_path_factory.mktemp("klein-server") / "token")
    yield running
    running.stop()


def test_a_server_with_klein_offers_it_and_renders_klein_steps(qtbot, tmp_path, klein_server, photo_path):
    window = remote_window(qtbot, tmp_path, klein_server.url, klein_server.token)
    assert isinstance(window.edits.engine, RemoteEngine)
    engines = window.panel.engines
    assert engines.offered == ["mgie", "klein", "ip2p"]  # the server's word, not this computer's
    open_photo(qtbot, window, photo_path)
    assert engines.choose("klein")
    window.panel.instruction.setPlainText("add snow")
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        qtbot.mouseClick(window.panel.apply_button, Qt.MouseButton.LeftButton)
    assert sent.args[0].model == "klein"
    history = window.document.history
    qtbot.waitUntil(lambda: len(history) == 2 and window.document.running is None, timeout=TIMEOUT)
    step = history.current
    assert step.kind is StepKind.KLEIN and step.params.render.steps == KLEIN_STEPS
    assert window.panel.expressive.note.isVisible()

    window.document.go_to(0)
    engines.choose("mgie")
    engines.choose_versus("klein")
    window.panel.instruction.setPlainText("add rain")
    with qtbot.waitSignal(window.edits.submit_job, timeout=TIMEOUT) as sent:
        qtbot.mouseClick(window.panel.compare_button, Qt.MouseButton.LeftButton)
    assert (sent.args[0].model, sent.args[0].versus) == ("mgie", "klein")
    qtbot.waitUntil(lambda: isinstance(window.edits.variations_picker, ABCompare), timeout=TIMEOUT)
    assert window.edits.variations_picker.view.names == ("MGIE", "FLUX.2 [klein]")
    window.edits.variations_picker.reject()
