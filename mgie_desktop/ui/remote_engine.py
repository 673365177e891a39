"""The engine on another computer (``mgie-desktop serve``), driven by the asyncio client on
Qt's own event loop through qasync: no thread of its own, and the GUI never waits on the network.
It answers with the same signals as the local engine, so the window cannot tell them apart,
except that the status bar names the server and its GPU."""

from __future__ import annotations

import asyncio
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import qasync  # this module loads only when a remote engine is first chosen, never at start-up
from PySide6.QtWidgets import QApplication

from mgie_desktop.core.display_text import sentence
from mgie_desktop.core.errors import EditCancelled, MgieError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.remote.client import RemoteClient
from mgie_desktop.remote.protocol import (
    Connection,
    Event,
    Preview,
    Progress,
    Queued,
    Resubmitting,
    Started,
    Submitted,
)
from mgie_desktop.ui.engine_state import EngineState
from mgie_desktop.ui.engines import EngineClient
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.worker import edit_done, gpu_memory_text

READY_POLL_S = 1.0
_loop: asyncio.AbstractEventLoop | None = None


def qt_event_loop() -> asyncio.AbstractEventLoop:
    """asyncio on Qt's running event loop (made once, when a remote engine is first used)."""
    global _loop
    if _loop is None:
        _loop = qasync.QEventLoop(QApplication.instance(), already_running=True)
        # Plain threads for PNG work: qasync's default executor makes QThreads, which Qt would
        # find still alive at exit.
        _loop.set_default_executor(ThreadPoolExecutor(2, thread_name_prefix="mgie-remote"))
        asyncio.set_event_loop(_loop)
    if asyncio.events._get_running_loop() is None:
        # Qt's loop runs all along; asyncio must see it as running (qasync does this once, at
        # creation; a test harness may have reset it since).
        asyncio.events._set_running_loop(_loop)
    return _loop


