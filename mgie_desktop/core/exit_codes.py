"""The exit statuses of every command (``edit``, ``batch``, ``models``, ...), in one place.

The numbers are a contract: the README's "exit status" sections, scripts and the tests rely on
them, so a member is never renumbered and a new meaning gets a new number.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Done: the edit written, every photo of a batch done, the models installed or verified."""

    FAILED = 1
    """The input was fine but the work failed: some photos of a batch (the rest done), a damaged
    model file, a download that gave up."""

    USAGE = 2
    """Bad input, said in one line before anything is written (and, where possible, before the
    models load); also an output folder or results file that cannot be written."""

    OUTPUT_KEPT = 3
    """``edit``: the output was written, but the ``--session`` could not be saved (a warning says why)."""

    INTERRUPTED = 130
    """Stopped by Ctrl+C or cancelled: what was finished is kept (a batch or a download resumes)."""
