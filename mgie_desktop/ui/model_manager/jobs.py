"""What the dialog asks the store worker to do, and what comes back.

Plain frozen records (no Qt, no widgets): they cross from the GUI thread to the worker's
thread and back through queued signals, so neither side can change what the other holds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mgie_desktop.store.verify import INSTALLED, MISSING, PARTIAL, UNVERIFIED, FileStatus

# Jobs the worker runs, one at a time.
REFRESH, DOWNLOAD, VERIFY, REPAIR, FREE, IMPORT = "refresh", "download", "verify", "repair", "free", "import"
# Outcomes of a job.
OK, FAILED_JOB, CANCELLED = "ok", "failed", "cancelled"
# Phases the worker reports while a job runs.
PLANNING, TRANSFER, CONVERTING, CHECKING_FILES, FREEING = (
    "planning",
    "downloading",
    "converting",
    "verifying",
    "freeing",
)


@dataclass(frozen=True)
class Job:
    op: str  # REFRESH | DOWNLOAD | VERIFY | REPAIR | FREE | IMPORT
    cancel: threading.Event  # set from the GUI thread (Pause, Cancel, closing)
    repair: tuple[str, ...] = ()  # REPAIR: manifest paths to delete before downloading again
    source: str = ""  # IMPORT: the folder holding the reference's files, or FLUX.2 [klein]


@dataclass(frozen=True)
class StoreSnapshot:
    """The models directory as the worker last saw it (no hashing)."""

    files: tuple[FileStatus, ...]
    bundle_installed: bool
    bundle_detail: str  # why the bundle is not installed
    free_bytes: int | None  # free space on the models directory's disk
    free_where: str
    sources_bytes: int  # what "Free source files" would give back
    lacks_optional: bool = False  # an optional component was chosen and the bundle lacks it

    @property
    def by_path(self) -> dict[str, FileStatus]:
        return {f.path: f for f in self.files}

    @property
    def sources_freed(self) -> bool:
        return (
            self.bundle_installed and not self.lacks_optional and all(f.status == MISSING for f in self.files)
        )

    @property
    def need_bytes(self) -> int | None:
        """Bytes still to download (None when a size is unknown); 0 once the sources are freed."""
        if self.sources_freed:
            return 0
        need = 0
        for f in self.files:
            if f.status in (INSTALLED, UNVERIFIED):
                continue
            if f.expected_size is None:
                return None
            need += max(0, f.expected_size - (f.bytes_on_disk if f.status == PARTIAL else 0))
        return need


@dataclass(frozen=True)
class VerifyReport:
    bad: tuple[tuple[str, str], ...]  # (manifest path, what is wrong) for each bad source file
    bundle_problems: tuple[str, ...]  # what is wrong with the converted bundle

    @property
    def ok(self) -> bool:
        return not self.bad and not self.bundle_problems


@dataclass(frozen=True)
class JobOutcome:
    op: str
    status: str  # OK | FAILED_JOB | CANCELLED
    message: str = ""
    details: str = ""
    result: object = None  # DOWNLOAD/REPAIR: the bundle inventory (None: nothing to do);
    # VERIFY: a VerifyReport; FREE: bytes freed
