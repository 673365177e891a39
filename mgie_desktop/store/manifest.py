"""The models manifest: which files MGIE needs, where they come from, their sizes and hashes.

Format (``schema`` 1)::

    {"schema": 1,
     "models": [{"id": "...", "name": "...", "license": {"name": "...", "url": "..."},
                 "revision_note": "...",              # optional; required for an unpinned revision
                 "optional": true,                    # optional; downloaded only with --with ID
                 "files": [{"path": "sources/...",    # relative to the models directory
                            "size": 123 | null, "sha256": "<64 hex>" | null, "note": "...",
                            "source": {"url": "https://..."}
                                   | {"hf_repo": "owner/name", "revision": "<commit>", "hf_path": "...",
                                      "repo_type": "model"}}]}]}

A Hub ``revision`` is a full commit id, or (with a ``revision_note`` saying why) a branch name or
null for the default branch: such a source is pinned at its first download, to the commit the
Hub served, which ``.mgie-store/verified.json`` records and every later fetch of that repository
uses (``StoreState.pinned_source``).

Paths are checked on load: relative, forward slashes, no ``..``/``.``/hidden components, no
drive letters; ``target_path`` checks again against the real directory (symlinked parents).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mgie_desktop.store.errors import ManifestError
from mgie_desktop.store.progress import format_bytes

SCHEMA = 1
MANIFEST_ENV = "MGIE_MANIFEST"
MANIFEST_NAME = "models_manifest.json"
SOURCES_DIR = "sources"
REPO_TYPES = ("model", "dataset", "space")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_HF_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class License:
    name: str
    url: str


@dataclass(frozen=True)
class Source:
    """Either a plain ``url`` or a Hugging Face file (``hf_repo`` at ``revision``, ``hf_path``)."""

    url: str | None = None
    hf_repo: str | None = None
    revision: str | None = None
    hf_path: str | None = None
    repo_type: str = "model"

    @property
    def is_hf(self) -> bool:
        return self.hf_repo is not None

    @property
    def pinned(self) -> bool:
        return not self.is_hf or bool(_COMMIT.fullmatch(self.revision or ""))

    def describe(self) -> str:
        if self.is_hf:
            kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
            return f"hf://{kind}{self.hf_repo}@{self.revision or 'main'}/{self.hf_path}"
        return str(self.url)

    @property
    def repo_key(self) -> str:
        """The repository and the revision asked for: what a first download's commit is recorded under."""
        return f"{self.repo_type}:{self.hf_repo}@{self.revision or ''}"


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int | None
    sha256: str | None
    source: Source
    model_id: str
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    license: License
    files: tuple[FileEntry, ...]
    revision_note: str = ""
    note: str = ""
    approx_size: int | None = None  # bytes, for models whose file sizes are not all listed
    optional: bool = False  # downloaded only when asked for (``models download --with ID``)

    @property
    def known_size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def expected_size(self) -> int:
        """The exact size when every file's is listed, else the model's approximate size."""
        if all(f.size is not None for f in self.files) or self.approx_size is None:
            return self.known_size
        return max(self.approx_size, self.known_size)


