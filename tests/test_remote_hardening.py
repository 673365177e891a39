"""``mgie-desktop serve`` against hostile and odd clients (issue 25, items 3 and 4): a bounded
queue that holds uploads encoded, jobs nobody watches given up, a prompt stop, a token on
loopback too, and slow or malformed requests answered 4xx and logged in one line. Every
server here listens on 127.0.0.1 only, and every wait is bounded."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import signal
import socket
import threading
import time

import aiohttp
import pytest
from PIL import Image
from test_cli import run_cli
from test_remote import SLOW, job

from mgie_desktop.remote.client import RemoteClient, RemoteError
from mgie_desktop.remote.protocol import Failed, Finished, Progress, png_bytes
from mgie_desktop.remote.security import default_token_file
from mgie_desktop.remote.server import EngineHost, Limits, make_app, make_runner

TOKEN = "hardening-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class InProcessServer:
    """An EngineHost on the tiny models with the given limits, served from a thread of this
    process (so a test can look at its queue) on a free loopback port."""

    def __init__(self, engine, limits: Limits, open_engine=None):
        self.host = EngineHost(open_engine or (lambda progress, cancel: engine), limits)
        self.limits, self.port = limits, 0
        self._started, self._loop, self._stop = threading.Event(), None, None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        assert self._started.wait(30)
        self.url = f"http://127.0.0.1:{self.port}"

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = make_runner(make_app(self.host, TOKEN), self.limits)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._started.set()
        await self._stop.wait()
        await runner.cleanup()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while self.host.state != "ready":
            assert time.monotonic() < deadline and self.host.state != "error", self.host.detail
            time.sleep(0.05)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        gc.unfreeze()  # the host froze this whole process's objects (a server's are its own)


@pytest.fixture
def serving(engine):
    """``serving(**limits)``: a ready in-process server, closed after the test."""
    made: list[InProcessServer] = []

    def start(**limits) -> InProcessServer:
        server = InProcessServer(engine, Limits(**limits))
        made.append(server)
        server.wait_ready()
        return server

    yield start
    for server in made:
        server.close()


def wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


async def post_job(url: str, image: bytes, spec: str | None = None, headers=AUTH) -> tuple[int, dict, dict]:
    form = aiohttp.FormData()
    form.add_field("job", spec if spec is not None else json.dumps({"instruction": "make it warmer"}))
    form.add_field("image", image, filename="image.png", content_type="image/png")
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{url}/v1/jobs", data=form) as response:
            return response.status, dict(response.headers), json.loads(await response.read())


def submit_slow(server: InProcessServer, photo) -> str:
    async def go():
        async with RemoteClient(server.url, TOKEN) as client:
            return (await client.submit(job(photo, params=SLOW)))[0]

    return asyncio.run(go())


def cancel_all(server: InProcessServer) -> None:
    async def go():
        async with RemoteClient(server.url, TOKEN) as client:
            for key in list(server.host.jobs):
                await client.cancel(key)

    asyncio.run(go())
    wait_until(lambda: server.host.running is None and not server.host.waiting)


def raw_exchange(port: int, request: bytes, timeout_s: float = 10.0) -> bytes:
    """Send ``request`` as is and read until the server closes (or ``timeout_s`` passes)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as raw:
        raw.sendall(request)
        try:
            while chunk := raw.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer


# ---- 3. the queue, its memory, and jobs nobody waits for ----------------------------------------
def test_a_full_queue_is_answered_503_with_retry_after_and_one_line(serving, photo):
    server = serving(max_queue=2)
    submit_slow(server, photo)
    wait_until(lambda: server.host.running is not None)
    image = png_bytes(photo)
    try:
        for _ in range(2):
            assert asyncio.run(post_job(server.url, image))[0] == 202
        status, headers, body = asyncio.run(post_job(server.url, image))
        assert status == 503 and headers["Retry-After"] == "15"
        assert "busy (2 edits are waiting)" in body["error"] and "\n" not in body["error"]
        assert len(server.host.waiting) == 2

        async def through_the_client():
            async with RemoteClient(server.url, TOKEN) as client:
                await client.submit(job(photo))

        with pytest.raises(RemoteError, match="503: the server is busy"):
            asyncio.run(through_the_client())
    finally:
        cancel_all(server)


