"""The downloader: plan what is missing, check the disk, then fetch, verify and place each file.

A file reaches its final name only after its sha256 matched (the manifest's, else the Hub's,
else the hash recorded at its first download). Until then it is ``NAME.part`` (URL sources;
Hugging Face sources resume in the HF cache instead). Runs in a worker thread: ``cancel`` is
checked per chunk, ``progress`` gets a ``Progress`` record at most every ``report_every`` s.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mgie_desktop.store import hf, http, reach
from mgie_desktop.store.errors import (
    DestinationNotWritable,
    DownloadError,
    HashMismatch,
    NotEnoughSpace,
    ServerUnreachable,
)
from mgie_desktop.store.hashing import HASH_CHUNK, check_cancel, git_blob_sha1, sha256_file
from mgie_desktop.store.http import DEFAULT_POLICY, RetryPolicy
from mgie_desktop.store.manifest import FileEntry, Manifest, Source, load_manifest, target_path
from mgie_desktop.store.progress import (
    CHECKING,
    DONE,
    DOWNLOADING,
    FAILED,
    SKIPPED,
    VERIFYING,
    FileProgress,
    Progress,
    ProgressCallback,
    RateMeter,
    format_bytes,
)
from mgie_desktop.store.state import STATE_DIR, StoreState

RESERVE_BYTES = 256 * 1024 * 1024  # kept free on every disk the download writes to

# Plan states of one file.
INSTALLED, UNVERIFIED, CORRUPT, PARTIAL, CACHED, MISSING = (
    "installed",
    "unverified",
    "corrupt",
    "partial",
    "cached",
    "missing",
)


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


@dataclass(frozen=True)
class PlannedFile:
    entry: FileEntry
    target: Path
    state: str  # INSTALLED (verified, untouched) ... MISSING
    have: int  # bytes already there (final file or .part)
    size: int | None  # expected size: the manifest's, else what the server said
    need: int | None  # bytes still to transfer; None when the size is unknown


@dataclass(frozen=True)
class SpaceCheck:
    where: Path  # a directory on the disk concerned
    need: int
    free: int
    reserve: int

    @property
    def ok(self) -> bool:
        return self.need == 0 or self.need + self.reserve <= self.free


@dataclass(frozen=True)
class Plan:
    dest: Path
    files: tuple[PlannedFile, ...]
    space: tuple[SpaceCheck, ...]

    @property
    def todo(self) -> list[PlannedFile]:
        return [f for f in self.files if f.state != INSTALLED]

    @property
    def need_bytes(self) -> int:
        return sum(f.need or 0 for f in self.files)

    @property
    def unknown_sizes(self) -> int:
        return sum(1 for f in self.files if f.need is None)

    @property
    def free_bytes(self) -> int:
        return min((s.free for s in self.space), default=0)

    @property
    def enough_space(self) -> bool:
        return all(s.ok for s in self.space)


@dataclass
class RunResult:
    downloaded: list[str] = field(default_factory=list)  # fetched in this run
    reused: list[str] = field(default_factory=list)  # linked or copied from the Hugging Face cache
    verified: list[str] = field(default_factory=list)  # already on disk, hashed and accepted
    skipped: list[str] = field(default_factory=list)  # verified earlier and untouched
    bytes: int = 0


class Downloader:
    """``Downloader(manifest, dest, progress=callback, cancel=event).run()``.

    ``manifest`` is a Manifest or a path (None: ``$MGIE_MANIFEST`` or the shipped one);
    ``dest`` the models directory (files go to ``dest/<manifest path>``).
    """

    def __init__(
        self,
        manifest: Manifest | str | os.PathLike | None,
        dest: Path,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        reserve_bytes: int = RESERVE_BYTES,
        probe_sizes: bool = True,
        report_every: float = 0.1,
        hash_chunk: int = HASH_CHUNK,
        reach_timeout: float = reach.TIMEOUT_S,
    ):
        self.manifest = load_manifest(manifest)
        self.dest = Path(dest).expanduser()
        self.progress, self.cancel = progress, cancel or threading.Event()
        self.policy, self.reserve, self.probe_sizes = policy, reserve_bytes, probe_sizes
        self.report_every, self.hash_chunk = report_every, hash_chunk
        self.targets = {e.path: target_path(self.dest, e.path) for e in self.manifest.files}
        self.reach_timeout = reach_timeout
        self._down: set[str] | None = None  # servers found unreachable by plan(), asked once

    # -- planning --------------------------------------------------------------------------

    def plan(self) -> Plan:
        """What is installed, partial or missing, the bytes to fetch and the free space (cheap:
        no hashing; sizes missing from the manifest are asked of the servers when allowed)."""
        state = StoreState(self.dest)
        if (
            self.probe_sizes and self._down is None
        ):  # sizes are asked of the servers: only of those that answer
            unsized = [
                e for e in self.manifest.files if e.size is None and not self.targets[e.path].is_file()
            ]
            self._down = set(reach.unreachable(map(_server, unsized), self.reach_timeout, self.cancel))
        files = [self._plan_file(entry, state) for entry in self.manifest.files]
        return Plan(self.dest, tuple(files), self._space(files))

    def _plan_file(self, entry: FileEntry, state: StoreState) -> PlannedFile:
        target = self.targets[entry.path]
        size = entry.size
        if target.is_file():
            have = target.stat().st_size
            if size is not None and have != size:
                return PlannedFile(
                    entry, target, CORRUPT, 0, size, self._need(state.pinned_source(entry.source), size, 0)
                )
            expected = entry.sha256 or state.recorded_sha256(entry.path)
            recorded = state.recorded_sha256(entry.path)
            if state.unchanged(entry.path, target) and recorded and recorded == expected:
                return PlannedFile(entry, target, INSTALLED, have, have, 0)
            return PlannedFile(entry, target, UNVERIFIED, have, size or have, 0)
        part = part_path(target)
        source = state.pinned_source(entry.source)  # at the commit of its first download, if unpinned
        if not entry.source.is_hf and part.is_file():
            have = part.stat().st_size
            size = size if size is not None else self._probe(entry)
            return PlannedFile(
                entry, target, PARTIAL, have, size, None if size is None else max(0, size - have)
            )
        if entry.source.is_hf and hf.cached_file(source) is not None:
            return PlannedFile(entry, target, CACHED, 0, size, 0)
        size = size if size is not None else self._probe(entry)
        return PlannedFile(entry, target, MISSING, 0, size, size)

    def _need(self, source: Source, size: int | None, have: int) -> int | None:
        if source.is_hf and hf.cached_file(source) is not None:
            return 0
        return None if size is None else max(0, size - have)

    def _probe(self, entry: FileEntry) -> int | None:
        if not self.probe_sizes or reach.server_name(_server(entry)) in (self._down or set()):
            return None
        if entry.source.is_hf:
            return hf.remote_size(entry.source)
        return http.probe_size(entry.source.url, timeout=min(15.0, self.policy.stall_timeout))

    def _space(self, files: list[PlannedFile]) -> tuple[SpaceCheck, ...]:
        estimates = self._estimated_sizes()
        needs: dict[Path, int] = {}
        for f in files:
            if f.state == INSTALLED:
                continue
            where = hf.cache_dir() if f.entry.source.is_hf else self.dest
            need = f.need if f.need is not None else max(0, estimates.get(f.entry.path, 0) - f.have)
            needs[where] = needs.get(where, 0) + need
        by_disk: dict[int, tuple[Path, int]] = {}
        for where, need in needs.items():
            anchor = existing_ancestor(where)
            dev = anchor.stat().st_dev
            prev = by_disk.get(dev)
            by_disk[dev] = (prev[0] if prev else anchor, (prev[1] if prev else 0) + need)
        checks = []
        for anchor, need in by_disk.values():
            checks.append(SpaceCheck(anchor, need, shutil.disk_usage(anchor).free, self.reserve))
        return tuple(checks)

    def _estimated_sizes(self) -> dict[str, int]:
        """Bytes to expect of each file whose size nobody knows: its model's ``approx_size`` less
        the sizes that are listed, shared among those files (counting them as 0 let a download
        start that could never fit)."""
        estimates = {}
        for model in self.manifest.models:
            unsized = [f for f in model.files if f.size is None]
            if unsized and model.approx_size:
                share = max(0, model.approx_size - model.known_size) // len(unsized)
                estimates.update({f.path: share for f in unsized})
        return estimates

    # -- running ---------------------------------------------------------------------------

    def run(self, plan: Plan | None = None) -> RunResult:
        """Fetch everything the plan lacks. Raises NotEnoughSpace / DestinationNotWritable before
        any transfer, EditCancelled when cancelled, and after trying every file, HashMismatch
        or DownloadError naming each file that failed."""
        check_cancel(self.cancel)
        self._ensure_writable()
        plan = plan or self.plan()
        short = [s for s in plan.space if not s.ok]
        if short:
            s = short[0]
            raise NotEnoughSpace(
                f"not enough disk space in {s.where}: the download needs {format_bytes(s.need)} "
                f"(plus {format_bytes(s.reserve)} to spare) but only {format_bytes(s.free)} are free"
            )
        todo = [f for f in plan.files if f.state != INSTALLED]
        uncached = [f.entry.path for f in todo if f.entry.source.is_hf and f.state in (MISSING, CORRUPT)]
        if uncached and hf.offline():
            raise DownloadError(
                f"Hugging Face offline mode is on (HF_HUB_OFFLINE) and {len(uncached)} file(s) are "
                f"not in its cache ({_some(uncached)}): go online, or turn offline mode off"
            )
        self._check_servers([f.entry for f in todo if f.state in (MISSING, CORRUPT, PARTIAL)])
        unknown = any(f.need is None for f in todo)
        self._report = _Reporter(
            self.progress, len(plan.files), None if unknown else plan.need_bytes, self.report_every
        )
        state = StoreState(self.dest)
        result, failures, mismatch = RunResult(), [], False
        for index, pf in enumerate(plan.files, 1):
            check_cancel(self.cancel)
            if pf.state == INSTALLED:
                self._report.file(index, pf.entry.path, SKIPPED, pf.have, pf.have, "already verified")
                result.skipped.append(pf.entry.path)
                continue
            try:
                outcome = self._get(index, pf, state)
            except (HashMismatch, DownloadError) as exc:
                if not isinstance(exc, HashMismatch):
                    self._check_servers([pf.entry])  # the network went away: stop the run, not just this file
                self._report.file(index, pf.entry.path, FAILED, 0, pf.size, str(exc))
                failures.append(str(exc))
                mismatch = mismatch or isinstance(exc, HashMismatch)
                continue
            getattr(result, outcome).append(pf.entry.path)
        result.bytes = self._report.meter.total
        if failures:
            kind = HashMismatch if mismatch else DownloadError
            raise kind(f"{len(failures)} file(s) failed: {_some(failures, sep='; ')}")
        return result

    def _check_servers(self, entries: list[FileEntry]) -> None:
        """ServerUnreachable, in seconds, when the servers these files come from do not answer
        (servers the plan already found silent are not asked again)."""
        servers = {_server(e) for e in entries}
        known = sorted({reach.server_name(s) for s in servers} & (self._down or set()))
        down = known or reach.unreachable(servers, self.reach_timeout, self.cancel)
        if down:
            raise ServerUnreachable(reach.offline_message(down, self.reach_timeout))

    def _ensure_writable(self) -> None:
        probe = self.dest / STATE_DIR / f"probe-{os.getpid()}-{threading.get_ident()}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise DestinationNotWritable(
                f"cannot write to the models directory {self.dest}: {exc.strerror or exc}; "
                "choose another directory with --dest"
            ) from None

    def _get(self, index: int, pf: PlannedFile, state: StoreState) -> str:
        entry, target, rel = pf.entry, pf.target, pf.entry.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationNotWritable(f"cannot create {target.parent}: {exc.strerror or exc}") from None
        if pf.state == UNVERIFIED:
            expected = entry.sha256 or state.recorded_sha256(rel)
            if expected is not None or not entry.source.is_hf:
                digest = self._hash(index, rel, target)
                if expected is None or digest == expected:
                    how = (
                        "manifest"
                        if entry.sha256
                        else (state.get(rel) or {}).get("hash_source", "first-download")
                    )
                    state.put(rel, target, digest, how)
                    self._report.file(index, rel, DONE, pf.have, pf.have, "already present, verified")
                    return "verified"
                self._report.file(index, rel, CHECKING, 0, pf.size, "present but corrupt: fetching it again")
                _remove(target)
        if pf.state == CORRUPT or (target.is_symlink() and not target.exists()):
            _remove(target)
        if entry.source.is_hf:
            return self._get_hf(index, pf, state)
        self._get_url(index, pf, state)
        return "downloaded"

    def _get_url(self, index: int, pf: PlannedFile, state: StoreState) -> None:
        entry, rel = pf.entry, pf.entry.path
        part = part_path(pf.target)
        have = part.stat().st_size if part.is_file() else 0
        self._report.file(
            index, rel, DOWNLOADING, have, pf.size, f"resuming at {format_bytes(have)}" if have else ""
        )
        http.fetch_url(
            entry.source.url,
            part,
            expected_size=entry.size,
            label=rel,
            on_bytes=lambda n: self._report.bytes(index, rel, n, pf.size),
            cancel=self.cancel,
            policy=self.policy,
        )
        recorded = state.recorded_sha256(rel)
        expected, how = (entry.sha256, "manifest") if entry.sha256 else (recorded, "first-download")
        self._finish(index, rel, part, pf.target, expected, how, state)

    def _get_hf(self, index: int, pf: PlannedFile, state: StoreState) -> str:
        entry, rel = pf.entry, pf.entry.path
        self._report.file(
            index,
            rel,
            DOWNLOADING,
            0,
            pf.size,
            "from the Hugging Face cache" if pf.state in (CACHED, UNVERIFIED) else "",
        )

        def on_bytes(n: int) -> None:
            self._report.bytes(index, rel, n, pf.size)

        source = state.pinned_source(entry.source)
        cached = hf.fetch(source, rel, cancel=self.cancel, on_bytes=on_bytes, policy=self.policy)
        if not source.pinned:  # the manifest names a branch: its first download pins the commit
            commit = hf.snapshot_commit(cached, entry.source.hf_path or "")
            if commit:
                state.pin(entry.source, commit)
        try:
            digest, how = self._check_hf(index, rel, entry, cached, state)
        except HashMismatch:
            # A damaged cache entry: fetch it afresh once, then the mismatch is final.
            cached = hf.fetch(
                source, rel, cancel=self.cancel, on_bytes=on_bytes, force=True, policy=self.policy
            )
            digest, how = self._check_hf(index, rel, entry, cached, state)
        if pf.target.is_file() and not pf.target.is_symlink() and os.path.samefile(pf.target, cached):
            linked = "hardlink"
        else:
            _remove(pf.target)
            linked = hf.place(cached, pf.target)
        if linked is None:
            part = part_path(pf.target)
            try:
                shutil.copyfile(os.path.realpath(cached), part)
            except OSError as exc:
                raise http._write_error(exc, part) from None
            self._finish(index, rel, part, pf.target, digest, how, state)
            return "reused"
        state.put(rel, pf.target, digest, how)
        self._report.file(
            index, rel, DONE, pf.target.stat().st_size, pf.size, f"{linked} to the Hugging Face cache"
        )
        return "reused" if pf.state in (CACHED, UNVERIFIED) else "downloaded"

    def _check_hf(
        self, index: int, rel: str, entry: FileEntry, cached: Path, state: StoreState
    ) -> tuple[str, str]:
        digest = self._hash(index, rel, cached)
        hub = hf.hub_hash(cached)
        if entry.sha256:
            expected, how = entry.sha256, "manifest"
        elif hub and hub[0] == "hub-lfs":
            expected, how = hub[1], "hub-lfs"
        elif hub and hub[0] == "hub-git":
            if git_blob_sha1(cached, self.cancel) != hub[1]:
                raise HashMismatch(
                    f"{rel}: the Hugging Face cache copy does not match the Hub's git hash {hub[1]}"
                )
            return digest, "hub-git"
        else:
            expected, how = state.recorded_sha256(rel), "first-download"
        if expected is not None and digest != expected:
            raise HashMismatch(
                f"{rel}: sha256 {digest} does not match the expected {expected} "
                f"({'the manifest' if how == 'manifest' else how})"
            )
        return digest, how

    def _finish(
        self,
        index: int,
        rel: str,
        part: Path,
        target: Path,
        expected: str | None,
        how: str,
        state: StoreState,
    ) -> None:
        digest = self._hash(index, rel, part)
        if expected is not None and digest != expected:
            part.unlink(missing_ok=True)
            hint = (
                ""
                if how == "manifest"
                else f" (hash recorded earlier; delete {state.path} if the source changed)"
            )
            raise HashMismatch(
                f"{rel}: sha256 {digest} does not match the expected {expected}{hint}; "
                "the bad download was deleted, run again to fetch it afresh"
            )
        try:
            os.replace(part, target)
        except OSError as exc:
            raise http._write_error(exc, target) from None
        state.put(rel, target, digest, how)
        size = target.stat().st_size
        self._report.file(index, rel, DONE, size, size, "verified")

    def _hash(self, index: int, rel: str, path: Path) -> str:
        size = path.stat().st_size
        done = 0

        def on_bytes(n: int) -> None:
            nonlocal done
            done += n
            self._report.file(index, rel, VERIFYING, done, size, throttle=True)

        self._report.file(index, rel, VERIFYING, 0, size)
        return sha256_file(path, self.cancel, on_bytes, self.hash_chunk)


class _Reporter:
    def __init__(self, callback: ProgressCallback | None, files_total: int, total: int | None, every: float):
        self.callback, self.files_total, self.total, self.every = callback, files_total, total, every
        self.meter, self.file_meter = RateMeter(), RateMeter()
        self.current: tuple[int, str] | None = None
        self.file_done, self.last = 0, 0.0

    def bytes(self, index: int, rel: str, n: int, size: int | None) -> None:
        if self.current != (index, rel):
            self.current, self.file_done, self.file_meter = (index, rel), 0, RateMeter()
        self.meter.add(n)
        self.file_meter.add(n)
        self.file_done += n
        self.file(index, rel, DOWNLOADING, self.file_done, size, throttle=True)

    def file(
        self,
        index: int,
        rel: str,
        phase: str,
        done: int,
        total: int | None,
        message: str = "",
        throttle: bool = False,
    ) -> None:
        if phase == DOWNLOADING and not throttle:
            self.current, self.file_done, self.file_meter = (index, rel), done, RateMeter()
        if self.callback is None:
            return
        now = time.monotonic()
        if throttle and now - self.last < self.every:
            return
        self.last = now
        downloading = phase == DOWNLOADING
        speed = self.file_meter.rate if downloading else 0.0
        eta = self.file_meter.eta(None if total is None else total - done) if downloading else None
        remaining = None if self.total is None else max(0, self.total - self.meter.total)
        self.callback(
            Progress(
                file=FileProgress(rel, phase, done, total, speed, eta, message),
                index=index,
                files_total=self.files_total,
                done=self.meter.total,
                total=self.total,
                speed=self.meter.rate,
                eta=self.meter.eta(remaining),
            )
        )


def _server(entry: FileEntry) -> str:
    """The address a file is fetched from (for Hub files, the Hub's)."""
    return hf.endpoint() if entry.source.is_hf else entry.source.url


def _some(items: list[str], shown: int = 3, sep: str = ", ") -> str:
    more = f"{sep}and {len(items) - shown} more" if len(items) > shown else ""
    return sep.join(items[:shown]) + more


def existing_ancestor(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise DestinationNotWritable(f"cannot replace {path}: {exc.strerror}") from None
        raise


__all__ = ["Downloader", "Plan", "PlannedFile", "RunResult", "SpaceCheck", "part_path"]