class RemoteEngine(EngineClient):
    def __init__(self, url: str, token: str | None, parent=None):
        super().__init__(parent)
        self.client = RemoteClient(url, token)
        self.where = self.client.host
        self.gpu = ""
        self.info: dict = {}
        self._tasks: set[asyncio.Task] = set()
        self._job_key: str | None = None  # the running edit's id on the server, once sent
        self._cancel_asked = False
        self._edit_task: asyncio.Task | None = None
        self._sent_once = False  # the running edit reached the server at least once
        self._released = False
        self._loading = None

    def _spawn(self, coroutine) -> asyncio.Task:
        task = qt_event_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- models ----------------------------------------------------------------------------
    def load(self, models_dir: Path) -> None:
        if self._loading is None or self._loading.done():
            self._loading = self._spawn(self._connect())

    def has_plain_ip2p(self, models_dir: Path) -> bool:
        return bool(self.info.get("models", {}).get("plain_ip2p", True))  # unknown yet: the server says

    def has_klein(self, models_dir: Path) -> bool:
        # Not said (not connected yet, or a server older than FLUX.2 [klein]): not offered.
        return bool(self.info.get("models", {}).get("klein", False))

    def models_identity(self, models_dir: Path) -> dict:
        return dict(self.info.get("models", {}).get("identity") or {})

    def cancel_load(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            self.state_changed.emit(EngineState.CANCELLED, f"stopped waiting for {self.where}")

    async def _connect(self) -> None:
        self.state_changed.emit(EngineState.LOADING, f"the engine at {self.where}")

        def loading(load: dict) -> None:  # the server is loading its models: show how far
            self.load_progress.emit(
                f"{load['part'] or 'the models'} (on {self.where})", load["done"], load["total"]
            )

        try:
            info = await self.client.ready(loading, READY_POLL_S)
        except MgieError as exc:
            self.state_changed.emit(EngineState.ERROR, str(exc))
            return
        self.gpu, self.info = info["gpu"], info
        self._report_memory(info)
        self.state_changed.emit(EngineState.READY, self._ready_detail())

    def _ready_detail(self) -> str:
        return f"remote {self.where} · {self.gpu}"

    def _report_memory(self, info: dict) -> None:
        text = gpu_memory_text(info.get("memory", {}))  # "": a CPU server, which the model label names
        self.memory_report.emit(f"{self.where}: {text}" if text else "")

    # ---- edits -----------------------------------------------------------------------------
    def submit(self, job: EditJob) -> None:
        self._job_key, self._cancel_asked = None, False
        self.state_changed.emit(EngineState.BUSY, job.instruction)
        self._edit_task = self._spawn(self._edit(job))

    def cancel(self) -> None:
        self._cancel_asked = True
        if self._job_key is not None:
            self._spawn(self._cancel(self._job_key))
        elif self._lost:
            self._stop_here()

    @property
    def _lost(self) -> bool:
        """The server lost the edit and is waited for, to send it again: nothing there to cancel."""
        return (
            self._edit_task is not None
            and not self._edit_task.done()
            and self._job_key is None
            and self._sent_once
        )

    async def _cancel(self, key: str) -> None:
        try:
            await self.client.cancel(key)
        except MgieError:  # unreachable, or it no longer has the edit: Esc ends it here all the same
            self._stop_here()

    def _stop_here(self) -> None:
        """End the edit on this side: the server, if it still has it, gives it up unwatched."""
        if self._edit_task is not None and not self._edit_task.done():
            self._edit_task.cancel()

    async def _edit(self, job: EditJob) -> None:
        self._sent_once = False

        def heard(event: Event) -> None:
            if isinstance(event, Submitted):
                self._job_key, self._sent_once = event.job, True
                if self._cancel_asked:  # Esc came before the server had the edit
                    self._spawn(self._cancel(self._job_key))
            elif isinstance(event, Resubmitting):
                self._job_key = None  # gone with the server: a cancel now waits for the new one
            elif isinstance(event, Progress):
                self.progress.emit(job.job_id, event.step, event.total, event.seconds_left)
            elif isinstance(event, Preview):
                self.preview.emit(job.job_id, to_qimage(event.image()))
            if (notice := self._notice(event)) is not None:
                self.notice.emit(notice)

        outcome: tuple
        try:
            result = await self.client.run(job, heard)
            # Display copies off the GUI thread, as the local engine makes them off it too.
            done = await asyncio.get_running_loop().run_in_executor(None, edit_done, job, result)
            outcome = (self.edit_finished, done)
        except EditCancelled:
            outcome = (self.edit_cancelled, job.job_id)
        except MgieError as exc:
            outcome = (self.edit_failed, job.job_id, sentence(str(exc)), "")
        except asyncio.CancelledError:
            if self._released or not self._cancel_asked:
                raise
            outcome = (self.edit_cancelled, job.job_id)  # Esc, with the server away: ended here
        except Exception as exc:  # the window stays up and says why
            outcome = (self.edit_failed, job.job_id, f"The remote edit failed: {exc}", traceback.format_exc())
        self._job_key = None
        self.notice.emit("")
        self.state_changed.emit(EngineState.READY, self._ready_detail())
        signal, *args = outcome
        signal.emit(*args)

    def _notice(self, event: Event) -> str | None:
        """What the status bar says of ``event``: a passing word, "" to clear it, None to leave it."""
        if isinstance(event, Queued | Submitted) and event.position:
            return f"Waiting on {self.where}: {event.position} edit(s) ahead"
        if isinstance(event, Submitted) and event.again:
            return f"Sent the edit to {self.where} again"
        if isinstance(event, Started):
            return ""
        if isinstance(event, Connection):
            return (
                f"Lost the connection to {self.where}; retrying…"
                if event.lost
                else f"Connected to {self.where} again"
            )
        if isinstance(event, Resubmitting):
            return f"The engine at {self.where} lost the edit (it stopped or restarted); sending it again once it is back…"
        return None

    def release(self) -> None:
        """Another engine takes over, or the window closes: the server stops our edit, and no
        task of ours answers any more (this object goes)."""
        self._released = True
        for task in list(self._tasks):
            task.cancel()
        if self._job_key is not None:
            key, client = self._job_key, self.client

            async def cancel_and_close():
                try:
                    await client.cancel(key)
                except MgieError:
                    pass
                await client.close()

            self._spawn(cancel_and_close())
        else:
            self._spawn(self.client.close())
