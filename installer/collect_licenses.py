"""Write the licence texts of everything an installer bundles into resources/licenses/.

    .venv/bin/python installer/collect_licenses.py [--dest DIR]

Walks mgie-desktop's runtime requirements in the current environment (the build venv: the
same distributions PyInstaller freezes), copies each one's licence files from its dist-info,
adds the Python runtime's licence and the texts a few wheels only name (Qt's LGPL, the Apache
licence), and writes an index, ``THIRD-PARTY.md``. Rerun after changing dependencies and
commit the result; the installers ship the directory as it is.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
ROOT_DIST = "mgie-desktop"
LICENSE_FILE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*$", re.I)
COMMON = Path("/usr/share/common-licenses")  # Debian's copies of the standard texts
# Distributions whose wheels name a licence without shipping its text: (standard texts, note).
NAMED_ONLY = {
    "pyside6-essentials": (
        ("LGPL-3", "GPL-3"),
        "Qt for Python and the Qt 6 libraries it ships, used under the "
        "LGPL-3.0. The Qt libraries are separate shared libraries in the app folder and may "
        "be replaced. Sources: https://download.qt.io/official_releases/QtForPython/ and "
        "https://download.qt.io/official_releases/qt/",
    ),
    "shiboken6": (("LGPL-3", "GPL-3"), "Shiboken 6 (Qt for Python's binding runtime), LGPL-3.0."),
    "sentencepiece": (("Apache-2.0",), "SentencePiece, Apache-2.0: https://github.com/google/sentencepiece"),
    "tokenizers": (
        ("Apache-2.0",),
        "Hugging Face tokenizers, Apache-2.0: https://github.com/huggingface/tokenizers",
    ),
}
# Development-only distributions that the spec excludes even if something requires them.
NOT_BUNDLED = {"pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "setuptools", "pip", "pytest", "ruff"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _root_requirements() -> list[str]:
    """pyproject.toml's dependencies (the installed metadata of an editable install can be stale)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata will do
        return [str(r) for r in metadata.distribution(ROOT_DIST).requires or [] if "extra ==" not in r]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def runtime_distributions() -> list[metadata.Distribution]:
    """mgie-desktop's requirements, recursively, as installed here (markers evaluated, no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [
        Requirement(r).name
        for r in _root_requirements()
        if Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""})
    ]
    while todo:
        name = _norm(todo.pop())
        if name in seen or name in NOT_BUNDLED:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed in this environment
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(seen.values(), key=lambda d: _norm(d.metadata["Name"]))


def _licence_name(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    text = meta.get("License-Expression") or meta.get("License") or ""
    if not text or len(text) > 80:
        classifiers = [
            c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
        ]
        text = ", ".join(classifiers) or ("see the text" if text else "unknown")
    return " ".join(text.split())


def write(dest: Path) -> list[str]:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    rows, problems = [], []
    for dist in runtime_distributions():
        name, version = dist.metadata["Name"], dist.version
        key = _norm(name)
        files = [f for f in dist.files or [] if ".dist-info/" in str(f) and LICENSE_FILE.search(str(f))]
        if not files:  # some wheels (NVIDIA's cuSPARSELt) keep the text beside their files instead
            files = [f for f in dist.files or [] if LICENSE_FILE.search(str(f)) and "/include/" not in str(f)]
        parts = []
        for file in sorted(files, key=str):
            text = Path(dist.locate_file(file)).read_text(encoding="utf-8", errors="replace")
            inner = str(file).split(".dist-info/", 1)[-1].removeprefix("licenses/")
            parts.append(f"==== {inner} ====\n\n{text.strip()}\n")
        if key in NAMED_ONLY:
            texts, note = NAMED_ONLY[key]
            parts.insert(0, note + "\n")
            for standard in texts:
                if (COMMON / standard).is_file():
                    parts.append(f"==== {standard} ====\n\n{(COMMON / standard).read_text().strip()}\n")
                else:
                    problems.append(f"{name}: no copy of {standard} on this system (looked in {COMMON})")
        if not parts:
            problems.append(f"{name} {version}: no licence file in its metadata")
            continue
        out = dest / f"{key}.txt"
        out.write_text(
            f"{name} {version}\nLicence: {_licence_name(dist)}\n\n" + "\n".join(parts), encoding="utf-8"
        )
        rows.append(f"| {name} | {version} | {_licence_name(dist)} | [{out.name}]({out.name}) |")
    python_licence = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if python_licence.is_file():
        shutil.copyfile(python_licence, dest / "python.txt")
        rows.insert(0, f"| Python | {sys.version.split()[0]} | PSF-2.0 | [python.txt](python.txt) |")
    else:
        problems.append(f"Python: {python_licence} is missing")
    (dest / "THIRD-PARTY.md").write_text(
        "# Third-party software in MGIE Desktop's installers\n\n"
        "MGIE Desktop itself is Apache-2.0. Its installers bundle the Python runtime and the packages\n"
        "below (the build environment's versions when this list was written by\n"
        "`installer/collect_licenses.py`). No model weights are bundled: the app downloads them on\n"
        "first run, and each model's licence is shown and must be accepted before its download.\n\n"
        "| Component | Version | Licence | Text |\n|---|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=REPO / "resources" / "licenses")
    args = parser.parse_args()
    problems = write(args.dest)
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    print(f"wrote {len(list(args.dest.glob('*.txt')))} licence files to {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
