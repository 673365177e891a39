"""The names inside a session: format id and version, member paths, autosave-only files.

A ``.mgie`` zip and an autosave folder share these names, so writing, reading and autosave
all take them from here.
"""

from __future__ import annotations

FORMAT = "mgie-session"
VERSION = 2  # readers refuse a newer version with a "please update" message
# A session is written with the oldest version that holds it: 1 unless it keeps a 16-bit master
# (version 2), so an older MGIE Desktop still opens every session it could read before.
PLAIN_VERSION = 1
SUFFIX = ".mgie"
APP_LABEL = "MGIE Desktop"

MANIFEST_NAME = "session.json"
ALPHA_NAME = "source/alpha.png"
MASTER_NAME = "source/master-16bit.tif"  # the opened photo at 16 bits (core/master.py), version 2
LOCK_NAME = "lock"  # autosave only: held by the running app
OWNER_NAME = "owner.json"  # autosave only: which process wrote it


def step_member(step_id: int) -> str:
    """Where step ``step_id``'s image lives; the only step name a reader accepts."""
    return f"steps/step-{step_id:05d}.png"
