"""A bounded load test of ``mgie-desktop serve``: many small edits from several clients at once.
It reports errors, throughput and the server's memory before and after (its RssAnon: what
would grow if jobs or results leaked), so PERFORMANCE.md and a test can hold it to a bound."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from PIL import Image

from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import EditParams
from mgie_desktop.remote.client import RemoteClient


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
                if event["event"] in ("finished", "failed", "cancelled"):
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


async def load_test(url: str, token: str | None, requests: int = 200, clients: int = 8,
                    size: int = 32, steps: int = 1, mix: tuple[str, ...] = MIX) -> dict:
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
    return {"requests": requests, "clients": clients, "kinds": kinds, "errors": errors,
            "seconds": round(seconds, 2), "requests_per_s": round(requests / seconds, 1)}


def measure(url: str, token: str | None, server_pid: int, requests: int = 200, clients: int = 8,
            mix: tuple[str, ...] = MIX) -> dict:
    """A warm-up round (allocator and caches settle), then the measured round."""
    asyncio.run(load_test(url, token, requests=clients * 2, clients=clients, mix=mix))
    before = rss_anon_mb(server_pid)
    report = asyncio.run(load_test(url, token, requests=requests, clients=clients, mix=mix))
    after = rss_anon_mb(server_pid)
    return {**report, "server_rss_anon_mb_before": round(before, 1), "server_rss_anon_mb_after": round(after, 1),
            "growth_mb": round(after - before, 1)}


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
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
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
        found[f"{width}x{height}"] = {"local_s": round(local_s, 2), "remote_s": round(remote_s, 2),
                                      "added_s": round(remote_s - local_s, 2)}
    return found


def main() -> None:
    import argparse
    import json
    import tempfile

    from mgie_desktop.remote.serve import spawn_server

    parser = argparse.ArgumentParser(description="load test and overhead of mgie-desktop serve (loopback)")
    parser.add_argument("--models", required=True, help="a models dir (tiny models: mgie-desktop models tiny DIR)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        process, url, token = spawn_server(Path(args.models), Path(scratch) / "token")
        try:
            report = {"mixed": measure(url, token, process.pid, args.requests, args.clients),
                      "half_edits": measure(url, token, process.pid, args.requests, args.clients, HALF_EDITS),
                      "overhead": overhead(url, token, Path(args.models))}
        finally:
            process.terminate()
            process.wait(30)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
