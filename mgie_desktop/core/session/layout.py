"""The names inside a session: format id and version, member paths, autosave-only files.

A ``.mgie`` zip and an autosave folder share these names, so writing, reading and autosave
all take them from here.
"""

from __future__ import annotations

FORMAT = "mgie-session"
VERSION = 1  # readers refuse a newer version with a "please update" message
SUFFIX = ".mgie"
APP_LABEL = "MGIE Desktop"

MANIFEST_NAME = "session.json"
ALPHA_NAME = "source/alpha.png"
LOCK_NAME = "lock"  # autosave only: held by the running app
OWNER_NAME = "owner.json"  # autosave only: which process wrote it


def step_member(step_id: int) -> str:
    """Where step ``step_id``'s image lives; the only step name a reader accepts."""
    return f"steps/step-{step_id:05d}.png"
