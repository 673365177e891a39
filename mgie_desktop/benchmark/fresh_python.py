"""Measurements that need a fresh interpreter (start-up, a clean heap) run a script in one."""

from __future__ import annotations

import os
import subprocess
import sys


class NotMeasurable(Exception):
    """This measure cannot run here; the message says why (reported, not raised to the user)."""


def run_script(script: str, *args: str, timeout: float, env: dict | None = None) -> str:
    """``script``'s standard output. The installed app is frozen: its executable is the app,
    not a Python that takes ``-c``, so there the measure is not made."""
    if getattr(sys, "frozen", False):
        raise NotMeasurable("not measured: the installed app has no separate Python to start")
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            env=env or dict(os.environ),
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise NotMeasurable(f"not measured: the measuring script took over {timeout:.0f} s") from exc
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
        raise NotMeasurable(f"not measured: the measuring script failed ({last[0]})") from exc
    return done.stdout
