"""The remote engine over loopback: a real ``mgie-desktop serve`` process with tiny models, and
its clients (the asyncio client, ``edit --remote``). Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import pytest
from PIL import Image
from test_cli import run_cli

from mgie_desktop.core.errors import EditCancelled, InputError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams, params_for
from mgie_desktop.core.sweep import Sweep
from mgie_desktop.remote.client import RemoteClient, RemoteError
from mgie_desktop.remote.protocol import Progress, Queued, Resubmitting, Submitted

SMALL = EditParams(steps=2, pixel_budget=64 * 64, scheduler="euler")
SLOW = EditParams(steps=400, pixel_budget=64 * 64, scheduler="euler")  # long enough to act on mid-edit


def job(image, text="make it warmer", params=SMALL, **kw) -> EditJob:
    return EditJob(0, 0, 0, image, text, params, **kw)


def arun(coroutine):
    return asyncio.run(coroutine)


async def info(server) -> dict:
    async with RemoteClient(server.url, server.token) as client:
        return await client.info()


def test_edit_remote_writes_the_same_pixels_as_a_local_edit(server, engine, photo, photo_path, tmp_path):
    out = tmp_path / "remote.png"
    done = run_cli(
        "edit",
        photo_path,
        "-i",
        "make the sky a sunset",
        "-o",
        out,
        "--steps",
        "2",
        "--json",
        "--remote",
        server.url,
        "--token-file",
        server.token_file,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["output"] == str(out) and report["device"] == "cpu" and report["dtype"] == "float32"
    local = engine.edit(photo, "make the sky a sunset", params_for(steps=2))
    assert report["expressive_instruction"] == local.instruction.text
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(local.image))


def test_a_result_is_the_local_engines_and_the_job_is_forgotten_after(server, engine, photo):
    from mgie_desktop.engine.jobs import GuideCache, run_job

    async def go():
        seen = []
        async with RemoteClient(server.url, server.token) as client:
            result = await client.run(job(photo, variations=2), seen.append)
            key = seen[0].job
            with pytest.raises(RemoteError, match="404"):
                await client.images(key, 1)  # fetched and forgotten: nothing left on the server
        return result, seen

    result, seen = arun(go())
    local = run_job(engine, job(photo, variations=2), GuideCache(), "k")
    assert result.seeds == local.seeds and result.models == ["mgie", "mgie"]
    assert result.expressive_instruction == local.expressive_instruction
    for remote_image, local_image in zip(result.images, local.images, strict=True):
        assert np.array_equal(np.asarray(remote_image), np.asarray(local_image))
    assert {e.kind.value for e in seen} >= {"submitted", "progress"}


def test_cancel_mid_edit_and_the_server_goes_on(server, photo):
    async def go():
        async with RemoteClient(server.url, server.token) as client:
            key, _ = await client.submit(job(photo, params=SLOW))
            events = []
            async for event in client.events(key):
                events.append(event.kind.value)
                if isinstance(event, Progress):
                    await client.cancel(key)
            after = await client.run(job(photo))
            return events, after

    events, after = arun(go())
    assert events[-1] == "cancelled" and "finished" not in events
    assert len(after.images) == 1


def test_cancel_raises_edit_cancelled_from_run(server, photo):
    async def go():
        async with RemoteClient(server.url, server.token) as client:
            task = asyncio.ensure_future(client.run(job(photo, params=SLOW), lambda e: events.append(e)))
            while not any(isinstance(e, Progress) for e in events):
                await asyncio.sleep(0.05)
            await client.cancel(events[0].job)
            await task

    events: list[dict] = []
    with pytest.raises(EditCancelled):
        arun(go())


CLIENT = """
import asyncio, sys
from PIL import Image
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams
from mgie_desktop.remote.client import RemoteClient

async def main():
    async with RemoteClient(sys.argv[1], sys.argv[2]) as client:
        job = EditJob(0, 0, 0, Image.new("RGB", (32, 32)), "slow", EditParams(steps=30, pixel_budget=4096,
                      scheduler="euler"))
        await client.run(job, lambda e: print(e.kind.value, flush=True))

