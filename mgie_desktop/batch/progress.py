"""The batch's progress on stderr: photos done, failures and the time left, estimated from the
average time per photo so far in this run. One line redrawn in a terminal; a line per photo
otherwise (logs, CI), so nothing is lost when stderr is a file."""

from __future__ import annotations

import sys
import time

WIDTH = 24


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int, skipped: int = 0, stream=None):
        self.total, self.skipped = total, skipped  # total: photos to do in this run
        self.done = self.failed = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()

    def left(self) -> float | None:
        """Seconds left at this run's pace so far (None before the first photo)."""
        if not self.done:
            return None
        return (time.perf_counter() - self.started) / self.done * (self.total - self.done)

    def line(self, last: str = "") -> str:
        filled = int(WIDTH * self.done / self.total) if self.total else WIDTH
        left = self.left()
        parts = [f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} photos"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append("time left: estimating" if left is None else f"about {clock(left)} left")
        if last:
            parts.append(last)
        return "  ".join(parts)

    def start(self) -> None:
        self.started = time.perf_counter()  # the pace of editing, not of loading the models
        if self.skipped:
            print(f"{self.skipped} photo(s) already done (results file): skipped", file=self.stream)
        if self.tty and self.total:
            self._draw(self.line())

    def photo_done(self, entry: dict) -> None:
        self.done += 1
        self.failed += entry.get("status") != "ok"
        last = f"{entry['photo']}: {'ok' if entry.get('status') == 'ok' else 'FAILED ' + str(entry.get('error'))}"
        if self.tty:
            self._draw(self.line(last if entry.get("status") != "ok" else ""))
            if entry.get("status") != "ok":  # keep failures on screen
                self.stream.write(f"\r\033[K{last}\n")
                self._draw(self.line())
        else:
            print(self.line(last), file=self.stream, flush=True)

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        self.stream.write(f"\r\033[K{text}")
        self.stream.flush()
