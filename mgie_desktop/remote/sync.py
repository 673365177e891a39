"""A server's engine behind the calls ``mgie-desktop edit`` makes of a local one (``edit``,
``render_plain`` and ``render_klein``), so the CLI runs one chain of edits either way and writes
the same file."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from mgie_desktop.core.errors import EditCancelled
from mgie_desktop.core.jobs import EditJob, EditResult
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.sizing import working_size
from mgie_desktop.remote.client import RemoteClient, RemoteError
from mgie_desktop.remote.protocol import Connection, Event, Queued, Resubmitting, Submitted

READY_POLL_S = 0.5


@dataclass(frozen=True)
class RemoteInstruction:
    text: str
    steered: bool
    emitted_image_tokens: bool


@dataclass(frozen=True)
class RemoteOutcome:
    """The parts of engine.pipeline.EditOutcome the CLI reads."""

    image: object
    instruction: RemoteInstruction
    working_size: tuple[int, int]
    timings: dict


class RemoteEngine:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        ca_file: Path | None = None,
        wait_s: float = 600.0,
        say=lambda text: print(text, file=sys.stderr),
    ):
        self._loop = asyncio.new_event_loop()
        self.client = host = RemoteClient(url, token, ca_file)

        def loading(load: dict) -> None:
            say(f"waiting for the engine at {host.host} to load its models ({load['part'] or '…'})")

        self.info = info = self._run(self.client.ready(loading, READY_POLL_S, wait_s))
        # Its connection opens again with the first edit: a command that stops before one (the
        # server lacks an engine it asks for) leaves no session open behind its one line.
        self._loop.run_until_complete(self.client.close())
        self.device, self.dtype, self.load_seconds = info["device"], info["dtype"], 0.0

    def edit(
        self,
        image,
        instruction: str,
        params,
        finish: str = "detail",
        expressive: str | None = None,
        mask=None,
    ) -> RemoteOutcome:
        result = self.run(
            EditJob(
                0, 0, 0, image, instruction, params, expressive=expressive or "", mask=mask, finish=finish
            )
        )
        text = RemoteInstruction(result.expressive_instruction, result.steered, result.emitted_image_tokens)
        timings = {k: result.timings[k] for k in ("instruct_s", "render_s")}
        return RemoteOutcome(
            result.images[0], text, working_size(image.width, image.height, params.pixel_budget), timings
        )

    def render_plain(self, image, instruction: str, params, finish: str = "detail", mask=None):
        return self.run(
            EditJob(0, 0, 0, image, instruction, params, mask=mask, model="ip2p", finish=finish)
        ).images[0]

    def render_klein(
        self,
        image,
        instruction: str,
        params,
        seeds: list[int],
        progress=None,
        cancel=None,
        finish: str = "detail",
        mask=None,
    ) -> tuple[list, EditParams]:
        """FLUX.2 [klein] on the server, one edit per seed, and the settings the server rendered
        with (the distilled model's own steps), as ``MgieEngine.render_klein`` answers.
        ``progress`` and ``cancel`` are the local engine's: here Ctrl+C cancels on the server."""
        images, used = [], None
        for seed in seeds:
            one = replace(params, seed=seed)
            job = EditJob(0, 0, 0, image, instruction, one, mask=mask, model="klein", finish=finish)
            result = self.run(job)
            images += result.images
            used = used or replace(result.params[0], seed=params.seed)
        assert used is not None, "at least one seed"
        return images, used

    def memory_report(self) -> dict:
        return self.info.get("memory", {})

    def close(self) -> None:
        self._loop.run_until_complete(self.client.close())
        self._loop.close()

    def run(self, job: EditJob) -> EditResult:
        """The job on the server as it is (variations, a sweep and all); Ctrl+C cancels it there."""
        sent: list[str] = []

        def heard(event: Event) -> None:
            say = self._say(event)
            if isinstance(event, Submitted):
                sent.append(event.job)  # the latest is the one to cancel
            if say:
                print(say, file=sys.stderr)

        try:
            return self._run(self.client.run(job, heard))
        except KeyboardInterrupt:  # Ctrl+C: the server stops the edit too, then we go
            if sent:
                try:
                    self._run(asyncio.wait_for(self.client.cancel(sent[-1]), 5))
                except (RemoteError, asyncio.TimeoutError, KeyboardInterrupt):
                    pass
            raise EditCancelled("the edit was cancelled") from None

    def _say(self, event: Event) -> str:
        """The line ``event`` is worth on stderr ("" for none)."""
        host = self.client.host
        if isinstance(event, Queued | Submitted) and event.position:
            return f"queued on {host}: {event.position} edit(s) ahead"
        if isinstance(event, Submitted) and event.again:
            return f"sent the edit to {host} again"
        if isinstance(event, Connection):
            return f"connection to {host} {'lost; retrying' if event.lost else 'back'}"
        if isinstance(event, Resubmitting):
            return f"the engine at {host} lost the edit (it stopped or restarted); sending it again once it is back"
        return ""

    def _run(self, coroutine):
        try:
            return self._loop.run_until_complete(coroutine)
        except BaseException:  # the command ends with this error: leave no connection open behind it
            self._loop.run_until_complete(self.client.close())
            raise
