"""Can the download servers be reached? Asked once, in seconds, before a run fetches anything.

Without it an offline machine found out file by file: each waited out its own timeouts and
retries (minutes per file, close to an hour for the whole set). A TCP connection to each host
(or to the proxy the system names for it), tried in parallel with a short timeout, tells in
seconds; a cancel ends the wait at once.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable

from mgie_desktop.store.hashing import check_cancel

TIMEOUT_S = 5.0


def offline_message(hosts: list[str], timeout: float = TIMEOUT_S) -> str:
    """One message for a run that cannot reach its servers: what to check, how to resume, and
    how to install without a network."""
    return (
        f"cannot reach {', '.join(hosts)} (tried for {timeout:g} s): this computer seems to be offline, "
        "or a proxy or firewall is in the way; nothing was lost; check the network connection (and "
        "HTTPS_PROXY if you use a proxy), then press Download again, or run `mgie-desktop models download`: "
        "it resumes where it stopped; without a network, copy the reference's files onto this computer and "
        "use Import from folder… (or `mgie-desktop models import SRC`)"
    )


def _endpoint(url: str) -> tuple[str, int] | None:
    """The host and port a request for ``url`` first connects to: the proxy when one is set."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if proxied.hostname:
            return proxied.hostname, proxied.port or 80
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def server_name(url: str) -> str | None:
    """``host:port`` as ``unreachable`` names it."""
    endpoint = _endpoint(url)
    return None if endpoint is None else f"{endpoint[0]}:{endpoint[1]}"


def connect(host: str, port: int, timeout: float) -> None:
    """Open and close one TCP connection (name lookup included); raises OSError when it cannot."""
    socket.create_connection((host, port), timeout=timeout).close()


def unreachable(
    urls: Iterable[str], timeout: float = TIMEOUT_S, cancel: threading.Event | None = None
) -> list[str]:
    """The hosts (``host:port``) among ``urls`` that cannot be reached within ``timeout``; raises
    EditCancelled at once when ``cancel`` is set meanwhile."""
    endpoints = sorted({e for e in map(_endpoint, urls) if e is not None})
    failed: dict[tuple[str, int], bool] = {}
    done = threading.Event()

    def try_one(endpoint: tuple[str, int]) -> None:
        try:
            connect(*endpoint, timeout)
            ok = True
        except OSError:
            ok = False
        failed[endpoint] = not ok
        if len(failed) == len(endpoints):
            done.set()

    if not endpoints:
        return []
    for endpoint in endpoints:  # daemon threads: a name lookup can outlive its timeout; nobody waits for it
        threading.Thread(target=try_one, args=(endpoint,), name="mgie-reach", daemon=True).start()
    deadline = time.monotonic() + timeout + 1.0
    while not done.wait(0.05) and time.monotonic() < deadline:
        check_cancel(cancel)
    check_cancel(cancel)
    return [f"{host}:{port}" for host, port in endpoints if failed.get((host, port), True)]
