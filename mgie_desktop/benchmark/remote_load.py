"""A bounded load test of ``mgie-desktop serve``: many small edits from several clients at once.
It reports errors, throughput and the server's memory before and after (its RssAnon: what
would grow if jobs or results leaked), so PERFORMANCE.md and a test can hold it to a bound.

``--soak`` (``soak()``) is the hostile version: slow, stalled, oversized, malformed and
queue-filling clients against a fresh server, then SIGTERM mid-edit, checked against targets
for requests answered, memory given back and a prompt stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from PIL import Image

from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams
from mgie_desktop.remote.client import RemoteClient
from mgie_desktop.remote.protocol import ENDED, ENDED_NAMES, png_bytes
from mgie_desktop.remote.server import Limits


def rss_anon_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no RssAnon in /proc (Linux only)")


async def _request(client: RemoteClient, kind: str, job: EditJob) -> None:
    if kind == "info":
        await client.info()
    elif kind == "edit":
        await client.run(job)
    else:  # "cancel": a whole upload, queued, then called off (the window's Esc)
        key, _position = await client.submit(job)
        await client.cancel(key)
        async with contextlib.aclosing(client.events(key)) as events:
            async for event in events:
                if event.kind in ENDED:
                    break
        await client.forget(key)


async def _client(url: str, token: str | None, work: list[tuple[str, EditJob]], errors: list[str]) -> None:
    async with RemoteClient(url, token) as client:
        for kind, job in work:
            try:
                await _request(client, kind, job)
            except Exception as exc:  # counted, not raised: the report lists all of them
                errors.append(f"{kind}: {type(exc).__name__}: {exc}")


# Per ten requests: one whole edit, four uploads called off, five status calls.
MIX = ("edit", "cancel", "info", "cancel", "info", "cancel", "info", "cancel", "info", "info")


async def load_test(
    url: str,
    token: str | None,
    requests: int = 200,
    clients: int = 8,
    size: int = 32,
    steps: int = 1,
    mix: tuple[str, ...] = MIX,
) -> dict:
    """``requests`` in all, spread over ``clients`` concurrent clients, in the proportions of ``mix``."""
    image = Image.new("RGB", (size, size), (90, 140, 200))
    params = EditParams(steps=steps, pixel_budget=64 * 64, scheduler="euler")
    # Re-renders of one instruction: the server's LLM half is computed once and reused, so the
    # load is the server's own work (uploads, queue, events, results), not the tiny models'.
    job = EditJob(0, 0, 0, image, "make it warmer", params, rerender=True)
    work = [(mix[i % len(mix)], job) for i in range(requests)]
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(url, token, work[c::clients], errors) for c in range(clients)))
    seconds = time.perf_counter() - started
    kinds = {kind: sum(k == kind for k, _ in work) for kind in sorted(set(mix))}
    return {
        "requests": requests,
        "clients": clients,
        "kinds": kinds,
        "errors": errors,
        "seconds": round(seconds, 2),
        "requests_per_s": round(requests / seconds, 1),
    }


def measure(
    url: str,
    token: str | None,
    server_pid: int,
    requests: int = 200,
    clients: int = 8,
    mix: tuple[str, ...] = MIX,
) -> dict:
    """A warm-up round (allocator and caches settle), then the measured round."""
    asyncio.run(load_test(url, token, requests=clients * 2, clients=clients, mix=mix))
    before = rss_anon_mb(server_pid)
    report = asyncio.run(load_test(url, token, requests=requests, clients=clients, mix=mix))
    after = rss_anon_mb(server_pid)
    return {
        **report,
        "server_rss_anon_mb_before": round(before, 1),
        "server_rss_anon_mb_after": round(after, 1),
        "growth_mb": round(after - before, 1),
    }


HALF_EDITS = ("edit", "info")


def overhead(url: str, token: str, models: Path, sizes=((1024, 768), (4000, 3000)), runs: int = 3) -> dict:
    """One edit (4 steps, default pixel budget) locally and through the server, median seconds:
    what a remote edit adds (PNG up, working-size PNGs back, finishing here), loopback only."""
    import statistics

    import numpy as np

    from mgie_desktop.engine.jobs import GuideCache, run_job
    from mgie_desktop.engine.pipeline import MgieEngine

    engine = MgieEngine(models, device="cpu", precision="fp32")
    rng = np.random.default_rng(0)
    found = {}
    for width, height in sizes:
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones(
            (height, 1, 3), np.float32
        )
        image = Image.fromarray((ramp + rng.normal(0, 8, (height, width, 3))).clip(0, 255).astype(np.uint8))
        job = EditJob(0, 0, 0, image, "make it warmer", EditParams(steps=4), rerender=True)
        guides = GuideCache()
        run_job(engine, job, guides, "k")  # warm: both sides reuse the LLM half after this
        local = []
        for _ in range(runs):
            started = time.perf_counter()
            run_job(engine, job, guides, "k")
            local.append(time.perf_counter() - started)

        async def remote(job=job):
            times = []
            async with RemoteClient(url, token) as client:
                await client.run(job)
                for _ in range(runs):
                    started = time.perf_counter()
                    await client.run(job)
                    times.append(time.perf_counter() - started)
            return times

        remote_s, local_s = statistics.median(asyncio.run(remote())), statistics.median(local)
        found[f"{width}x{height}"] = {
            "local_s": round(local_s, 2),
            "remote_s": round(remote_s, 2),
            "added_s": round(remote_s - local_s, 2),
        }
    return found


# ---- the soak: unlucky and hostile clients against a real server ------------------------------
# Per twenty requests. A burst's submissions go out together, more than the queue holds, so some
# must be refused 503; stalled clients send half their headers and must be cut off.
SOAK_MIX = (
    "info",
    "edit",
    "malformed",
    "burst",
    "info",
    "oversized",
    "edit",
    "slow",
    "malformed",
    "burst",
    "info",
    "stalled",
    "edit",
    "malformed",
    "burst",
    "info",
    "oversized",
    "burst",
    "malformed",
    "slow",
)
SOAK_QUEUE = 8  # --max-queue (the default): one waiting edit per client fits; a burst does not
SOAK_UPLOAD_MB = 1  # --max-upload-mb; oversized uploads are twice that
HEADER_TIMEOUT_S = Limits().header_timeout_s  # 30 s: serve has no flag for it, so the round lasts that long
SOAK_RSS_BOUND_MB = (
    16.0  # VmRSS after the soak against after the warm-up: 8x the growth measured (PERFORMANCE.md)
)
STOP_BOUND_S = 10.0  # SIGTERM mid-edit to the process gone (SECURITY.md)
REQUEST_LIMIT_S = 60.0  # an answer slower than this counts as a hang
EDIT = EditParams(steps=1, pixel_budget=64 * 64, scheduler="euler")
HOLD = EditParams(steps=400, pixel_budget=64 * 64, scheduler="euler")  # long enough to act on mid-edit

# What each kind must get: (served with, refused with). Anything else is an error.
EXPECTED = {
    "info": ({200}, set()),
    "edit": ({200}, {503}),
    "burst": ({202}, {503}),
    "oversized": (set(), {413, 503}),
    "slow": ({200}, set()),
    "stalled": (set(), {"cut"}),
}


@dataclass
class Reply:
    answer: int | str  # the HTTP status, or what came instead ("cut", "reset", "hang", ...)
    detail: str = ""
    retry_after: bool = False  # a Retry-After header came with it
    expected: tuple | None = None  # (served, refused) when not the kind's own
    key: str | None = None  # an accepted job's id


@dataclass
class Outcome:
    kind: str
    answer: int | str
    verdict: str  # "served", "refused" (as it should be) or "error"
    seconds: float
    detail: str
    retry_after: bool


def proc_memory_mb(pid: int) -> dict:
    """VmRSS (what the process holds) and RssAnon (its heap: what leaks would grow), in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            found[name] = round(int(value.split()[0]) / 1024, 1)
    return found


