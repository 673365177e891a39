"""``mgie-desktop serve``: one engine on this machine's GPU behind an HTTP + WebSocket API.

Models load once at start. Edits run one at a time, in the order they arrive, on the engine's
own thread; the event loop only moves bytes, so a slow client never holds the GPU. Each job
streams its queue position, progress, previews and its end to whoever watches it; a client
that drops can reconnect to the same job; one that never returns has its job cancelled, and
its result (if any) dropped, after a while.

The queue is bounded by count and by bytes (503 with Retry-After past either), and holds each
upload as it came, PNG, until its turn: only the running job's photo is ever decoded. A job
nobody has watched for longer than a client keeps retrying is cancelled.

    GET    /v1/info                    state, device, GPU memory, queue length, edits accepted
    POST   /v1/jobs                    multipart: "job" (JSON), "image" (PNG), "mask" (PNG, optional);
                                       an Idempotency-Key header: a job sent again is not queued twice
    GET    /v1/jobs/{id}/events        WebSocket of JSON messages (client may send {"cancel": true})
    POST   /v1/jobs/{id}/cancel
    GET    /v1/jobs/{id}/images/{n}    the n-th result, PNG
    DELETE /v1/jobs/{id}               forget a finished job
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError

from mgie_desktop import __version__
from mgie_desktop.core.errors import EditCancelled, InputError, MgieError
from mgie_desktop.core.step_params import ENGINE_NAMES
from mgie_desktop.engine.inventory import KLEIN_NOT_INSTALLED, PLAIN_NOT_INSTALLED
from mgie_desktop.remote import protocol
from mgie_desktop.remote.client import RETRY_DELAYS_S
from mgie_desktop.remote.security import bearer, token_matches

log = logging.getLogger(__name__)
http_log = logging.getLogger("mgie_desktop.remote.http")  # aiohttp's own reports, one line each
ENDED = protocol.ENDED_NAMES  # a job's status once it has ended
PREVIEW_INTERVAL_S = 0.25
# A job is given up once nobody has listened for longer than a client keeps reconnecting.
ABANDON_AFTER_S = sum(RETRY_DELAYS_S) + 30
STOPPED = protocol.STOPPED
# The optional engines: the key /info says each under in "models", and how to install it.
OPTIONAL_ENGINES = {"ip2p": ("plain_ip2p", PLAIN_NOT_INSTALLED), "klein": ("klein", KLEIN_NOT_INSTALLED)}


class QueueRefusal(Enum):
    COUNT = "edits are waiting"
    BYTES = "MiB of photos are waiting"


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 256 * 2**20  # a 100-megapixel PNG fits; anything larger is refused unread
    max_pixels: int | None = None  # None: Pillow's decompression-bomb limit
    request_timeout_s: float = 120.0  # to receive one request's body: a stalled upload is dropped
    header_timeout_s: float = 30.0  # to receive a request's headers, or the next request's
    keep_results: int = 16  # finished jobs held for their clients, oldest dropped first
    result_ttl_s: float = 900.0  # and for at most this long
    max_queue: int = 8  # jobs waiting for their turn (the running one aside)
    max_queue_bytes: int = 512 * 2**20  # their uploads, encoded, all together
    retry_after_s: int = 15  # what a client refused for a full queue is told
    abandon_after_s: float = ABANDON_AFTER_S
    stop_timeout_s: float = 4.0  # for the engine's thread to notice a stop, then the process goes


@dataclass
class ServerJob:
    key: str
    upload: protocol.Upload  # the job as sent: PNG until its turn
    job_id: int
    digest: str  # of the uploaded photo: re-renders reuse the LLM half by it
    cancel: threading.Event = field(default_factory=threading.Event)
    alone_since: float | None = field(default_factory=time.monotonic)  # None while someone listens
    status: str = "queued"  # queued, running, or one of ENDED
    last: protocol.ServerEvent | None = None  # the latest progress or position
    final: protocol.ServerEvent | None = None
    images: list[bytes] = field(default_factory=list)
    ended_at: float = 0.0
    listeners: set = field(default_factory=set)  # asyncio.Queue per watching WebSocket
    client_key: str | None = None  # the client's idempotency key, if it sent one

    def publish(self, event: protocol.ServerEvent) -> None:
        ended = event.kind in protocol.ENDED
        if ended:
            self.status, self.final, self.ended_at = event.kind.value, event, time.monotonic()
        elif event.kind is not protocol.EventKind.PREVIEW:
            self.last = event
        for queue in list(self.listeners):
            if queue.qsize() < 32 or ended:  # a slow watcher misses previews, not the end
                queue.put_nowait(event)


class EngineHost:
    """The engine, its thread and its queue. ``open_engine(progress, cancel)`` loads the models."""

    def __init__(self, open_engine: Callable, limits: Limits, models: dict | None = None):
        """``models``: what /info says of the bundle (its identity for edit records, and whether
        it holds the optional engines, plain InstructPix2Pix and FLUX.2 [klein]: a job asking
        for one it says is missing is refused when it is sent)."""
        self.open_engine, self.limits, self.models = open_engine, limits, models or {}
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="mgie-engine")
        self.stopping = threading.Event()
        self.engine = None
        self.state, self.detail, self.load = "loading", "", {"part": "", "done": 0, "total": 0}
        self.device, self.gpu, self.dtype = "", "", ""
        self.jobs: dict[str, ServerJob] = {}
        self.waiting: list[ServerJob] = []
        self.running: ServerJob | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._guides = None
        self._ids = 0
        self.engine_stopped = True  # False if a stop found the engine's thread still busy

    # ---- life ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._serve_jobs()))
        self._tasks.append(asyncio.create_task(self._sweep()))

    def stop_jobs(self) -> None:
        """At a stop, before connections close: every job ends, so their watchers hear it."""
        self.stopping.set()
        for job in self.waiting:
            job.cancel.set()
            job.publish(STOPPED)
        self.waiting.clear()
        if self.running is not None:
            self.running.cancel.set()

    async def close(self) -> None:
        self.stop_jobs()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # The running step notices the cancel at its end; a stop never waits longer than this.
        # (A marker job, not executor.shutdown in another thread: nothing may be left blocking.)
        idle = asyncio.wrap_future(self.executor.submit(lambda: None))
        self.executor.shutdown(wait=False)
        try:
            await asyncio.wait_for(idle, self.limits.stop_timeout_s)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            self.engine_stopped = False

    def _load(self, loop: asyncio.AbstractEventLoop) -> None:
        from mgie_desktop.engine.devices import device_name
        from mgie_desktop.engine.jobs import GuideCache

        def progress(part: str, done: int, total: int) -> None:
            loop.call_soon_threadsafe(self.load.update, {"part": part, "done": done + 1, "total": total})

        self.engine = self.open_engine(progress, self.stopping)
        self.engine.warm_up(cancel=self.stopping)
        self._guides = GuideCache()
        # The models' objects live as long as the server: left out of later collections, the
        # collection that gives each job's memory back takes under a millisecond, not 0.2 s
        # with the event loop stopped (the GIL) for every client (docs/PERFORMANCE.md, the soak).
        gc.collect()
        gc.freeze()
        self.device, self.gpu = str(self.engine.device), device_name(self.engine.device)
        self.dtype = str(self.engine.dtype).removeprefix("torch.")

    async def _serve_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, self._load, loop)
        except MgieError as exc:
            self.state, self.detail = "error", str(exc)
        except Exception as exc:  # the server stays up and says why in /info
            log.exception("loading the models failed")
            self.state, self.detail = "error", f"could not load the models: {exc}"
        else:
            self.state, self.detail = "ready", f"loaded in {self.engine.load_seconds:.1f} s"
        if self.state == "error":
            for job in self.waiting:
                job.publish(protocol.Failed(f"the server has no models: {self.detail}"))
            self.waiting.clear()
            return
        log.info("models ready on %s (%s)", self.gpu, self.detail)
        while True:
            while not self.waiting:
                self._wake.clear()
                await self._wake.wait()
            job = self.waiting.pop(0)
            self._tell_positions()
            if job.cancel.is_set():
                job.publish(protocol.Cancelled())
                continue
            self.running, job.status = job, "running"
            job.publish(protocol.Started())
            self._tell_positions()  # the queue's places moved up
            try:
                await loop.run_in_executor(self.executor, self._run, job, loop)
            finally:
                self.running = None

    def _run(self, job: ServerJob, loop: asyncio.AbstractEventLoop) -> None:
        """On the engine's thread: the edit, its images as PNG, then its end as one message."""
        from mgie_desktop.engine.devices import release_memory
        from mgie_desktop.engine.jobs import failure_message, run_job

        post = loop.call_soon_threadsafe
        last_preview = 0.0

        def progress(step: int, total: int, seconds_left: float, make_preview) -> None:
            nonlocal last_preview
            post(job.publish, protocol.Progress(step, total, seconds_left))
            now = time.monotonic()
            if job.listeners and step < total and now - last_preview >= PREVIEW_INTERVAL_S:
                last_preview = now
                post(job.publish, protocol.preview_message(make_preview()))

        key = (job.digest, job.upload.instruction, job.upload.expressive)
        try:
            edit = protocol.job_from_upload(
                job.upload, job.job_id, self.limits.max_pixels
            )  # decoded at its turn
            result = run_job(self.engine, edit, self._guides, key, progress, job.cancel)
            images = [protocol.png_bytes(image) for image in result.images]
            post(self._finish, job, images, protocol.result_message(result))
        except EditCancelled:
            post(job.publish, STOPPED if self.stopping.is_set() else protocol.Cancelled())
        except MgieError as exc:
            post(job.publish, protocol.Failed(str(exc)))
        except Exception as exc:
            log.exception("an edit failed")
            post(job.publish, protocol.Failed(failure_message(exc)))
        finally:
            release_memory()  # a long-lived server gives each job's memory back

    def _finish(self, job: ServerJob, images: list[bytes], event: protocol.Finished) -> None:
        job.images = images
        job.publish(event)

    # ---- jobs ----------------------------------------------------------------------------
    def submit(self, upload: protocol.Upload, digest: str, client_key: str | None = None) -> ServerJob:
        if self.state == "error":
            raise _unavailable(f"the server has no models: {self.detail}")
        if (known := self.known(client_key)) is not None:  # sent twice while the upload was read
            return known
        self.check_engines(upload)
        self.check_room(upload.nbytes)
        self._forget_old()
        entry = ServerJob(secrets.token_urlsafe(12), upload, self.next_id(), digest, client_key=client_key)
        self.jobs[entry.key] = entry
        self.waiting.append(entry)
        self._tell_positions()
        self._wake.set()
        return entry

    def known(self, client_key: str | None) -> ServerJob | None:
        """The job a client sent before under ``client_key``, while this server still holds it."""
        if client_key is None:
            return None
        return next((job for job in self.jobs.values() if job.client_key == client_key), None)

    def check_engines(self, upload: protocol.Upload) -> None:
        """InputError (a 400, one line) for a job asking for an optional engine this server's
        bundle does not hold: said when it is sent, not after its place in the queue."""
        for name in sorted(upload.engines & OPTIONAL_ENGINES.keys()):
            key, hint = OPTIONAL_ENGINES[name]
            if key in self.models and not self.models[key]:
                raise InputError(f"the server has no {ENGINE_NAMES[name]}: {hint}")

    def check_room(self, nbytes: int) -> None:
        """503 with Retry-After if a job of ``nbytes`` would not fit in the queue now."""
        refusal = self._queue_refusal(nbytes)
        if refusal is None:
            return
        held = len(self.waiting) if refusal is QueueRefusal.COUNT else self.queued_bytes() // 2**20
        raise _unavailable(
            f"the server is busy ({held} {refusal.value}); try again in {self.limits.retry_after_s} s",
            {"Retry-After": str(self.limits.retry_after_s)},
        )

    def _queue_refusal(self, nbytes: int) -> QueueRefusal | None:
        if len(self.waiting) >= self.limits.max_queue:
            return QueueRefusal.COUNT
        # An empty queue takes any upload the body limit let through: it would never fit later.
        if self.waiting and self.queued_bytes() + nbytes > self.limits.max_queue_bytes:
            return QueueRefusal.BYTES
        return None

    def queued_bytes(self) -> int:
        return sum(job.upload.nbytes for job in self.waiting)

    def watch(self, job: ServerJob, queue: asyncio.Queue) -> None:
        job.listeners.add(queue)
        job.alone_since = None

    def unwatch(self, job: ServerJob, queue: asyncio.Queue) -> None:
        job.listeners.discard(queue)
        if not job.listeners:
            job.alone_since = time.monotonic()

    async def _sweep(self) -> None:
        """Now and then: cancel jobs whose clients are gone for good, forget stale results."""
        interval = min(5.0, self.limits.abandon_after_s / 4)
        while True:
            await asyncio.sleep(interval)
            self._cancel_abandoned()
            self._forget_old()

    def _cancel_abandoned(self) -> None:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if (
                job.status not in ENDED
                and not job.cancel.is_set()
                and job.alone_since is not None
                and now - job.alone_since > self.limits.abandon_after_s
            ):
                log.info(
                    "job %s: nobody has watched it for %.0f s; cancelled", job.key, now - job.alone_since
                )
                self.cancel(job)

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def position(self, job: ServerJob) -> int:
        """How many edits run before this one starts (0: it is running or next)."""
        if job in self.waiting:
            return self.waiting.index(job) + (self.running is not None)
        return 0

    def cancel(self, job: ServerJob) -> None:
        job.cancel.set()
        if job in self.waiting:  # never started: ends now
            self.waiting.remove(job)
            job.publish(protocol.Cancelled())
            self._tell_positions()

    def _tell_positions(self) -> None:
        for job in self.waiting:
            job.publish(protocol.Queued(self.position(job)))

    def _forget_old(self) -> None:
        """Finished jobs nobody fetched: kept a while, and only so many (memory stays bounded)."""
        ended = sorted((j for j in self.jobs.values() if j.status in ENDED), key=lambda j: j.ended_at)
        now = time.monotonic()
        for job in ended:
            if now - job.ended_at > self.limits.result_ttl_s or len(ended) > self.limits.keep_results:
                del self.jobs[job.key]
                ended = [j for j in ended if j is not job]

    def info(self) -> dict:
        report = {}
        if self.engine is not None:
            with contextlib.suppress(Exception):  # a GPU reading is never worth failing /info for
                report = self.engine.memory_report()
        return {
            "server": "mgie-desktop",
            "version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "state": self.state,
            "detail": self.detail,
            "load": self.load,
            "device": self.device,
            "gpu": self.gpu,
            "dtype": self.dtype,
            "memory": report,
            "models": self.models,
            "queue": len(self.waiting) + (self.running is not None),
            "accepted": self._ids,
        }