def test_the_queue_is_bounded_by_the_bytes_it_holds_too(serving, photo):
    image = png_bytes(photo)
    server = serving(max_queue=8, max_queue_bytes=len(image) * 3 // 2)
    submit_slow(server, photo)
    wait_until(lambda: server.host.running is not None)
    try:
        assert asyncio.run(post_job(server.url, image))[0] == 202  # an empty queue takes it
        status, headers, body = asyncio.run(post_job(server.url, image))
        assert status == 503 and "MiB of photos are waiting" in body["error"] and "Retry-After" in headers
        assert len(server.host.waiting) == 1
    finally:
        cancel_all(server)


def _holds_a_decoded_image(value, depth: int = 0) -> bool:
    if isinstance(value, Image.Image):
        return True
    if depth < 3 and dataclasses.is_dataclass(value):
        return any(
            _holds_a_decoded_image(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    return False


def test_waiting_uploads_stay_encoded_until_their_turn(serving, photo):
    server = serving()
    submit_slow(server, photo)
    wait_until(lambda: server.host.running is not None)
    try:
        for _ in range(3):
            assert asyncio.run(post_job(server.url, png_bytes(photo)))[0] == 202
        assert len(server.host.waiting) == 3
        assert not any(_holds_a_decoded_image(waiting) for waiting in server.host.waiting)
    finally:
        cancel_all(server)


def test_a_bad_upload_is_still_refused_when_it_arrives(serving, photo):
    server = serving()
    whole = png_bytes(photo)
    for image, words in (
        (whole[: len(whole) - 20], "damaged or incomplete"),
        (png_bytes(Image.new("RGB", (17 * 8, 8))), "more than 16 times"),
        (b"GIF89a" + bytes(40), "not a valid PNG"),
    ):
        status, _headers, body = asyncio.run(post_job(server.url, image))
        assert status == 400 and words in body["error"]
    assert not server.host.jobs


def test_a_job_nobody_watches_for_longer_than_a_client_retries_is_cancelled(serving, photo):
    server = serving(abandon_after_s=1.0)
    forgotten = submit_slow(server, photo)  # sent, and never watched
    wait_until(lambda: server.host.jobs[forgotten].status == "cancelled", timeout_s=15)
    watched_events: list[str] = []

    async def watch_for(seconds: float):
        async with RemoteClient(server.url, TOKEN) as client:
            key, _ = await client.submit(job(photo, params=SLOW))
            started = time.monotonic()
            async for event in client.events(key):
                watched_events.append(event.kind.value)
                if time.monotonic() - started > seconds:
                    await client.cancel(key)

    asyncio.run(asyncio.wait_for(watch_for(3.0), 60))  # watched for 3 s: never given up
    assert watched_events[-1] == "cancelled" and watched_events.count("progress") > 1


def test_giving_a_jobs_memory_back_does_not_stop_the_server_for_long(serving):
    """Each job ends with a full collection (engine.devices.release_memory) on the engine's
    thread, which holds the GIL: over the models' objects it took about 0.2 s, and every client
    waited. Frozen out of it once the models are loaded, it takes well under a millisecond."""
    from mgie_desktop.engine.devices import release_memory

    serving()
    assert gc.get_freeze_count() > 0
    took = []
    for _ in range(3):
        started = time.perf_counter()
        release_memory()
        took.append(time.perf_counter() - started)
    assert min(took) < 0.05, took


def test_the_abandon_window_is_longer_than_the_clients_retry_window():
    from mgie_desktop.remote.client import RETRY_DELAYS_S

    assert Limits().abandon_after_s > sum(RETRY_DELAYS_S)


def test_a_stop_never_waits_for_a_stuck_engine_thread(engine):
    stuck = threading.Event()

    def open_engine(progress, cancel):  # a model load that ignores cancel for a long while
        stuck.wait(60)
        return engine

    server = InProcessServer(engine, Limits(stop_timeout_s=1.0), open_engine)
    try:
        started = time.monotonic()
        server.close()
        assert not server._thread.is_alive() and time.monotonic() - started < 5
        assert server.host.engine_stopped is False  # serve() exits at once in this case
    finally:
        stuck.set()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stop_the_server_within_10_s_mid_edit(tiny_models, tmp_path, photo, stop):
    from mgie_desktop.remote.serve import spawn_server

    process, url, token = spawn_server(tiny_models, tmp_path / "token")
    try:

        async def go():
            async with RemoteClient(url, token, retry_delays=()) as client:
                key, _ = await client.submit(job(photo, params=SLOW))
                try:
                    async for event in client.events(key):
                        heard.append(event)
                        if isinstance(event, Progress) and not signalled:
                            process.send_signal(stop)
                            signalled.append(time.monotonic())
                except RemoteError:  # the connection went before the last word: allowed
                    pass

        heard: list = []
        signalled: list[float] = []
        asyncio.run(asyncio.wait_for(go(), 60))
        assert not isinstance(heard[-1], Finished)
        if isinstance(
            heard[-1], Failed
        ):  # told why, in words a client can show, and that it may be sent again
            assert "server stopped" in heard[-1].message and heard[-1].stopped
        output = process.communicate(timeout=10)[0]
        assert time.monotonic() - signalled[0] < 10 and "stopping" in output
        assert "Traceback" not in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---- 3. a token on loopback too -----------------------------------------------------------------
@pytest.fixture(scope="module")
def default_token_server(tiny_models):
    """A server given no --token-file: it makes (or reuses) the default one."""
    from mgie_desktop.remote.serve import spawn_server

    process, url, token = spawn_server(tiny_models, None)
    yield url, token
    process.terminate()
    process.communicate(timeout=30)


def test_loopback_needs_the_token_made_once_owner_only(default_token_server, tmp_path, photo_path):
    url, token = default_token_server
    path = default_token_file()
    assert path.read_text().strip() == token and os.stat(path).st_mode & 0o777 == 0o600

    async def anonymous():
        async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/info") as response:
            return response.status

    assert asyncio.run(anonymous()) == 401

    async def found_by_the_client():  # no token given: this computer's server's own is used
        async with RemoteClient(url) as client:
            return await client.info()

    assert asyncio.run(found_by_the_client())["state"] == "ready"
    out = tmp_path / "out.png"
    done = run_cli("edit", photo_path, "-i", "make it warmer", "-o", out, "--steps", "2", "--remote", url)
    assert done.returncode == 0, done.stderr
    assert out.exists()


def test_no_token_is_explicit_and_said_at_start(tiny_models):
    from mgie_desktop.remote.serve import spawn_server

    process, url, token = spawn_server(tiny_models, None, "--no-token")
    try:
        assert token is None
        assert (
            process.stdout.readline().strip()
            == "mgie-desktop serve: no token (--no-token): any user of this computer can send edits"
        )

        async def anonymous():
            async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/info") as response:
                return response.status

        assert asyncio.run(anonymous()) == 200
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_no_token_beyond_loopback_is_refused_with_exit_2(tiny_models):
    done = run_cli("serve", "--models", tiny_models, "--host", "0.0.0.0", "--port", "0", "--no-token")
    assert done.returncode == 2 and "only for a loopback" in done.stderr and "Traceback" not in done.stderr


# ---- 4. slow and malformed clients --------------------------------------------------------------
def test_headers_that_never_finish_are_cut_off(serving):
    server = serving(header_timeout_s=1.0)
    started = time.monotonic()
    answer = raw_exchange(server.port, b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and nothing more
    assert time.monotonic() - started < 5 and b"200" not in answer


def test_a_body_that_stalls_is_answered_408_in_time(serving):
    server = serving(request_timeout_s=1.0)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(
            (
                f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 500000\r\n\r\n"
                '--b\r\nContent-Disposition: form-data; name="job"\r\n\r\n{}\r\n'
            ).encode()
        )  # then nothing
        answer = raw.recv(65536)
        answered = time.monotonic() - started
        raw.settimeout(20)
        while raw.recv(65536):  # aiohttp lingers a while (10 s) for the rest, then closes
            pass
    assert b" 408 " in answer.split(b"\r\n")[0] and b"took too long" in answer
    assert answered < 5 and time.monotonic() - started < 20 and not server.host.jobs


def test_queue_limits_below_1_are_refused_with_exit_2():
    for flag in ("--max-queue", "--max-queue-mb"):
        done = run_cli("serve", flag, "0")
        assert (
            done.returncode == 2
            and f"{flag} must be at least 1" in done.stderr
            and "Traceback" not in done.stderr
        )


def test_a_silent_connection_is_cut_off(serving):
    server = serving(header_timeout_s=1.0)
    started = time.monotonic()
    assert raw_exchange(server.port, b"") == b"" and time.monotonic() - started < 5


def _no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in caplog.records
    ]


def test_a_non_utf8_authorization_header_is_401_without_a_traceback(serving, caplog):
    caplog.set_level(logging.DEBUG)
    server = serving()
    for value in (b"Bearer \xff\xfe\xfd", b"Bearer \xc3\xa9t\xc3\xa9", b"\xff"):
        answer = raw_exchange(
            server.port,
            b"GET /v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + value + b"\r\n\r\n",
        )
        assert answer.startswith((b"HTTP/1.1 401", b"HTTP/1.1 400")), answer[:80]
    _no_tracebacks(caplog)


def test_deeply_nested_json_in_a_job_is_400(serving, photo, caplog):
    caplog.set_level(logging.DEBUG)
    server = serving()
    image = png_bytes(photo)
    for spec in (
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        json.dumps({"instruction": "x", "params": {"a": [[[[[[[[[1]]]]]]]]]}}),
    ):
        status, _headers, body = asyncio.run(post_job(server.url, image, spec))
        assert status == 400 and "nests deeper than" in body["error"]
    status, _headers, body = asyncio.run(
        post_job(server.url, image, json.dumps({"instruction": "x" * 70_000}))
    )
    assert status == 400 and "too long" in body["error"]
    status, _headers, body = asyncio.run(post_job(server.url, image, '{"instruction": "[{" , '))
    assert status == 400 and "not valid JSON" in body["error"]  # brackets in strings are not nesting
    status, _headers, body = asyncio.run(post_job(server.url, image, '{"instruction": "x\\ud800"}'))
    assert status == 400 and "instruction is not valid Unicode" in body["error"]
    status, _headers, body = asyncio.run(
        post_job(server.url, image, '{"instruction": "x", "seed": ' + "9" * 5000 + "}")
    )
    assert status == 400 and "not valid JSON" in body["error"]
    assert not server.host.jobs
    _no_tracebacks(caplog)


def test_malformed_requests_are_400_and_logged_in_one_line(serving, caplog):
    caplog.set_level(logging.DEBUG)
    server = serving()
    for request in (
        b"GET /v1/info HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /v1/info HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /v1/info HTTP/9.9.9\r\n\r\n",
    ):
        answer = raw_exchange(server.port, request)
        assert b" 400 " in answer.split(b"\r\n")[0], answer[:80]
    _no_tracebacks(caplog)
    said = [r for r in caplog.records if r.name == "mgie_desktop.remote.http"]
    assert len(said) == 3 and all(r.levelno == logging.WARNING and "\n" not in r.getMessage() for r in said)


# ---- a server that comes back from a restart without its models (issue 26, defect 1) -----------
def test_a_lost_edit_is_not_sent_again_to_a_server_back_without_models(engine):
    from mgie_desktop.core.errors import ModelFilesError

    def no_models(progress, cancel):
        raise ModelFilesError("no models in /nowhere")

    server = InProcessServer(engine, Limits(), open_engine=no_models)
    try:
        wait_until(lambda: server.host.state == "error")

        async def back():
            async with RemoteClient(server.url, TOKEN) as client:
                await client.back()

        with pytest.raises(
            RemoteError,
            match="has no models: no models in /nowhere, so the edit it lost could "
            "not be sent again; the photo is unchanged",
        ) as failed:
            asyncio.run(back())
        assert "\n" not in str(failed.value)
    finally:
        server.close()
