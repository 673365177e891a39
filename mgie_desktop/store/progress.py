"""Typed progress records for the download, and the meter that computes speed and time left.

The downloader calls ``progress(Progress)`` from its own thread; a GUI forwards the record to
its event loop (records are frozen dataclasses, safe to hand across threads).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# Per-file phases, in the order a file goes through them.
CHECKING, DOWNLOADING, VERIFYING, DONE, SKIPPED, FAILED = (
    "checking",
    "downloading",
    "verifying",
    "done",
    "skipped",
    "failed",
)


@dataclass(frozen=True)
class FileProgress:
    path: str  # manifest path, relative to the models directory
    phase: str  # one of the phase constants above
    done: int  # bytes transferred (downloading) or hashed (verifying) so far
    total: int | None  # bytes in the file, when known
    speed: float = 0.0  # bytes per second (downloading)
    eta: float | None = None  # seconds left for this file
    message: str = ""  # e.g. "linked from the Hugging Face cache", "resuming at 1.2 GB"


@dataclass(frozen=True)
class Progress:
    file: FileProgress
    index: int  # 1-based position of this file among files_total
    files_total: int
    done: int  # bytes downloaded in this run, all files
    total: int | None  # bytes this run has to download (None while some sizes are unknown)
    speed: float  # bytes per second, recent average
    eta: float | None  # seconds left overall

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class RateMeter:
    """Average transfer rate over a sliding window (seconds)."""

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.window, self.clock = window, clock
        self.samples: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, nbytes: int) -> None:
        self.total += nbytes
        now = self.clock()
        self.samples.append((now, self.total))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()

    @property
    def rate(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def eta(self, remaining: int | None) -> float | None:
        rate = self.rate
        return None if remaining is None or rate <= 0 else max(0.0, remaining / rate)


def format_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def format_seconds(s: float | None) -> str:
    if s is None:
        return "--"
    s = int(s + 0.5)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
