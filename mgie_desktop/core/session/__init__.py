"""Session files (.mgie); autosave and crash recovery reuse this format (core/autosave.py).

A ``.mgie`` file is a zip archive:

* ``session.json``: the versioned manifest (``{"format": "mgie-session", "version": 1, "app",
  "saved", "current", "steps": [...], "source": {...}}``), see ``manifest.build_manifest``;
* ``steps/step-00001.png``: every step's image, lossless, stored uncompressed in the zip
  (``ZIP_STORED``: PNG is already compressed);
* ``source/alpha.png``: the opened photo's transparency, when it had any.

Saving is atomic (temp file in the same folder, fsync, ``os.replace``): a crash or a full disk
leaves the previous file untouched. Opening treats the file as hostile: member names are
checked (no ``..``, absolute paths, drive letters or backslashes), only expected members are
extracted, and only into the work folder, sizes are bounded whatever the archive declares,
images are checked against Pillow's pixel limit, and the history graph is validated. Every
problem is an ``InputError`` saying what is wrong.

Autosave keeps the same layout unzipped in a folder per running session; see core/autosave.py.

The parts: ``layout`` (member names, format version), ``model`` (Session, SourceMeta),
``manifest`` (session.json, built and checked), ``members`` (safe access to a zip's or a
folder's members), ``png`` (image checks), ``streams`` (capped copying), ``reading``
(open_session), ``writing`` (save_session), ``info`` (session_info, format_session_info).

Pure Python + Pillow: no Qt, no torch.
"""

from __future__ import annotations

import os  # noqa: F401  (tests patch os.fsync as session.os.fsync, from before the split)

from .info import format_session_info, session_info
from .layout import (  # noqa: F401  (this module's names before the split; still importable from here)
    ALPHA_NAME,
    APP_LABEL,
    FORMAT,
    LOCK_NAME,
    MANIFEST_NAME,
    OWNER_NAME,
    SUFFIX,
    VERSION,
    step_member,
)
from .model import Session, SourceMeta
from .reading import open_session

# Every copy of session bytes (saving; reading the manifest and images) calls _copy_stream
# through this module, as when it was one file, so replacing it here reaches them all: tests
# make it fail to simulate a disk filling up mid-save.
from .streams import copy_stream as _copy_stream  # noqa: F401
from .writing import save_session

__all__ = [
    "FORMAT",
    "VERSION",
    "SUFFIX",
    "SourceMeta",
    "Session",
    "save_session",
    "open_session",
    "session_info",
    "format_session_info",
]

# Limits for files from elsewhere. Module attributes so a deployment (or a test) can tune them:
# members.py and manifest.py read them from this module on every use, never a copy, so a new
# value applies at once.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_STEPS = 10_000
MAX_TOTAL_BYTES = 32 * 1024**3  # everything extracted from one session
MAX_RATIO = 200  # uncompressed/compressed beyond this (for members over 1 MiB) is a zip bomb
