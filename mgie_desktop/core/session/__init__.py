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
``limits`` (sizes a hostile file may not exceed), ``manifest`` (session.json, built and checked), ``members`` (safe access to a zip's or a
folder's members), ``png`` (image checks), ``streams`` (capped copying), ``reading``
(open_session), ``writing`` (save_session), ``info`` (session_info, format_session_info).

Pure Python + Pillow: no Qt, no torch.
"""

from __future__ import annotations

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