# ---- the HTTP application ----------------------------------------------------------------------
HOST_KEY = web.AppKey("host", EngineHost)


class OneLineHttpErrors(logging.Filter):
    """Malformed HTTP from anyone (aiohttp logs it with a traceback at ERROR) becomes one
    line at WARNING: it is the client's mistake, not the server's. Real failures keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = (str(exc.message).strip().splitlines() or [type(exc).__name__])[
                0
            ]  # aiohttp adds a caret diagram
            record.msg, record.args = f"{record.getMessage()}: {reason}", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


http_log.addFilter(OneLineHttpErrors())


def make_runner(app: web.Application, limits: Limits, shutdown_timeout: float = 3.0) -> web.AppRunner:
    """The app's runner: headers (and a kept-alive connection's next request) must come within
    ``header_timeout_s``, or the connection is closed."""
    return web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        logger=http_log,
        keepalive_timeout=limits.header_timeout_s,
        shutdown_timeout=shutdown_timeout,
    )


def make_app(host: EngineHost, token: str | None) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler):
        # Before the body is read: a wrong token costs the server nothing and learns nothing.
        if token is not None and not token_matches(token, bearer(request.headers.get("Authorization"))):
            log.info(
                "refused a request without the token from %s: %s %s",
                request.remote,
                request.method,
                request.path,
            )
            return web.Response(status=401, text="401: Unauthorized")
        try:
            return await handler(request)
        except InputError as exc:
            return _error(400, str(exc))

    app = web.Application(client_max_size=host.limits.max_body_bytes, middlewares=[guard])
    app[HOST_KEY] = host
    p = protocol.API
    app.router.add_get(f"{p}/info", _info)
    app.router.add_post(f"{p}/jobs", _submit)
    app.router.add_get(f"{p}/jobs/{{key}}/events", _events)
    app.router.add_post(f"{p}/jobs/{{key}}/cancel", _cancel)
    app.router.add_get(f"{p}/jobs/{{key}}/images/{{index:\\d+}}", _image)
    app.router.add_delete(f"{p}/jobs/{{key}}", _forget)

    async def on_startup(app: web.Application) -> None:
        await app[HOST_KEY].start()

    async def on_shutdown(app: web.Application) -> None:
        app[HOST_KEY].stop_jobs()

    async def on_cleanup(app: web.Application) -> None:
        await app[HOST_KEY].close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _unavailable(message: str, headers: dict | None = None) -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(
        text=json.dumps({"error": message}), content_type="application/json", headers=headers
    )


def _job(request: web.Request) -> ServerJob:
    job = request.app[HOST_KEY].jobs.get(request.match_info["key"])
    if job is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such job (finished long ago, or never sent)"}),
            content_type="application/json",
        )
    return job


async def _info(request: web.Request) -> web.Response:
    return web.json_response(request.app[HOST_KEY].info())


async def _submit(request: web.Request) -> web.Response:
    host: EngineHost = request.app[HOST_KEY]
    client_key = protocol.idempotency_key(request.headers.get(protocol.IDEMPOTENCY_HEADER))
    if (known := host.known(client_key)) is not None:  # a job sent again: the one it holds, unread
        return web.json_response({"job": known.key, "position": host.position(known)})
    host.check_room(request.content_length or 0)  # a full queue is said before the upload is read
    try:
        form = await asyncio.wait_for(request.post(), host.limits.request_timeout_s)
    except web.HTTPRequestEntityTooLarge:
        return _error(
            413, f"the request is larger than this server accepts ({host.limits.max_body_bytes:,} bytes)"
        )
    except asyncio.TimeoutError:  # before Python 3.11 not the builtin, and it would be a 400
        return _error(408, "the upload took too long")
    except Exception:  # a dropped or malformed upload: nothing was queued
        return _error(400, "the upload is incomplete or not multipart/form-data")
    spec, image, mask = form.get("job"), form.get("image"), form.get("mask")
    if not isinstance(spec, str) or image is None:
        return _error(400, "send a multipart form with a 'job' (JSON) and an 'image' (PNG)")
    spec = protocol.parse_job_text(spec)
    if not all(hasattr(part, "file") for part in (image, mask) if part is not None):
        return _error(400, "the image and the mask must be sent as files (PNG)")
    image_bytes = image.file.read()
    mask_bytes = mask.file.read() if mask is not None else None
    # Checking and hashing a large PNG take a while: off the event loop, so other clients keep
    # being served.
    upload, digest = await asyncio.get_running_loop().run_in_executor(
        None, _read_upload, spec, image_bytes, mask_bytes, host.limits.max_pixels
    )
    entry = host.submit(upload, digest, client_key)
    return web.json_response({"job": entry.key, "position": host.position(entry)}, status=202)


def _read_upload(
    spec, image: bytes, mask: bytes | None, max_pixels: int | None
) -> tuple[protocol.Upload, str]:
    """The upload, checked, and a digest of its photo (re-renders of one photo reuse its LLM half by it)."""
    return protocol.upload_from_wire(spec, image, mask, max_pixels), hashlib.sha256(image).hexdigest()


async def _events(request: web.Request) -> web.StreamResponse:
    host: EngineHost = request.app[HOST_KEY]
    job = _job(request)
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    queue: asyncio.Queue = asyncio.Queue()
    host.watch(job, queue)
    try:
        # Where the job stands now: a reconnecting client picks up from here.
        if job.final is not None:
            await ws.send_json(protocol.event_to_wire(job.final))
            return ws
        now = (
            protocol.Queued(host.position(job)) if job.status == "queued" else job.last or protocol.Started()
        )
        await ws.send_json(protocol.event_to_wire(now))
        reader = asyncio.create_task(_read_cancels(ws, host, job))  # ends when the client goes
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                event = getter.result()
                await ws.send_json(protocol.event_to_wire(event))
                if event.kind in protocol.ENDED:
                    break
        finally:
            reader.cancel()
    except (ConnectionError, asyncio.CancelledError):
        pass  # the client went away; the job goes on and its result waits for it
    finally:
        host.unwatch(job, queue)
    await ws.close()
    return ws


async def _read_cancels(ws: web.WebSocketResponse, host: EngineHost, job: ServerJob) -> None:
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            with contextlib.suppress(ValueError):
                if json.loads(message.data).get("cancel") is True:
                    host.cancel(job)


async def _cancel(request: web.Request) -> web.Response:
    job = _job(request)
    request.app[HOST_KEY].cancel(job)
    return web.json_response({"job": job.key, "status": job.status})


async def _image(request: web.Request) -> web.Response:
    job = _job(request)
    index = int(request.match_info["index"])
    if job.status != "finished" or index >= len(job.images):
        return _error(404, "no such image (the job has not finished, or has fewer images)")
    return web.Response(body=job.images[index], content_type="image/png")


async def _forget(request: web.Request) -> web.Response:
    host: EngineHost = request.app[HOST_KEY]
    job = _job(request)
    if job.status not in ENDED:
        host.cancel(job)
    host.jobs.pop(job.key, None)
    return web.json_response({"job": job.key, "forgotten": True})
