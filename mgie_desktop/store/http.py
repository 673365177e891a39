"""Plain URL sources, with the standard library only: download into a ``.part`` file, resume
with HTTP Range after a dropped connection (in this run and the next), retry with backoff,
give up on a stall. The caller hashes the finished ``.part`` and renames it.
"""

from __future__ import annotations

import errno
import http.client
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mgie_desktop import __version__
from mgie_desktop.store.errors import DestinationNotWritable, DownloadError, NotEnoughSpace
from mgie_desktop.store.hashing import check_cancel

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5  # attempts in a row that may fail without any new byte
    backoff: float = 1.0  # first wait, doubled after each failure
    max_backoff: float = 30.0
    stall_timeout: float = 60.0  # seconds without a byte (connect or read) before an attempt fails
    chunk_size: int = 1024 * 1024


DEFAULT_POLICY = RetryPolicy()


class _Transient(Exception):
    def __init__(self, message: str, written: int = 0, stalled: bool = False):
        super().__init__(message)
        self.written, self.stalled = written, stalled


def open_part(path: Path, mode: str):
    """Opens the ``.part`` file (a seam for tests that simulate a full disk)."""
    return open(path, mode)


def probe_size(url: str, timeout: float = 15.0) -> int | None:
    """Content-Length from a HEAD request; None when the server does not say."""
    req = urllib.request.Request(url, method="HEAD", headers=_headers())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def fetch_url(
    url: str,
    part: Path,
    *,
    expected_size: int | None,
    label: str,
    on_bytes: Callable[[int], None] = lambda n: None,
    cancel: threading.Event | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> int:
    """Complete ``part`` from ``url`` (resuming whatever it holds); return its size.

    Raises DownloadError when the server fails for good, stalls or disagrees on the size,
    EditCancelled when ``cancel`` is set (checked per chunk), NotEnoughSpace on a full disk.
    The ``.part`` file is kept in every case except a size disagreement.
    """
    failures = 0
    while True:
        check_cancel(cancel)
        have = _size(part)
        if expected_size is not None and have > expected_size:
            _truncate(part)  # longer than the file can be: not ours to keep
            have = 0
        if expected_size is not None and have == expected_size:
            return have
        try:
            return _attempt(url, part, have, expected_size, label, on_bytes, cancel, policy)
        except _Transient as exc:
            failures = 0 if exc.written else failures + 1
            if failures > policy.retries:
                what = (
                    f"stalled (no data for {policy.stall_timeout:g} s)" if exc.stalled else f"failed: {exc}"
                )
                kept = _size(part)
                raise DownloadError(
                    f"download of {label} {what}; gave up after {policy.retries + 1} tries in a row"
                    + (f" ({kept} bytes kept in {part.name}; run again to resume)" if kept else "")
                ) from None
            delay = min(policy.max_backoff, policy.backoff * 2 ** max(0, failures - 1))
            if cancel is not None and cancel.wait(delay):
                check_cancel(cancel)
            elif cancel is None and delay > 0:
                threading.Event().wait(delay)


def _attempt(url, part, have, expected_size, label, on_bytes, cancel, policy) -> int:
    headers = _headers()
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=policy.stall_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            m = _UNSATISFIED_RANGE.search(exc.headers.get("Content-Range", ""))
            if m and int(m.group(1)) == have and expected_size in (None, have):
                return have  # the .part already holds the whole file
            _truncate(part)
            raise _Transient("the server refused to resume; starting over") from None
        if exc.code in RETRY_STATUS or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"cannot download {label}: {url} answered HTTP {exc.code} {exc.reason}") from None
    except TimeoutError as exc:
        raise _Transient(f"no answer from the server ({exc})", stalled=True) from None
    except urllib.error.URLError as exc:
        stalled = isinstance(exc.reason, TimeoutError)
        raise _Transient(f"cannot reach {_host(url)}: {exc.reason}", stalled=stalled) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"connection failed: {exc}") from None

    with resp:
        if resp.status == 206:
            m = _CONTENT_RANGE.search(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                _truncate(part)
                raise _Transient("the server resumed at the wrong offset; starting over")
            total = int(m.group(3)) if m.group(3) != "*" else None
            mode = "ab"
        elif resp.status == 200:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            have, mode = 0, "wb"  # the server ignored Range (or this is a fresh start)
        else:
            raise DownloadError(f"cannot download {label}: unexpected HTTP {resp.status} from {url}")
        if expected_size is not None and total is not None and total != expected_size:
            _truncate(part)
            raise DownloadError(
                f"{url} serves {total} bytes but the manifest expects {expected_size} for {label}: "
                "the manifest is out of date or the URL is wrong"
            )
        remaining = None if total is None else total - have
        written = 0
        try:
            f = open_part(part, mode)
        except OSError as exc:
            raise _write_error(exc, part) from None
        with f:
            while remaining is None or written < remaining:
                check_cancel(cancel)
                want = policy.chunk_size if remaining is None else min(policy.chunk_size, remaining - written)
                try:
                    chunk = resp.read1(want)  # what has arrived: a stall loses nothing
                except TimeoutError:
                    raise _Transient("stalled", written, stalled=True) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"connection dropped ({exc})", written) from None
                if not chunk:
                    break
                try:
                    f.write(chunk)
                    f.flush()
                except OSError as exc:
                    raise _write_error(exc, part) from None
                written += len(chunk)
                on_bytes(len(chunk))
        if remaining is not None and written < remaining:
            raise _Transient(f"connection closed after {have + written} of {total} bytes", written)
        return have + written


def _write_error(exc: OSError, part: Path) -> Exception:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return NotEnoughSpace(
            f"the disk is full while writing {part}; free some space and run again to resume"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DestinationNotWritable(f"cannot write {part}: {exc.strerror}")
    return DownloadError(f"cannot write {part}: {exc}")


def _headers() -> dict[str, str]:
    return {"User-Agent": f"mgie-desktop/{__version__}", "Accept-Encoding": "identity"}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _truncate(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _host(url: str) -> str:
    return urllib.parse.urlparse(url).netloc or url
