"""The asyncio client of ``mgie-desktop serve``: the window drives it on Qt's loop (qasync),
``edit --remote`` with ``asyncio.run``. A job's events are followed over a WebSocket that is
reopened when the connection drops, so a network blip costs a pause, not the edit. A server
that restarts mid-edit has lost the job: it is sent again once the server is back, under the
same idempotency key, so a server that still holds it never runs it twice. The photo goes up whole (the LLM reads it as a local engine would); the renders come
back at working size and are finished here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from mgie_desktop.core.errors import EditCancelled, InputError, MgieError
from mgie_desktop.core.finishing import finish_renders, klein_source, working_source
from mgie_desktop.core.jobs import EditJob, EditResult
from mgie_desktop.core.session.png import decode_png
from mgie_desktop.remote import protocol
from mgie_desktop.remote.protocol import (
    Cancelled,
    Connection,
    Event,
    Failed,
    Finished,
    Resubmitting,
    ServerEvent,
    Submitted,
)
from mgie_desktop.remote.security import client_tls, local_server_token

RETRY_DELAYS_S = (0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8, 8)  # about a minute of trying before giving up
RESUBMITS = 3  # a job lost by the server (it restarted) is sent again at most this often
RELOAD_WAIT_S = 900.0  # for a restarted server to load its models again before the job is sent


class RemoteError(MgieError):
    """The server could not be reached, refused us, or lost the edit."""


class Unreachable(RemoteError):
    """No answer from the server at all: it is down, restarting, or the network is."""


class JobLost(RemoteError):
    """The server no longer holds the job: it stopped or restarted before the edit finished."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"not a server address: {url!r} (for example http://workstation:8765)")
    return url.rstrip("/")


class RemoteClient:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        ca_file: Path | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
        resubmits: int = RESUBMITS,
        reload_wait_s: float = RELOAD_WAIT_S,
    ):
        self.url = check_url(url)
        self.host = urlsplit(self.url).netloc
        token = token or local_server_token(self.url)  # this computer's own server: its token file
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ssl = client_tls(ca_file)
        self.retry_delays = retry_delays
        self.resubmits, self.reload_wait_s = resubmits, reload_wait_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl else aiohttp.TCPConnector()
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=300),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> RemoteClient:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    # ---- requests ------------------------------------------------------------------------
    async def info(self) -> dict:
        return await self._json("GET", "/info")

    async def ready(
        self,
        on_loading: Callable[[dict], None] | None = None,
        poll_s: float = 1.0,
        wait_s: float | None = None,
    ) -> dict:
        """The server's info once its models are loaded (it loads them once, at start);
        ``on_loading`` hears how far it is meanwhile. RemoteError if it has none, or is still
        loading after ``wait_s``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        info = await self.info()
        while info["state"] == "loading":
            if wait_s is not None and loop.time() - started > wait_s:
                raise RemoteError(f"the engine at {self.host} is still loading its models")
            if on_loading is not None:
                on_loading(info["load"])
            await asyncio.sleep(poll_s)
            info = await self.info()
        if info["state"] != "ready":
            raise RemoteError(f"the engine at {self.host} has no models: {info['detail']}")
        return info

    async def submit(self, job: EditJob, idempotency_key: str | None = None) -> tuple[str, int]:
        """Send the job; its id on the server and how many edits run before it. Sent again
        under the same ``idempotency_key``, a job the server still holds is not queued twice."""
        loop = asyncio.get_running_loop()
        spec, image, mask = await loop.run_in_executor(None, protocol.job_to_wire, job)  # PNG: off the loop
        form = aiohttp.FormData()
        form.add_field("job", json.dumps(spec))
        form.add_field("image", image, filename="image.png", content_type="image/png")
        if mask is not None:
            form.add_field("mask", mask, filename="mask.png", content_type="image/png")
        headers = {protocol.IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        answer = await self._json("POST", "/jobs", data=form, headers=headers)
        return answer["job"], answer["position"]

    async def cancel(self, key: str) -> None:
        await self._json("POST", f"/jobs/{key}/cancel")

    async def forget(self, key: str) -> None:
        await self._json("DELETE", f"/jobs/{key}")

    async def images(self, key: str, count: int) -> list:
        loop = asyncio.get_running_loop()
        found = []
        for index in range(count):
            data = await self._request("GET", f"/jobs/{key}/images/{index}", read=True)
            found.append(
                await loop.run_in_executor(None, decode_png, data, "a result from the server", "RGB", None)
            )
        return found

    async def events(self, key: str) -> AsyncIterator[ServerEvent | Connection]:
        """The job's events until it ends. A dropped connection yields ``Connection(lost=True)``,
        is retried, and yields ``Connection(lost=False)`` once it is back."""
        attempt = 0
        while True:
            try:
                async with self.session.ws_connect(
                    f"{self.url}{protocol.API}/jobs/{key}/events", heartbeat=20
                ) as ws:
                    if attempt:
                        yield Connection(lost=False)
                    attempt = 0
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        event = self._event(message.data)
                        yield event
                        if event.kind in protocol.ENDED:
                            return
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 404:
                    raise JobLost(
                        f"the engine at {self.host} no longer has the edit (was it restarted?)"
                    ) from None
                raise self._refusal(exc.status, f"could not follow the edit ({exc.message})") from None
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass
            if attempt >= len(self.retry_delays):
                raise RemoteError(
                    f"lost the connection to the engine at {self.host}; the photo is unchanged"
                ) from None
            if attempt == 0:
                yield Connection(lost=True)
            await asyncio.sleep(self.retry_delays[attempt])
            attempt += 1

    async def run(self, job: EditJob, on_event: Callable[[Event], None] | None = None) -> EditResult:
        """Send ``job``, follow it to its end and fetch its images. ``on_event`` hears every
        event on the way (queue position, progress, previews, connection lost and back, and
        ``Resubmitting`` when a server that lost the job is waited for to send it again;
        ``Submitted`` then comes again, with the job's new id)."""
        # The server renders; this computer brings the renders to the photo's size (the same
        # code as a local edit), so no full-size result crosses the network.
        sent, idempotency_key = replace(job, finish="none"), secrets.token_urlsafe(16)
        for attempt in range(self.resubmits + 1):
            if attempt:
                _tell(on_event, Resubmitting())
                await self.back()
            key, position = await self.submit(sent, idempotency_key)
            _tell(on_event, Submitted(key, position, again=attempt > 0))
            try:
                result = await self._follow(key, on_event)
            except JobLost as exc:
                lost = exc
                continue
            _settings_of(job, result, self.host)
            loop = asyncio.get_running_loop()
            result.images = await loop.run_in_executor(None, _finish, job, result.images, result.models)
            return result
        raise RemoteError(f"{lost}; sent it {self.resubmits + 1} times, giving up; the photo is unchanged")

    async def back(self) -> dict:
        """The server's info once it answers again and has its models (a restarted server loads
        them anew): RemoteError if it stays away past the retry delays, or comes back without them."""
        for delay in (*self.retry_delays, None):
            try:
                return await self.ready(wait_s=self.reload_wait_s)
            except Unreachable:
                if delay is None:
                    raise RemoteError(
                        f"the engine at {self.host} stopped before the edit finished and did not "
                        "come back; the photo is unchanged"
                    ) from None
                await asyncio.sleep(delay)
            except RemoteError as exc:  # back, but without its models, or still loading them after long
                raise RemoteError(
                    f"{exc}, so the edit it lost could not be sent again; the photo is unchanged"
                ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _follow(self, key: str, on_event) -> EditResult:
        """The job's result once it has finished on the server; JobLost if the server lost it."""
        async with contextlib.aclosing(self.events(key)) as events:  # closed here, not by the GC
            async for event in events:
                if (result := await self._answer(key, event, on_event)) is not None:
                    return result
        raise RemoteError(f"the engine at {self.host} ended the edit without a word")

    async def _answer(self, key: str, event: Event, on_event) -> EditResult | None:
        """The result once the job has finished; an error if it failed or was cancelled."""
        if isinstance(event, Finished):
            images = await self.images(key, event.images)
            await self.forget(key)
            return event.result(images)
        if isinstance(event, Cancelled):
            raise EditCancelled("the edit was cancelled")
        if isinstance(event, Failed) and event.stopped:
            raise JobLost(f"the engine at {self.host} stopped before the edit finished")
        if isinstance(event, Failed):
            raise RemoteError(event.message)
        _tell(on_event, event)
        return None

    def _event(self, text: str) -> ServerEvent:
        try:
            return protocol.event_from_wire(json.loads(text))
        except (ValueError, protocol.BadEvent) as exc:  # BadEvent is a ValueError; JSON's errors too
            raise RemoteError(
                f"the engine at {self.host} sent a message this client cannot read ({exc})"
            ) from None

    # ---- plumbing ------------------------------------------------------------------------
    async def _json(self, method: str, path: str, **kwargs) -> dict:
        return json.loads(await self._request(method, path, read=True, **kwargs))

    async def _request(self, method: str, path: str, read: bool, **kwargs) -> bytes:
        try:
            async with self.session.request(method, f"{self.url}{protocol.API}{path}", **kwargs) as response:
                body = await response.read()
                if response.status >= 400:
                    raise self._refusal(response.status, _message(body))
                return body
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"cannot reach the engine at {self.host} ({exc.os_error or exc})") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Unreachable(
                f"the connection to the engine at {self.host} failed ({exc or type(exc).__name__})"
            ) from None

    def _refusal(self, status: int, message: str) -> MgieError:
        if status == 401:
            return RemoteError(f"the engine at {self.host} refused the token (check the token file)")
        if status == 400:
            return InputError(message)
        return RemoteError(f"the engine at {self.host} answered {status}: {message}")


def _tell(on_event: Callable[[Event], None] | None, event: Event) -> None:
    if on_event is not None:
        on_event(event)


def _settings_of(job: EditJob, result: EditResult, host: str) -> None:
    """Each image's settings: as the server said, or (a server of an older version says none) the
    job's with each seed. Such a server knows no sweep: it would have rendered one image. Any other
    count (settings, seeds or models not one per image) is a message this client cannot read: the
    window would index past their end when it keeps a render."""
    images = len(result.images)
    if job.sweep is not None and not result.params:
        raise RemoteError(f"the engine at {host} cannot render a guidance sweep: update it")
    said = {"settings": len(result.params), "seeds": len(result.seeds), "models": len(result.models)}
    wrong = next(
        (
            f"{count} {name}"
            for name, count in said.items()
            if count != images and (name, count) != ("settings", 0)
        ),
        None,
    )
    if wrong is not None:
        raise RemoteError(
            f"the engine at {host} sent a message this client cannot read ({images} images but {wrong})"
        )
    if not result.params:
        result.params = [replace(job.params, seed=seed) for seed in result.seeds]


def _finish(job: EditJob, renders: list, models: list[str]) -> list:
    """Each render carried to the photo's size from the working copy its engine saw: FLUX.2
    [klein] edits at four times MGIE's pixel budget (core.sizing.klein_working_size)."""
    finished = list(renders)
    for kind in (False, True):  # MGIE's and InstructPix2Pix's working copy, then klein's
        where = [i for i, model in enumerate(models) if (model == "klein") is kind]
        if where:
            make = klein_source if kind else working_source
            source = make(job.image, job.params.pixel_budget)
            done = finish_renders(job.image, source, [renders[i] for i in where], job.finish, job.mask)
            for i, image in zip(where, done, strict=True):
                finished[i] = image
    return finished


def _message(body: bytes) -> str:
    try:
        return json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:200]