@dataclass(frozen=True)
class Manifest:
    schema: int
    models: tuple[ModelEntry, ...]
    origin: str = "<memory>"

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ManifestError(f"manifest not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"malformed manifest {path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, origin=str(path))

    @classmethod
    def from_dict(cls, data: object, origin: str = "<memory>") -> Manifest:
        return _parse(data, origin)

    @property
    def files(self) -> list[FileEntry]:
        return [f for m in self.models for f in m.files]

    @property
    def optional_ids(self) -> list[str]:
        return [m.id for m in self.models if m.optional]

    def choose(self, optional: tuple[str, ...] | list[str] = ()) -> Manifest:
        """The models a download fetches: every required one, and the optional ones named."""
        unknown = sorted(set(optional) - set(self.optional_ids))
        if unknown:
            known = ", ".join(self.optional_ids) or "none"
            raise ManifestError(
                f"unknown optional component {', '.join(unknown)}; the manifest offers: {known}"
            )
        return Manifest(
            self.schema, tuple(m for m in self.models if not m.optional or m.id in optional), self.origin
        )

    def model(self, model_id: str) -> ModelEntry:
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(model_id)

    @property
    def expected_size(self) -> int:
        """What a full download takes (exact where sizes are listed, approximate elsewhere):
        the one figure the window, the dialog and the CLI all quote."""
        return sum(m.expected_size for m in self.models)

    def licenses(self) -> list[tuple[License, list[str]]]:
        """Each distinct licence once, with the names of the models under it (manifest order)."""
        seen: dict[License, list[str]] = {}
        for m in self.models:
            seen.setdefault(m.license, []).append(m.name)
        return list(seen.items())


def default_manifest_path() -> Path:
    """The shipped manifest: package data next to this module, else the repository root."""
    here = Path(__file__).resolve().parent
    candidates = (here / MANIFEST_NAME, here.parents[1] / MANIFEST_NAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ManifestError(
        "the built-in models manifest is missing (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); pass --manifest PATH"
    )


def download_size_text(spec: Manifest | str | os.PathLike | None = None) -> str:
    """ "about 17.8 GB": the size of a full download, as the window and the dialog both say it."""
    try:
        return f"about {format_bytes(load_manifest(spec).choose().expected_size)}"  # optional parts aside
    except ManifestError:
        return "size unknown: the models manifest cannot be read"


def resolve_manifest_path(explicit: str | os.PathLike | None = None) -> Path:
    """``--manifest PATH``, then ``$MGIE_MANIFEST``, then the shipped manifest."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(MANIFEST_ENV):
        return Path(os.environ[MANIFEST_ENV]).expanduser()
    return default_manifest_path()


def load_manifest(spec: Manifest | str | os.PathLike | None = None) -> Manifest:
    return spec if isinstance(spec, Manifest) else Manifest.load(resolve_manifest_path(spec))


def check_relpath(path: object, where: str = "path") -> str:
    """A manifest path, or ManifestError: relative, '/'-separated, nothing that climbs or hides."""
    if not isinstance(path, str) or not path:
        raise ManifestError(f"{where} must be a non-empty string")
    bad = None
    if "\\" in path or "\x00" in path:
        bad = "only '/' separators are allowed"
    elif path.startswith("/") or re.match(r"[A-Za-z]:", path):
        bad = "absolute paths are not allowed"
    else:
        parts = path.split("/")
        if any(p in ("", ".", "..") for p in parts):
            bad = "empty, '.' and '..' components are not allowed"
        elif any(p.startswith(".") for p in parts):
            bad = "hidden components (starting with '.') are not allowed"
        elif any(p.endswith(".part") for p in parts):
            bad = "names ending in '.part' are reserved for downloads in progress"
    if bad:
        raise ManifestError(f"{where} {path!r} points outside the models directory or is unsafe: {bad}")
    return str(PurePosixPath(path))


def target_path(dest: Path, rel: str) -> Path:
    """``dest / rel``, refusing anything whose directory resolves outside ``dest``."""
    check_relpath(rel)
    dest = Path(dest)
    target = dest.joinpath(*rel.split("/"))
    root = dest.resolve()
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:
        raise ManifestError(f"manifest path {rel!r} resolves outside {dest} (through a symlink?)")
    return target


# -- parsing -----------------------------------------------------------------------------------


def _parse(data: object, origin: str) -> Manifest:
    def fail(msg: str) -> ManifestError:
        return ManifestError(f"malformed manifest {origin}: {msg}")

    if not isinstance(data, dict):
        raise fail("the top level must be a JSON object")
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise fail("'schema' must be an integer")
    if schema > SCHEMA:
        raise ManifestError(
            f"manifest {origin} uses schema {schema}; this MGIE Desktop reads schema {SCHEMA}: "
            "update MGIE Desktop"
        )
    if schema < 1:
        raise fail(f"unknown schema {schema}")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise fail("'models' must be a non-empty list")
    parsed, ids, paths = [], set(), set()
    for i, m in enumerate(models):
        where = f"models[{i}]"
        if not isinstance(m, dict):
            raise fail(f"{where} must be an object")
        mid, name = _text(m, "id", where, fail), _text(m, "name", where, fail)
        if mid in ids:
            raise fail(f"duplicate model id {mid!r}")
        ids.add(mid)
        lic = m.get("license")
        if not isinstance(lic, dict):
            raise fail(f"{where}.license must be an object with 'name' and 'url'")
        lic_ = License(
            _text(lic, "name", f"{where}.license", fail), _text(lic, "url", f"{where}.license", fail)
        )
        revision_note = _opt_text(m, "revision_note", where, fail)
        files = m.get("files")
        if not isinstance(files, list) or not files:
            raise fail(f"{where}.files must be a non-empty list")
        entries = []
        for j, f in enumerate(files):
            entry = _parse_file(f, f"{where}.files[{j}]", mid, revision_note, fail)
            key = entry.path.casefold()
            if key in paths:
                raise fail(f"path {entry.path!r} is listed twice")
            paths.add(key)
            entries.append(entry)
        approx = m.get("approx_size")
        if approx is not None and (not isinstance(approx, int) or isinstance(approx, bool) or approx < 0):
            raise fail(f"{where}.approx_size must be a whole number of bytes or null")
        optional = m.get("optional", False)
        if not isinstance(optional, bool):
            raise fail(f"{where}.optional must be true or false")
        parsed.append(
            ModelEntry(
                mid,
                name,
                lic_,
                tuple(entries),
                revision_note,
                _opt_text(m, "note", where, fail),
                approx,
                optional,
            )
        )
    return Manifest(schema, tuple(parsed), origin)


def _parse_file(f: object, where: str, model_id: str, revision_note: str, fail) -> FileEntry:
    if not isinstance(f, dict):
        raise fail(f"{where} must be an object")
    try:
        path = check_relpath(f.get("path"), f"{where}.path")
    except ManifestError as exc:
        raise fail(str(exc)) from None
    size = f.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise fail(f"{where}.size must be a whole number of bytes or null")
    sha = f.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256.fullmatch(sha)):
        raise fail(f"{where}.sha256 must be 64 lowercase hex digits or null")
    src = f.get("source")
    if not isinstance(src, dict):
        raise fail(f"{where}.source must be an object")
    note = _opt_text(f, "note", where, fail)
    if "url" in src and "hf_repo" in src:
        raise fail(f"{where}.source has both 'url' and 'hf_repo'; give one")
    if "url" in src:
        url = src["url"]
        if not isinstance(url, str) or not re.match(r"https?://[^\s/]+", url):
            raise fail(f"{where}.source.url must be an http(s) URL")
        source = Source(url=url)
    elif "hf_repo" in src:
        repo, hf_path = src.get("hf_repo"), src.get("hf_path")
        revision, repo_type = src.get("revision"), src.get("repo_type", "model")
        if not isinstance(repo, str) or not _HF_REPO.fullmatch(repo):
            raise fail(f"{where}.source.hf_repo must look like 'owner/name'")
        if revision is not None and (not isinstance(revision, str) or not revision):
            raise fail(
                f"{where}.source.revision must name a commit (or a branch, or be null for the default "
                "branch, with a revision_note)"
            )
        if repo_type not in REPO_TYPES:
            raise fail(f"{where}.source.repo_type must be one of {', '.join(REPO_TYPES)}")
        try:
            hf_path = check_relpath(hf_path, f"{where}.source.hf_path")
        except ManifestError as exc:
            raise fail(str(exc)) from None
        source = Source(hf_repo=repo, revision=revision, hf_path=hf_path, repo_type=repo_type)
        if not source.pinned and not (revision_note or _opt_text(f, "revision_note", where, fail)):
            raise fail(
                f"{where}.source.revision {revision!r} is not a commit hash; pin it or add a revision_note"
            )
    else:
        raise fail(f"{where}.source needs 'url' or 'hf_repo'")
    return FileEntry(path, size, sha, source, model_id, note)


def _text(d: dict, key: str, where: str, fail) -> str:
    value = d.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{where}.{key} must be a non-empty string")
    return value


def _opt_text(d: dict, key: str, where: str, fail) -> str:
    value = d.get(key, "")
    if not isinstance(value, str):
        raise fail(f"{where}.{key} must be a string")
    return value