def soak_units(kinds: list[str], burst: int) -> list[tuple[str, int]]:
    """The work of the clients, in the mix's order: bursts grouped by ``burst``, stalled left out."""
    units, group = [], 0
    for kind in kinds:
        if kind == "burst":
            group += 1
            if group == burst:
                units.append(("burst", group))
                group = 0
        elif kind != "stalled":
            units.append((kind, 1))
    return units + ([("burst", group)] if group else [])


class Soak:
    """Requests of every kind against the server at ``url``, and what each got."""

    def __init__(self, url: str, token: str, pid: int, clients: int, queue: int):
        self.url, self.token, self.pid, self.clients = url, token, pid, clients
        self.burst = queue + 3  # submissions sent together: more than the queue holds
        self.port = int(url.rsplit(":", 1)[1])
        self.photo = png_bytes(Image.new("RGB", (32, 32), (90, 140, 200)))
        self.outcomes: list[Outcome] = []
        self.peak = {"VmRSS": 0.0, "RssAnon": 0.0}
        self._malformed_sent = 0

    async def run(self, kinds: list[str]) -> float:
        """Stalled clients all at once (each waits out the header timeout); the rest shared
        among ``clients`` concurrent clients; a burst's submissions sent together."""
        units = soak_units(kinds, self.burst)
        started = time.perf_counter()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"}) as session:
            await asyncio.gather(
                *(self._timed("stalled", self._stalled) for k in kinds if k == "stalled"),
                *(self._worker(session, units) for _ in range(self.clients)),
            )
        return time.perf_counter() - started

    async def _worker(self, session: aiohttp.ClientSession, units: list) -> None:
        while units:
            kind, count = units.pop(0)
            if kind == "burst":
                await self._burst(session, count)
            else:
                await self._timed(kind, getattr(self, f"_{kind}"), session)

    async def _timed(self, kind: str, send, *args) -> None:
        started = time.perf_counter()
        reply = await self._attempt(kind, send, *args)
        self._record(kind, reply, time.perf_counter() - started)

    async def _attempt(self, kind: str, send, *args) -> Reply:
        limit = HEADER_TIMEOUT_S + 15 if kind == "stalled" else REQUEST_LIMIT_S
        try:
            return await asyncio.wait_for(send(*args), limit)
        except asyncio.TimeoutError:
            return Reply("hang")
        except (aiohttp.ClientError, OSError) as exc:  # a reset or a refused connection: never expected
            return Reply("reset", f"{type(exc).__name__}: {exc}")

    def _record(self, kind: str, reply: Reply, seconds: float) -> None:
        served, refused = reply.expected or EXPECTED[kind]
        verdict = "served" if reply.answer in served else "refused" if reply.answer in refused else "error"
        self.outcomes.append(
            Outcome(kind, reply.answer, verdict, round(seconds, 2), reply.detail, reply.retry_after)
        )

    async def sample_memory(self, every_s: float = 0.05) -> None:
        while True:
            for name, value in proc_memory_mb(self.pid).items():
                self.peak[name] = max(self.peak[name], value)
            await asyncio.sleep(every_s)

    # ---- the kinds of request -----------------------------------------------------------
    async def _info(self, session) -> Reply:
        async with session.get(f"{self.url}/v1/info") as response:
            await response.read()
            return Reply(response.status)

    async def _submit(self, session, params: EditParams, image: bytes | None = None) -> Reply:
        spec = json.dumps(
            {"instruction": "make it warmer", "params": asdict(params), "rerender": True, "finish": "none"}
        )
        async with session.post(f"{self.url}/v1/jobs", data=_form(spec, image or self.photo)) as response:
            body = await response.read()
            key = json.loads(body)["job"] if response.status == 202 else None
            detail = "" if key else body[:200].decode(errors="replace")
            return Reply(response.status, detail, "Retry-After" in response.headers, key=key)

    async def _edit(self, session) -> Reply:
        """A whole small edit as the window makes one: send, watch, fetch, forget."""
        reply = await self._submit(session, EDIT)
        if (key := reply.key) is None:
            return reply
        event = {"event": "lost"}
        async with session.ws_connect(f"{self.url}/v1/jobs/{key}/events") as ws:
            async for message in ws:
                event = json.loads(message.data)  # the raw wire, as any client sees it
                if event["event"] in ENDED_NAMES:
                    break
        if event["event"] != "finished":
            return Reply(f"edit {event['event']}", event.get("message", ""))
        async with session.get(f"{self.url}/v1/jobs/{key}/images/0") as response:
            await response.read()
            if response.status != 200:
                return Reply(response.status, "fetching the result failed")
        return await self._forget(session, key, Reply(200))

    async def _burst(self, session, count: int) -> None:
        """``count`` long edits sent at once, more than the queue holds. Those accepted are
        called off (a window's Esc) only once all are answered, so the last find it full."""
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(self._attempt("burst", self._submit, session, HOLD) for _ in range(count))
        )
        seconds = time.perf_counter() - started
        for reply in replies:
            if reply.key is not None:
                reply = await self._attempt("burst", self._call_off, session, reply)
            self._record("burst", reply, seconds)

    async def _call_off(self, session, reply: Reply) -> Reply:
        async with session.post(f"{self.url}/v1/jobs/{reply.key}/cancel") as response:
            await response.read()
        return await self._forget(session, reply.key, reply)

    async def _forget(self, session, key: str, reply: Reply) -> Reply:
        async with session.delete(f"{self.url}/v1/jobs/{key}") as response:
            await response.read()
            return reply if response.status == 200 else Reply(response.status, "forgetting the job failed")

    async def _oversized(self, session) -> Reply:
        return await self._submit(session, EDIT, b"\x89PNG\r\n\x1a\n" + bytes(2 * SOAK_UPLOAD_MB * 2**20))

    async def _malformed(self, session) -> Reply:
        """One of several sorts in turn, each with the one 4xx it must get."""
        name, statuses, send = MALFORMED[self._malformed_sent % len(MALFORMED)]
        self._malformed_sent += 1
        reply = await send(self, session)
        return Reply(reply.answer, name, reply.retry_after, expected=(set(), statuses))

    async def _slow(self, session) -> Reply:
        """A slow but honest client: its headers trickle in over about a second, well in time."""
        request = (
            f"GET /v1/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.token}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        return await self.raw([request[i : i + 12] for i in range(0, len(request), 12)], pause_s=0.1)

    async def _stalled(self) -> Reply:
        """Half the headers, then nothing: the server must close the connection unanswered."""
        reply = await self.raw([b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Waiting: "])
        return Reply("cut") if reply.answer == "closed" else reply

    async def raw(self, pieces: list[bytes], pause_s: float = 0.0) -> Reply:
        """Bytes as they are, in pieces; the status of what comes back ("closed": nothing)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(pause_s)
            answer = await reader.read()
        finally:
            writer.close()
        first = answer.split(b"\r\n", 1)[0].split()
        return Reply(
            int(first[1]) if len(first) > 1 and first[1].isdigit() else "closed",
            answer[:80].decode(errors="replace"),
        )


def _form(job: str, image: bytes | None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("job", job)
    if image is not None:
        form.add_field("image", image, filename="image.png", content_type="image/png")
    return form


async def _send(soak: Soak, session, method: str, path: str, **kwargs) -> Reply:
    async with session.request(method, f"{soak.url}{path}", **kwargs) as response:
        await response.read()
        return Reply(response.status, retry_after="Retry-After" in response.headers)


# (what, the statuses it must get, how it is sent). A job's upload may also be told 503: a full
# queue is said before the upload is read.
BUSY_OR_400 = frozenset({400, 503})
MALFORMED = (
    (
        "job not JSON",
        BUSY_OR_400,
        lambda s, c: _send(s, c, "POST", "/v1/jobs", data=_form("{not json", s.photo)),
    ),
    (
        "not multipart",
        BUSY_OR_400,
        lambda s, c: _send(s, c, "POST", "/v1/jobs", data=b"hi", headers={"Content-Type": "text/plain"}),
    ),
    (
        "no image",
        BUSY_OR_400,
        lambda s, c: _send(s, c, "POST", "/v1/jobs", data=_form('{"instruction": "x"}', None)),
    ),
    (
        "not a PNG",
        BUSY_OR_400,
        lambda s, c: _send(
            s, c, "POST", "/v1/jobs", data=_form('{"instruction": "x"}', b"GIF89a" + bytes(64))
        ),
    ),
    (
        "wrong token",
        {401},
        lambda s, c: _send(s, c, "GET", "/v1/info", headers={"Authorization": "Bearer wrong"}),
    ),
    ("unknown job", {404}, lambda s, c: _send(s, c, "GET", "/v1/jobs/nosuchjob/images/0")),
    ("wrong method", {405}, lambda s, c: _send(s, c, "PUT", "/v1/info")),
    ("bad HTTP version", {400}, lambda s, c: s.raw([b"GET /v1/info HTTP/9.9.9\r\n\r\n"])),
    (
        "negative length",
        {400},
        lambda s, c: s.raw([b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"]),
    ),
)


async def _drained(soak: Soak, timeout_s: float = 30.0) -> None:
    """Until the server has no job running or waiting."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {soak.token}"}) as session:
        while time.monotonic() < deadline:
            async with session.get(f"{soak.url}/v1/info") as response:
                if (await response.json())["queue"] == 0:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server's queue never drained in {timeout_s:.0f} s")


async def _soak_round(soak: Soak, kinds: list[str]) -> dict:
    """The round with the server's memory sampled throughout, read again once it is idle."""
    sampler = asyncio.create_task(soak.sample_memory())
    try:
        seconds = await soak.run(kinds)
        await _drained(soak)
    finally:
        sampler.cancel()
    await asyncio.sleep(0.5)  # the engine thread's release_memory after the last job
    return {"seconds": round(seconds, 1), "after": proc_memory_mb(soak.pid)}


async def _stop_mid_edit(soak: Soak, process) -> dict:
    """SIGTERM once a long edit is under way: seconds until the process is gone, its exit
    status, and the last word the edit's watcher heard."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {soak.token}"}) as session:
        reply = await soak._submit(session, HOLD)
        if reply.key is None:
            raise RuntimeError(f"the server refused the last edit: {reply.answer} {reply.detail}")
        last, signalled = "none", None
        async with session.ws_connect(f"{soak.url}/v1/jobs/{reply.key}/events") as ws:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                last = json.loads(message.data)["event"]
                if last == "progress" and signalled is None:
                    signalled = time.monotonic()
                    process.send_signal(signal.SIGTERM)
    if signalled is None:  # the edit ended before it was under way: nothing was measured
        return {"stop_s": None, "exit_code": None, "last_event": last}
    try:
        await asyncio.get_running_loop().run_in_executor(None, process.wait, 3 * STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        return {"stop_s": None, "exit_code": None, "last_event": last}
    return {
        "stop_s": round(time.monotonic() - signalled, 2),
        "exit_code": process.returncode,
        "last_event": last,
    }


async def _soak(url: str, token: str, process, requests: int, clients: int, queue: int) -> dict:
    soak = Soak(url, token, process.pid, clients, queue)
    # Warm-up: every kind once or more, so the code paths and the allocator settle first.
    await soak.run([kind for kind in SOAK_MIX if kind != "stalled"])
    await _drained(soak)
    soak.outcomes.clear()
    await asyncio.sleep(0.5)
    warm = proc_memory_mb(process.pid)
    kinds = [SOAK_MIX[i % len(SOAK_MIX)] for i in range(requests)]
    measured = await _soak_round(soak, kinds)
    stop = await _stop_mid_edit(soak, process)
    memory = {
        "warm": warm,
        "peak": soak.peak,
        "after": measured["after"],
        "growth_mb": round(measured["after"]["VmRSS"] - warm["VmRSS"], 1),
    }
    return {
        "requests": requests,
        "clients": clients,
        "queue": queue,
        "seconds": measured["seconds"],
        **_tally(soak.outcomes),
        "memory_mb": memory,
        "stop": stop,
    }


def _tally(outcomes: list[Outcome]) -> dict:
    """Served and refused by status, per kind; every error in one line."""
    answers: dict[str, Counter] = {}
    for outcome in outcomes:
        answers.setdefault(outcome.kind, Counter())[str(outcome.answer)] += 1
    refused = Counter(str(o.answer) for o in outcomes if o.verdict == "refused")
    full = [o for o in outcomes if o.answer == 503]
    stalled = [o.seconds for o in outcomes if o.kind == "stalled"]
    return {
        "served": sum(o.verdict == "served" for o in outcomes),
        "refused": dict(refused),
        "errors": [f"{o.kind}: {o.answer} {o.detail}".strip() for o in outcomes if o.verdict == "error"],
        "answers": {kind: dict(counts) for kind, counts in answers.items()},
        "queue_full_503": len(full),
        "503_without_retry_after": sum(not o.retry_after for o in full),
        "stalled_cut_after_s": max(stalled, default=None),
        "slowest_served_s": max((o.seconds for o in outcomes if o.verdict == "served"), default=None),
    }


def soak_targets(report: dict) -> dict:
    """The soak's promises, each True or False (PERFORMANCE.md states them)."""
    stop, stalled = report["stop"], report["stalled_cut_after_s"]
    return {
        "every_request_answered": not report["errors"]
        and report["served"] + sum(report["refused"].values()) == report["requests"],
        "full_queue_refused_503_with_retry_after": report["queue_full_503"] > 0
        and report["503_without_retry_after"] == 0,
        "stalled_clients_cut_off": stalled is None or stalled <= HEADER_TIMEOUT_S + 5,
        "memory_given_back": report["memory_mb"]["growth_mb"] <= SOAK_RSS_BOUND_MB,
        "stops_within_10_s": stop["stop_s"] is not None
        and stop["stop_s"] <= STOP_BOUND_S
        and stop["exit_code"] == 0,
        "no_tracebacks": report["server_log"]["tracebacks"] == 0,
    }


def soak(models: Path, requests: int = 200, clients: int = 8, queue: int = SOAK_QUEUE) -> dict:
    """``requests`` of every kind against a fresh ``mgie-desktop serve`` on ``models`` (a queue of
    ``queue``, a 1 MiB upload limit), then SIGTERM mid-edit: the counts, the server's memory,
    and which targets held."""
    import tempfile
    import threading

    from mgie_desktop.remote.serve import spawn_server

    with tempfile.TemporaryDirectory() as scratch:
        process, url, token = spawn_server(
            models, Path(scratch) / "token", "--max-queue", str(queue), "--max-upload-mb", str(SOAK_UPLOAD_MB)
        )
        log: list[str] = []
        reader = threading.Thread(
            target=lambda: log.extend(process.stdout), daemon=True
        )  # the pipe never fills
        reader.start()
        try:
            report = asyncio.run(_soak(url, token, process, requests, clients, queue))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(5)
    report["server_log"] = {
        "lines": len(log),
        "tracebacks": sum("Traceback" in line for line in log),
        "errors": [line.strip() for line in log if " ERROR " in line][:10],
    }
    report["targets"] = soak_targets(report)
    report["passed"] = all(report["targets"].values())
    return report


def main() -> None:
    import argparse
    import tempfile

    from mgie_desktop.remote.serve import spawn_server

    parser = argparse.ArgumentParser(description="load test and overhead of mgie-desktop serve (loopback)")
    parser.add_argument(
        "--models", required=True, help="a models dir (tiny models: mgie-desktop models tiny DIR)"
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--soak",
        action="store_true",
        help="slow, oversized, malformed and queue-filling "
        "requests, then SIGTERM mid-edit; exit status 1 if a target is missed",
    )
    parser.add_argument("--json", action="store_true", help="with --soak: the whole report as JSON")
    args = parser.parse_args()
    if args.soak:
        report = soak(Path(args.models), args.requests, args.clients)
        print(json.dumps(report, indent=1) if args.json else _soak_summary(report))
        raise SystemExit(0 if report["passed"] else 1)
    with tempfile.TemporaryDirectory() as scratch:
        process, url, token = spawn_server(Path(args.models), Path(scratch) / "token")
        try:
            report = {
                "mixed": measure(url, token, process.pid, args.requests, args.clients),
                "half_edits": measure(url, token, process.pid, args.requests, args.clients, HALF_EDITS),
                "overhead": overhead(url, token, Path(args.models)),
            }
        finally:
            process.terminate()
            process.wait(30)
    print(json.dumps(report, indent=1))


def _soak_summary(report: dict) -> str:
    memory = report["memory_mb"]
    lines = [
        f"{report['requests']} requests in {report['seconds']} s: {report['served']} served, "
        f"refused {report['refused']}, {len(report['errors'])} errors",
        f"server VmRSS {memory['warm']['VmRSS']} MB after warm-up, {memory['peak']['VmRSS']} at peak, "
        f"{memory['after']['VmRSS']} after ({memory['growth_mb']:+} MB)",
        f"SIGTERM mid-edit: gone in {report['stop']['stop_s']} s, exit status {report['stop']['exit_code']}",
    ]
    lines += [f"  error: {error}" for error in report["errors"][:10]]
    lines += [f"{'pass' if held else 'FAIL'}  {target}" for target, held in report["targets"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
