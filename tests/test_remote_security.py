"""Who may use a server: tokens (made owner-only when listening beyond loopback), and TLS."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import torch
from aiohttp import web

from mgie_desktop.core.errors import InputError
from mgie_desktop.remote.client import RemoteClient, RemoteError
from mgie_desktop.remote.security import bearer, is_loopback, server_tls, server_token, token_matches
from mgie_desktop.remote.server import EngineHost, Limits, make_app


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_token_is_made_once_owner_only_on_loopback_too(tmp_path, monkeypatch, host):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("workstation.lan")
    monkeypatch.setattr(
        "mgie_desktop.remote.security.default_token_file", lambda: tmp_path / "cfg" / "server-token"
    )
    token, path, made = server_token(None, host)
    assert made and path == tmp_path / "cfg" / "server-token" and len(token) >= 32
    assert os.stat(path).st_mode & 0o077 == 0  # nobody else can read it
    assert server_token(None, host) == (token, path, False)  # the same token next time


def test_no_token_is_an_explicit_choice_and_only_on_loopback(tmp_path):
    assert server_token(None, "127.0.0.1", required=False) == (None, None, False)
    with pytest.raises(InputError, match="only for a loopback"):
        server_token(None, "0.0.0.0", required=False)
    with pytest.raises(InputError, match="contradict"):
        server_token(tmp_path / "token", "127.0.0.1", required=False)


def test_a_token_file_is_not_overwritten_when_it_appears_between_check_and_write(tmp_path):
    from mgie_desktop.remote.security import write_token

    path = tmp_path / "server-token"
    path.write_text("someone-elses-token-0123456789\n")
    with pytest.raises(FileExistsError):
        write_token(path)  # O_EXCL: never truncates or follows what is already there
    assert path.read_text() == "someone-elses-token-0123456789\n"


def test_the_local_servers_token_is_found_for_loopback_addresses_only(tmp_path, monkeypatch):
    from mgie_desktop.remote.security import local_server_token, write_token

    monkeypatch.setattr("mgie_desktop.remote.security.default_token_file", lambda: tmp_path / "server-token")
    assert local_server_token("http://127.0.0.1:8765") is None  # none made yet
    token = write_token(tmp_path / "server-token")
    assert local_server_token("http://127.0.0.1:8765") == token == local_server_token("http://localhost:1")
    assert local_server_token("http://workstation:8765") is None  # never sent to another computer
    given = tmp_path / "mine"
    given.write_text("short")
    with pytest.raises(InputError, match="too short"):
        server_token(given, "127.0.0.1")


def test_tokens_compare_whole_and_only_as_bearer():
    assert token_matches("a" * 20, "a" * 20) and not token_matches("a" * 20, "a" * 19)
    assert not token_matches("a" * 20, "\udcff" * 20) and not token_matches("a" * 20, "é" * 20)  # not ASCII
    assert bearer("Bearer xyz") == "xyz" and bearer("xyz") == "" and bearer(None) == ""


def test_tls_needs_both_halves():
    with pytest.raises(InputError, match="both"):
        server_tls(None, Path("key.pem"))


class _Engine:
    """Just enough of an engine for /info: the TLS handshake is what is under test."""

    device, dtype, load_seconds = torch.device("cpu"), torch.float32, 0.0

    def warm_up(self, cancel=None):
        return 0.0

    def memory_report(self):
        return {"placement": "all", "llm_quant": "none"}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_with_the_servers_own_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    started, stop = threading.Event(), threading.Event()
    where = {}

    def serve():
        async def main():
            host = EngineHost(lambda progress, cancel: _Engine(), Limits())
            runner = web.AppRunner(make_app(host, "t" * 20))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls(cert, key))
            await site.start()
            where["port"] = runner.addresses[0][1]
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert started.wait(30)
        url = f"https://127.0.0.1:{where['port']}"

        async def ask(ca):
            async with RemoteClient(url, "t" * 20, ca) as client:
                return await client.info()

        assert asyncio.run(ask(cert))["server"] == "mgie-desktop"
        with pytest.raises(RemoteError):  # an unknown certificate is not trusted by default
            asyncio.run(ask(None))
    finally:
        stop.set()
        thread.join(30)
