"""Plain functions behind ``models list [--json]``, ``models download``, ``models verify`` and
``models import-klein``.

Exit codes (core.exit_codes.ExitCode): OK, FAILED (hash mismatch, network give-up, conversion
failed), USAGE (malformed manifest, refused licence, not enough space, unwritable destination),
INTERRUPTED (cancelled).
``manifest`` is a path, a Manifest, or None ($MGIE_MANIFEST, else the shipped manifest).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from mgie_desktop.core.errors import EditCancelled, InputError, MgieError
from mgie_desktop.core.exit_codes import ExitCode
from mgie_desktop.engine.inventory import KLEIN_DIR, check_installed, has_klein, has_plain_ip2p
from mgie_desktop.store.download import RESERVE_BYTES, Downloader
from mgie_desktop.store.errors import LicenseNotAccepted
from mgie_desktop.store.http import DEFAULT_POLICY, RetryPolicy
from mgie_desktop.store.install import (
    free_sources,
    install_klein,
    install_sources,
    sources_dir,
    sources_size,
)
from mgie_desktop.store.manifest import Manifest, load_manifest
from mgie_desktop.store.progress import (
    DONE,
    DOWNLOADING,
    FAILED,
    SKIPPED,
    VERIFYING,
    Progress,
    format_bytes,
    format_seconds,
)
from mgie_desktop.store.state import StoreState
from mgie_desktop.store.verify import CORRUPT, INSTALLED, MISSING, PARTIAL, UNVERIFIED, statuses, verify_files

ManifestSpec = Manifest | str | os.PathLike | None


def download_command(
    manifest: ManifestSpec,
    dest: Path,
    accept_licenses: bool,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    convert: bool = True,
    free_sources: bool | None = None,
    cancel: threading.Event | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    reserve_bytes: int = RESERVE_BYTES,
    with_optional: tuple[str, ...] = (),
) -> ExitCode:
    """``models download``: licences (asked on ``stdin`` unless ``accept_licenses``), download
    with terminal progress, convert into ``dest/bundle``, verify, offer to free the sources.
    ``with_optional``: the optional components to fetch too (``--with ip2p``, ``--with klein``).
    ``free_sources``: True/False decides; None asks when ``stdin`` is a terminal."""
    stdin, out, err = stdin or sys.stdin, out or sys.stdout, err or sys.stderr
    dest = Path(dest).expanduser()
    cancel = cancel or threading.Event()
    try:
        m = load_manifest(manifest).choose(with_optional)
        if _already_converted(m, dest):
            print(
                f"MGIE models are already installed in {dest / 'bundle'} (sources freed); nothing to do",
                file=out,
            )
            return ExitCode.OK
        _accept_licenses(m, accept_licenses, stdin, out)
        downloader = Downloader(
            m, dest, progress=TerminalProgress(out), cancel=cancel, policy=policy, reserve_bytes=reserve_bytes
        )
        plan = downloader.plan()
        unknown = f" (+{plan.unknown_sizes} of unknown size)" if plan.unknown_sizes else ""
        print(
            f"{len(plan.todo)} of {len(plan.files)} files to fetch or check: {format_bytes(plan.need_bytes)}"
            f"{unknown} to download into {dest}",
            file=out,
        )
        result = downloader.run(plan)
        print(
            f"sources complete: {len(result.downloaded)} downloaded, {len(result.reused)} from the Hugging Face "
            f"cache, {len(result.verified) + len(result.skipped)} already present "
            f"({format_bytes(result.bytes)} transferred)",
            file=out,
        )
        if convert:
            print("converting into the app's bundle (this takes a while and needs memory) ...", file=out)
            inventory = install_sources(
                dest,
                log=lambda msg: print(f"  {msg}", file=out),
                with_klein=any(model.id == "klein" for model in m.models),
            )
            print(f"models ready in {dest / 'bundle'} ({len(inventory['files'])} files)", file=out)
            _offer_free(m, dest, free_sources, stdin, out)
        return ExitCode.OK
    except (EditCancelled, KeyboardInterrupt):
        cancel.set()
        print(
            f"\ndownload cancelled; partial files are kept in {dest}: run the command again to resume",
            file=err,
        )
        return ExitCode.INTERRUPTED
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.USAGE
    except MgieError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.FAILED


def manifest_status(manifest: ManifestSpec, dest: Path) -> dict:
    """JSON-able state of every manifest file in ``dest`` (no hashing), for ``models list --json``."""
    m = load_manifest(manifest)
    dest = Path(dest).expanduser()
    state = StoreState(dest)  # the commits unpinned sources were first downloaded from
    by_model: dict[str, list] = {}
    for st in statuses(m, dest):
        by_model.setdefault(st.model_id, []).append(st)
    models, counts = [], {k: 0 for k in (INSTALLED, UNVERIFIED, PARTIAL, MISSING, CORRUPT)}
    for model in m.models:
        files = []
        for entry, st in zip(model.files, by_model[model.id], strict=True):
            counts[st.status] += 1
            files.append(
                {
                    "path": entry.path,
                    "status": st.status,
                    "size": entry.size,
                    "bytes_on_disk": st.bytes_on_disk,
                    "sha256": entry.sha256,
                    "source": state.pinned_source(entry.source).describe(),
                    "detail": st.detail,
                }
            )
        sizes = [f.size for f in model.files]
        models.append(
            {
                "id": model.id,
                "name": model.name,
                "status": model_status([f["status"] for f in files]),
                "license": {"name": model.license.name, "url": model.license.url},
                "size": None if None in sizes else sum(sizes),
                "known_size": model.known_size,
                "expected_size": model.expected_size,
                "bytes_on_disk": sum(f["bytes_on_disk"] for f in files),
                "revision_note": model.revision_note,
                "files": files,
            }
        )
    return {
        "manifest": m.origin,
        "schema": m.schema,
        "models_dir": str(dest),
        "models": models,
        "summary": {"files": len(m.files), **counts},
        "bundle": bundle_state(dest),
    }


def verify_sources(manifest: ManifestSpec, dest: Path) -> list[str]:
    """Re-hash every manifest file in ``dest``; one line per bad file (empty when all good)."""
    return verify_files(load_manifest(manifest), Path(dest).expanduser())


def list_command(
    manifest: ManifestSpec,
    dest: Path,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> ExitCode:
    """``models list [--json]``: installed / missing / corrupt per manifest file, sizes, licences."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        status = manifest_status(manifest, dest)
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.USAGE
    if as_json:
        print(json.dumps(status, indent=1), file=out)
        return ExitCode.OK
    print(f"models directory: {status['models_dir']}  (manifest {status['manifest']})", file=out)
    for model in status["models"]:
        print(f"\n{model['name']} [{model['id']}]: {model['status']}, {_size_text(model)}", file=out)
        print(f"  license: {model['license']['name']} <{model['license']['url']}>", file=out)
        for f in model["files"]:
            detail = f" ({f['detail']})" if f["detail"] else ""
            print(f"  {f['status']:<10} {format_bytes(f['size']):>9}  {f['path']}{detail}", file=out)
    s, b = status["summary"], status["bundle"]
    others = ", ".join(f"{s[k]} {k}" for k in (UNVERIFIED, PARTIAL, MISSING, CORRUPT) if s[k])
    print(
        f"\ndownloaded sources: {s[INSTALLED]} of {s['files']} files" + (f" ({others})" if others else ""),
        file=out,
    )
    # The app runs from the converted bundle; the sources are needed only to (re)build it.
    print(
        "converted bundle: " + ("installed, all the app needs" if b["installed"] else b["detail"]), file=out
    )
    if b["installed"]:
        print(
            "FLUX.2 [klein] (optional second engine): "
            + (
                f"in the bundle ({KLEIN_DIR}/)"
                if b["klein"]
                else "not installed (`models download --with klein`, or `models import-klein DIR`)"
            ),
            file=out,
        )
    return ExitCode.OK


