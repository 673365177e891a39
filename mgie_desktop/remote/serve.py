"""Run the server until Ctrl+C or SIGTERM: bind, say where and how to connect, load the models.
A stop takes a few seconds at most, even mid-edit."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from mgie_desktop.core.errors import InputError
from mgie_desktop.remote.security import default_token_file, is_loopback, server_tls, server_token
from mgie_desktop.remote.server import EngineHost, Limits, make_app, make_runner


def serve(
    models_dir: Path,
    engine_options: dict,
    host: str,
    port: int,
    token_file: Path | None,
    cert: Path | None,
    key: Path | None,
    limits: Limits,
    no_token: bool = False,
) -> None:
    token, token_path, made = server_token(token_file, host, required=not no_token)
    tls = server_tls(cert, key)
    if not is_loopback(host) and tls is None:
        print(
            "mgie-desktop serve: warning: no --cert/--key, so photos cross the network unencrypted",
            file=sys.stderr,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def open_engine(progress, cancel):
        from mgie_desktop.engine.pipeline import MgieEngine  # torch: on the engine's thread, once

        return MgieEngine(models_dir, cancel=cancel, progress=progress, **engine_options)

    from mgie_desktop.engine.inventory import bundle_identity, has_klein, has_plain_ip2p

    models = {
        "identity": bundle_identity(models_dir),
        "plain_ip2p": has_plain_ip2p(models_dir),
        "klein": has_klein(models_dir),  # FLUX.2 [klein] joins the engine on its first job
    }
    engine_host = EngineHost(open_engine, limits, models)
    asyncio.run(_run(engine_host, token, token_path, made, host, port, tls))
    if not engine_host.engine_stopped:
        # The engine's thread is inside one long step; waiting for it would break the promise
        # of a prompt stop, and nothing of it is worth keeping (its job was cancelled).
        print("mgie-desktop serve: the engine was mid-step; stopped without waiting for it", flush=True)
        logging.shutdown()
        os._exit(0)


async def _run(engine_host: EngineHost, token, token_path, made, host, port, tls) -> None:
    runner = make_runner(make_app(engine_host, token), engine_host.limits)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        try:
            await site.start()
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        scheme = "https" if tls else "http"
        bound = runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
        print(f"mgie-desktop serve: listening on {scheme}://{shown}:{bound[1]}", flush=True)
        if token_path is not None:
            print(
                f"mgie-desktop serve: clients need the token in {token_path}"
                + (" (made just now; copy it to each client)" if made else ""),
                flush=True,
            )
        else:
            print(
                "mgie-desktop serve: no token (--no-token): any user of this computer can send edits",
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for name in ("SIGINT", "SIGTERM"):
            if hasattr(signal, name):
                loop.add_signal_handler(getattr(signal, name), stop.set)
        await stop.wait()
        print("mgie-desktop serve: stopping", flush=True)
    finally:
        await runner.cleanup()


def spawn_server(models_dir: Path, token_file: Path | None, *args: str, wait_s: float = 120.0):
    """``mgie-desktop serve`` in a child process on a free loopback port (CPU, fp32), for tests
    and benchmarks: its process, URL and token (None with ``--no-token``) once its models are
    ready. Without ``token_file`` the server keeps its token where it makes one by default."""
    import re
    import subprocess
    import time
    import urllib.request

    given = ["--token-file", str(token_file)] if token_file is not None else []
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mgie_desktop",
            "serve",
            "--models",
            str(models_dir),
            "--port",
            "0",
            "--device",
            "cpu",
            "--precision",
            "fp32",
            *given,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = process.stdout.readline()
    found = re.search(r"listening on (\S+)", line)
    if not found:
        process.kill()
        raise RuntimeError(f"the server did not start: {line}{process.stdout.read(2000)}")
    url = found.group(1)
    token = None if "--no-token" in args else (token_file or default_token_file()).read_text().strip()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{url}/v1/info", headers=headers)
        if b'"state": "ready"' in urllib.request.urlopen(request, timeout=10).read():
            return process, url, token
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server never became ready")