asyncio.run(main())
"""


def test_a_client_killed_mid_edit_leaves_the_server_serving(server, photo):
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, server.url, server.token], stdout=subprocess.PIPE, text=True
    )
    for line in client.stdout:
        if line.strip() == "progress":
            break
    client.kill()  # no goodbye: the socket just closes
    client.wait()
    result = arun(_run(server, job(photo)))  # waits for the orphaned edit, then runs
    assert len(result.images) == 1
    assert arun(info(server))["state"] == "ready"


async def _run(server, edit: EditJob):
    async with RemoteClient(server.url, server.token) as client:
        return await client.run(edit)


def test_two_clients_queue_in_order(server, photo):
    finished: list[str] = []

    async def one(name: str, edit: EditJob, positions: list[int]):
        async with RemoteClient(server.url, server.token) as client:

            def heard(event):
                if isinstance(event, Submitted | Queued):
                    positions.append(event.position)

            await client.run(edit, heard)
            finished.append(name)

    async def go():
        first_positions, second_positions = [], []
        first = asyncio.ensure_future(
            one(
                "first",
                job(
                    photo, params=EditParams(steps=300, pixel_budget=4096, scheduler="euler")
                ),  # still running 0.5 s later
                first_positions,
            )
        )
        await asyncio.sleep(0.5)  # the first is surely in
        await one("second", job(photo), second_positions)
        await first
        return first_positions, second_positions

    first_positions, second_positions = arun(go())
    assert finished == ["first", "second"]
    assert first_positions[0] == 0 and second_positions[0] >= 1  # the second saw it was waiting


def test_a_wrong_token_gets_401_and_nothing_else(server, photo):
    async def go():
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": server.token}):
                async with session.get(f"{server.url}/v1/info", headers=headers) as response:
                    yield response.status, await response.text()

    async def collect():
        return [answer async for answer in go()]

    assert arun(collect()) == [(401, "401: Unauthorized")] * 3

    async def wrong():
        async with RemoteClient(server.url, "wrong-token-wrong-token") as client:
            await client.run(job(photo))

    with pytest.raises(RemoteError, match="refused the token"):
        arun(wrong())


def test_an_oversized_body_is_refused_with_413(server):
    async def go():
        form = aiohttp.FormData()
        form.add_field("job", json.dumps({"instruction": "x"}))
        form.add_field("image", b"\0" * (2 * 2**20), filename="big.png", content_type="image/png")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.token}"}) as session:
            async with session.post(f"{server.url}/v1/jobs", data=form) as response:
                return response.status, await response.json()

    status, body = arun(go())
    assert status == 413 and "larger than this server accepts" in body["error"]
    assert arun(info(server))["queue"] == 0


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_decompression_bomb_is_refused_before_it_is_inflated(server):
    # A header claiming 40000 x 40000 pixels in a file of a few bytes.
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(InputError, match="too large"):
        arun(_post_raw(server, bomb))


def test_a_truncated_image_is_refused(server, photo):
    from mgie_desktop.remote.protocol import png_bytes

    data = png_bytes(photo)
    with pytest.raises(InputError, match="damaged or incomplete"):
        arun(_post_raw(server, data[: len(data) // 2]))


async def _post_raw(server, image: bytes):
    form = aiohttp.FormData()
    form.add_field("job", json.dumps({"instruction": "make it warmer"}))
    form.add_field("image", image, filename="image.png", content_type="image/png")
    async with RemoteClient(server.url, server.token) as client:
        return await client._json("POST", "/jobs", data=form)


def test_an_upload_cut_off_midway_queues_nothing(server):
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        raw.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 500000\r\n\r\n"
            '--b\r\nContent-Disposition: form-data; name="job"\r\n\r\n{}\r\n'.encode()
        )
    time.sleep(0.3)
    state = arun(info(server))
    assert state["state"] == "ready" and state["queue"] == 0


def test_bad_job_fields_are_refused_with_a_clear_message(server, photo):
    from mgie_desktop.remote.protocol import png_bytes

    async def post(spec):
        form = aiohttp.FormData()
        form.add_field("job", json.dumps(spec))
        form.add_field("image", png_bytes(photo), filename="image.png", content_type="image/png")
        async with RemoteClient(server.url, server.token) as client:
            return await client._json("POST", "/jobs", data=form)

    for spec, words in (
        ({"instruction": "  "}, "empty"),
        ({"instruction": "x", "variations": 99}, "variations"),
        ({"instruction": "x", "params": {"steps": 0}}, "steps"),
        ({"instruction": "x", "params": {"path": "/etc/passwd"}}, "unknown parameter"),
        ({"instruction": "x", "model": "other"}, "model"),
    ):
        with pytest.raises(InputError, match=words):
            arun(post(spec))


def test_load_200_requests_from_8_clients_without_errors_or_growth(server):
    from mgie_desktop.benchmark.remote_load import measure

    report = measure(server.url, server.token, server.pid, requests=200, clients=8)
    assert report["errors"] == []
    assert report["growth_mb"] < 64, report  # the bound PERFORMANCE.md states


def test_unreachable_server_and_a_bad_address_say_so(photo):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def ask():
        async with RemoteClient(f"http://127.0.0.1:{port}") as client:
            await client.info()

    with pytest.raises(RemoteError, match="cannot reach the engine"):
        arun(ask())
    with pytest.raises(InputError, match="not a server address"):
        RemoteClient("ftp://example")


def test_the_server_names_its_models_for_edit_records(server, tiny_models):
    from mgie_desktop.engine.inventory import bundle_identity, has_plain_ip2p

    models = arun(info(server))["models"]
    assert models["identity"] == bundle_identity(tiny_models)
    assert models["plain_ip2p"] is has_plain_ip2p(tiny_models) is True


# ---- a server restarted mid-edit (issue 26, defect 1): the edit is sent again, and runs once ----
class Restartable:
    """``mgie-desktop serve`` that can be restarted on the same port, as an admin would."""

    def __init__(self, models, token_file):
        from mgie_desktop.remote.serve import spawn_server

        self.models, self.token_file = models, token_file
        self.process, self.url, self.token = spawn_server(models, token_file)
        self.port = urlsplit(self.url).port

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=30)

    def start(self) -> None:
        from mgie_desktop.remote.serve import spawn_server

        self.process, self.url, self.token = spawn_server(
            self.models, self.token_file, "--port", str(self.port)
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def info(self) -> dict:
        """/info without asyncio (a window test's thread has Qt's loop as its running one)."""
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/v1/info", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


@pytest.fixture
def restartable(tiny_models, tmp_path):
    running = Restartable(tiny_models, tmp_path / "token")
    yield running
    running.close()


def wait_until_running(server: Restartable, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while server.info()["queue"] < 1:
        assert time.monotonic() < deadline, "the edit never reached the server"
        time.sleep(0.05)
    time.sleep(0.3)  # a few steps into it


def test_edit_remote_lands_once_when_the_server_restarts_mid_edit(restartable, photo_path, tmp_path):
    out = tmp_path / "out.png"
    edit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mgie_desktop",
            "edit",
            str(photo_path),
            "-i",
            "make it warmer",
            "-o",
            str(out),
            "--steps",
            "8",
            "--remote",
            restartable.url,
            "--token-file",
            str(restartable.token_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_running(restartable)
        assert restartable.info()["accepted"] == 1
        restartable.restart()  # the edit was running: the new server has never heard of it
        stdout, stderr = edit.communicate(timeout=240)
    finally:
        if edit.poll() is None:
            edit.kill()
    assert edit.returncode == 0, stderr
    assert "wrote" in stdout and Image.open(out).size == Image.open(photo_path).size
    assert stderr.count("sending it again") == 1 and stderr.count("again\n") >= 1, stderr
    assert restartable.info()["accepted"] == 1  # sent to the new server once, run once


def test_a_job_sent_twice_under_one_key_is_queued_once(server, photo):
    async def go():
        async with RemoteClient(server.url, server.token) as client:
            before = (await client.info())["accepted"]
            first, _ = await client.submit(job(photo), "same-key")
            second, _ = await client.submit(job(photo), "same-key")
            other, _ = await client.submit(job(photo), "another-key")
            accepted = (await client.info())["accepted"] - before
            for key in (first, other):
                async for _event in client.events(key):
                    pass  # to its end
                await client.forget(key)
            return first, second, other, accepted

    first, second, other, accepted = arun(go())
    assert first == second != other and accepted == 2


def test_a_bad_idempotency_key_is_refused(server, photo):
    async def go():
        async with RemoteClient(server.url, server.token) as client:
            await client.submit(job(photo), "not/a key")

    with pytest.raises(InputError, match="Idempotency-Key"):
        arun(go())


def test_a_server_that_stops_for_good_mid_edit_fails_the_edit_in_one_line(restartable, photo):
    async def go():
        async with RemoteClient(restartable.url, restartable.token, retry_delays=(0.2, 0.2, 0.2)) as client:
            run = asyncio.ensure_future(client.run(job(photo, params=SLOW), heard.append))
            while not any(isinstance(e, Progress) for e in heard):
                await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, restartable.stop)
            await run

    heard: list[dict] = []
    with pytest.raises(RemoteError, match="did not come back; the photo is unchanged") as failed:
        arun(go())
    assert "\n" not in str(failed.value)
    assert sum(isinstance(e, Resubmitting) for e in heard) == 1


def test_every_server_event_crosses_the_wire_and_comes_back_equal():
    from mgie_desktop.remote import protocol

    sent = [
        protocol.Queued(2),
        protocol.Started(),
        protocol.Progress(3, 20, 1.5),
        protocol.Preview(b"\xff\xd8jpeg"),
        protocol.Finished(1, "the sky turns orange", (7,), ("mgie",), {"render_s": 0.1}, steered=True),
        protocol.Failed("out of memory"),
        protocol.STOPPED,
        protocol.Cancelled(),
    ]
    for event in sent:
        wire = json.loads(json.dumps(protocol.event_to_wire(event)))
        assert wire["event"] == event.kind.value and protocol.event_from_wire(wire) == event
    assert "stopped" not in protocol.event_to_wire(protocol.Failed("out of memory"))  # said only when true


@pytest.mark.parametrize(
    "message",
    [
        {"event": "exploded"},
        {"event": "progress", "step": 1},
        ["progress"],
        {"event": "preview", "jpeg": "not base64!"},
    ],
)
def test_a_message_that_is_no_event_is_refused_in_words(message):
    from mgie_desktop.remote import protocol

    with pytest.raises(protocol.BadEvent, match="not an event"):
        protocol.event_from_wire(message)


def test_a_sweep_crosses_the_wire_and_each_image_says_its_settings(server, engine, photo):
    from mgie_desktop.engine.jobs import GuideCache, run_job

    sweep = Sweep((5.0, 10.0), (1.2,))

    async def go():
        async with RemoteClient(server.url, server.token) as client:
            return await client.run(job(photo, sweep=sweep))

    result = arun(go())
    local = run_job(engine, job(photo, sweep=sweep), GuideCache(), "k")
    assert result.params == local.params == sweep.cells(SMALL)
    for remote_image, local_image in zip(result.images, local.images, strict=True):
        assert np.array_equal(np.asarray(remote_image), np.asarray(local_image))


def test_bad_sweeps_are_refused_at_the_protocol_edge(photo):
    from mgie_desktop.remote import protocol

    image = protocol.png_bytes(photo)
    for sweep, words in (
        ({"text": [float("nan")]}, "list of numbers"),
        ({"text": [True]}, "list of numbers"),
        ({"text": "5,7.5"}, "list of numbers"),
        ({"speed": [1]}, "unknown sweep axis"),
        ({}, "varies text guidance"),
        ({"text": [1, 2, 3, 4, 5], "image": [1, 2, 3, 4]}, "at most 16 cells"),
        ({"image": [0.5]}, "image guidance"),
        ([5], "JSON object"),
    ):
        with pytest.raises(InputError, match=words):
            protocol.upload_from_wire({"instruction": "x", "sweep": sweep}, image, None, None)
    with pytest.raises(InputError, match="without variations"):
        protocol.upload_from_wire(
            {"instruction": "x", "sweep": {"text": [5]}, "variations": 2}, image, None, None
        )
    spec, _image, _mask = protocol.job_to_wire(job(photo, sweep=Sweep((), (1.2, 1.8))))
    assert protocol.job_from_wire(json.loads(json.dumps(spec)), image, None, 1, None).sweep == Sweep(
        (), (1.2, 1.8)
    )


def test_a_finished_event_carries_each_images_settings():
    from mgie_desktop.remote import protocol

    sent = protocol.Finished(2, "", (1, 1), ("mgie", "mgie"), {}, params=(SMALL, SLOW))
    assert protocol.event_from_wire(json.loads(json.dumps(protocol.event_to_wire(sent)))) == sent
    hostile = {**protocol.event_to_wire(sent), "params": [{"steps": 0}]}
    with pytest.raises(protocol.BadEvent):
        protocol.event_from_wire(hostile)


def _client_hearing(monkeypatch, finished: dict, image) -> RemoteClient:
    """A client whose server (no network) finishes every job with the ``finished`` message."""
    from mgie_desktop.remote import protocol

    async def submit(self, job, idempotency_key=None):
        return "k", 0

    async def events(self, key):
        yield protocol.event_from_wire(json.loads(json.dumps(finished)))

    async def images(self, key, count):
        return [image.copy() for _ in range(count)]

    async def forget(self, key):
        return None

    for name, fake in (("submit", submit), ("events", events), ("images", images), ("forget", forget)):
        monkeypatch.setattr(RemoteClient, name, fake)
    return RemoteClient("http://127.0.0.1:9", "token")


def _finished_message(images: int, seeds: int, models: int, params: list[EditParams]) -> dict:
    from dataclasses import asdict

    return {
        "event": "finished",
        "images": images,
        "expressive_instruction": "warmer",
        "seeds": list(range(seeds)),
        "models": ["mgie"] * models,
        "timings": {},
        "params": [asdict(p) for p in params],
    }


@pytest.mark.parametrize(
    ("counts", "said"),
    [
        ((4, 4, 4, 1), "4 images but 1 settings"),
        ((2, 2, 2, 3), "2 images but 3 settings"),
        ((4, 1, 4, 0), "4 images but 1 seeds"),  # an older server's: settings from the seeds
        ((2, 2, 1, 2), "2 images but 1 models"),
    ],
)
def test_a_result_whose_settings_are_not_one_per_image_is_one_protocol_line(monkeypatch, counts, said):
    images, seeds, models, params = counts
    photo = Image.new("RGB", (64, 48), (200, 120, 40))
    rendered = Image.new("RGB", (64, 48), (90, 120, 200))
    message = _finished_message(images, seeds, models, [SMALL] * params)
    client = _client_hearing(monkeypatch, message, rendered)
    with pytest.raises(RemoteError) as refused:
        arun(client.run(job(photo, variations=images)))
    text = str(refused.value)
    assert "sent a message this client cannot read" in text and said in text and "\n" not in text


def test_a_result_of_an_older_server_takes_its_settings_from_the_job_and_its_seeds(monkeypatch):
    from mgie_desktop.core.finishing import working_source

    photo = Image.new("RGB", (64, 48), (200, 120, 40))
    rendered = working_source(photo, SMALL.pixel_budget)
    client = _client_hearing(monkeypatch, _finished_message(2, 2, 2, []), rendered)
    result = arun(client.run(job(photo, variations=2)))
    assert result.params == [replace(SMALL, seed=0), replace(SMALL, seed=1)] and len(result.images) == 2
    client = _client_hearing(monkeypatch, _finished_message(1, 1, 1, []), rendered)
    with pytest.raises(RemoteError, match="cannot render a guidance sweep: update it"):
        arun(client.run(job(photo, sweep=Sweep((5.0, 7.5), ()))))


def test_edit_sweep_remote_writes_the_cells_a_local_sweep_does(server, tiny_models, photo_path, tmp_path):
    common = (
        "edit",
        photo_path,
        "-i",
        "make it warmer",
        "--sweep",
        "image=1.2,1.8",
        "--steps",
        "1",
        "--json",
    )
    remote = run_cli(
        *common, "-o", tmp_path / "r.png", "--remote", server.url, "--token-file", server.token_file
    )
    # fp32, as the test server computes: the same arithmetic, the same pixels
    local = run_cli(*common, "-o", tmp_path / "l.png", "--models", tiny_models, "--precision", "fp32")
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    cells = json.loads(remote.stdout)["cells"]
    assert [c["image_guidance"] for c in cells] == [1.2, 1.8]
    for suffix in ("-t7.5-i1.2.png", "-t7.5-i1.8.png"):
        there, here = Image.open(tmp_path / f"r{suffix}"), Image.open(tmp_path / f"l{suffix}")
        assert np.array_equal(np.asarray(there.convert("RGB")), np.asarray(here.convert("RGB")))