def _size_text(model: dict) -> str:
    """Exact where every size is listed; the manifest's estimate where not; never ">= 0 B"."""
    if model["size"] is not None:
        return format_bytes(model["size"])
    if model["expected_size"] > model["known_size"]:
        return f"about {format_bytes(model['expected_size'])}"
    return f"at least {format_bytes(model['known_size'])}" if model["known_size"] else "size not listed"


def verify_command(
    manifest: ManifestSpec, dest: Path, out: TextIO | None = None, err: TextIO | None = None
) -> ExitCode:
    """``models verify`` for the sources: names each bad file; exit 1 if any."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        bad = verify_sources(manifest, dest)
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.USAGE
    except (EditCancelled, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    for line in bad:
        print(line, file=out)
    print("all source files verify" if not bad else f"{len(bad)} bad file(s)", file=out if not bad else err)
    return ExitCode.OK if not bad else ExitCode.FAILED


class TerminalProgress:
    """Progress lines for a terminal (one line redrawn) or a log (a line every ``interval`` s)."""

    def __init__(self, out: TextIO, interval: float | None = None):
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.25 if self.tty else 10.0)
        self.last, self.key, self.dirty = 0.0, None, False

    def __call__(self, p: Progress) -> None:
        f = p.file
        head = f"[{p.index}/{p.files_total}] {f.path}"
        if f.phase in (DONE, FAILED, SKIPPED):
            self._line(f"{head}: {f.phase}" + (f" - {f.message}" if f.message else ""))
            return
        key = (p.index, f.phase)
        now = time.monotonic()
        if key != self.key:
            self.key = key
            if f.message:
                self._line(f"{head}: {f.message}")
        elif now - self.last < self.interval:
            return
        self.last = now
        if f.phase == DOWNLOADING:
            text = (
                f"{head}  {format_bytes(f.done)} / {format_bytes(f.total)}  {format_bytes(f.speed)}/s  "
                f"left {format_seconds(f.eta)}  | all: {format_bytes(p.done)} / {format_bytes(p.total)}, "
                f"left {format_seconds(p.eta)}"
            )
        elif f.phase == VERIFYING:
            text = f"{head}  verifying {format_bytes(f.done)} / {format_bytes(f.total)}"
        else:
            text = f"{head}  {f.phase}"
        if self.tty:
            self.out.write("\r\x1b[K" + text)
            self.out.flush()
            self.dirty = True
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        if self.dirty:
            self.out.write("\r\x1b[K")
            self.dirty = False
        print(text, file=self.out, flush=True)


def _accept_licenses(m: Manifest, accepted: bool, stdin: TextIO, out: TextIO) -> None:
    for lic, names in m.licenses():
        print(f"License: {lic.name}\n  {lic.url}\n  covers: {', '.join(names)}", file=out)
        if accepted:
            print("  accepted (--accept-licenses)", file=out)
            continue
        print("Do you accept this license? [y/N] ", end="", file=out, flush=True)
        answer = stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            print("", file=out)
            raise LicenseNotAccepted(f"license not accepted: {lic.name}; nothing was downloaded")


def _offer_free(m: Manifest, dest: Path, free: bool | None, stdin: TextIO, out: TextIO) -> None:
    size = sources_size(m, dest)
    if free is None and getattr(stdin, "isatty", lambda: False)():
        print(
            f"The source files in {sources_dir(dest)} ({format_bytes(size)}) are no longer needed. "
            "Delete them? [y/N] ",
            end="",
            file=out,
            flush=True,
        )
        free = stdin.readline().strip().lower() in ("y", "yes")
    if free:
        print(f"freed {format_bytes(free_sources(m, dest))}", file=out)
    elif size:
        print(
            f"the source files in {sources_dir(dest)} ({format_bytes(size)}) are no longer needed "
            "and can be deleted",
            file=out,
        )
    if any(f.source.is_hf for f in m.files):
        print("(files linked from the Hugging Face cache stay in that cache)", file=out)


def _already_converted(m: Manifest, dest: Path) -> bool:
    if not bundle_state(dest)["installed"]:
        return False
    if lacks_optional(m, dest):
        return False  # an optional component was asked for and is not in the bundle yet
    return all(st.status == MISSING for st in statuses(m, dest))


# The optional components and how to tell the installed bundle holds each (its inventory says).
OPTIONAL_IN_BUNDLE = {"ip2p": has_plain_ip2p, "klein": has_klein}


def lacks_optional(m: Manifest, dest: Path) -> bool:
    """Does ``m`` choose an optional component (ip2p, klein) that the bundle in ``dest`` lacks?
    True when there is no readable bundle at all."""
    try:
        return any(
            model.id in OPTIONAL_IN_BUNDLE and not OPTIONAL_IN_BUNDLE[model.id](dest) for model in m.models
        )
    except MgieError:
        return True


def bundle_state(dest: Path) -> dict:
    try:
        inventory = check_installed(dest)
        return {"installed": True, "detail": "", "klein": bool(inventory["model"].get("klein"))}
    except MgieError as exc:
        return {"installed": False, "detail": str(exc), "klein": False}


def import_klein_command(
    src: Path, dest: Path, out: TextIO | None = None, err: TextIO | None = None
) -> ExitCode:
    """``models import-klein DIR``: copy FLUX.2 [klein] from a folder on this computer (the
    diffusers layout, e.g. a Hugging Face cache snapshot) into the installed bundle.
    USAGE for a folder that is not FLUX.2 [klein], no installed bundle, or a full disk;
    FAILED when the copy fails otherwise; INTERRUPTED when stopped (nothing is half-installed)."""
    out, err = out or sys.stdout, err or sys.stderr
    dest = Path(dest).expanduser()
    try:
        inventory = install_klein(Path(src), dest, log=lambda msg: print(f"  {msg}", file=out))
    except (EditCancelled, KeyboardInterrupt):
        print("\nimport cancelled; the bundle is unchanged", file=err)
        return ExitCode.INTERRUPTED
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.USAGE
    except MgieError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.FAILED
    klein = [rel for rel in inventory["files"] if rel.startswith(KLEIN_DIR + "/")]
    print(
        f"FLUX.2 [klein] installed in {dest / 'bundle' / KLEIN_DIR} ({len(klein)} files); "
        "edit with it: `mgie-desktop edit --mode klein`",
        file=out,
    )
    return ExitCode.OK


def model_status(states: list[str]) -> str:
    if CORRUPT in states:
        return CORRUPT
    if all(s == MISSING for s in states):
        return MISSING
    if any(s in (MISSING, PARTIAL) for s in states):
        return "incomplete"
    return UNVERIFIED if UNVERIFIED in states else INSTALLED
