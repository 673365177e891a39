"""The .deb's ``Depends:`` for a PyInstaller folder: what its ELF files need from the system.

    python3 installer/linux/deb_depends.py dist/mgie-desktop [--missing]

The spec leaves the build host's own libraries out of the folder (GL, X/xcb, Wayland,
fontconfig, glib, libstdc++, OpenSSL...), so every ``DT_NEEDED`` soname that no file in the
folder provides must come from a distribution package. Each is found through the linker
cache and ``dpkg -S``; the version floor comes from the package's ``shlibs`` file, as
dpkg-shlibdeps would do. Prints one Depends value (the fixed list for libraries Qt loads at
run time merged in). ``--missing`` prints the sonames no installed file provides instead
(empty when every dependency is installed; build.sh --check runs it on the installed app).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

# Loaded by Qt at run time (dlopen) or needed by its xcb platform plugin in every Qt 6 release,
# whether or not this build's files name them: always depend on them.
ALWAYS = (
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-randr0",
    "libxcb-shape0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libxkbcommon0",
    "libegl1",
    "libgl1",
    "libfontconfig1",
    "libfreetype6",
    "libdbus-1-3",
)
# Where a soname comes from when the build host does not have it installed (so neither the
# linker cache nor dpkg can say): Qt's Wayland plugin links these.
NOT_ON_BUILD_HOST = {
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libwayland-client.so.0": "libwayland-client0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libgtk-3.so.0": "libgtk-3-0",
}
# Provided by the graphics driver, never by a package the app may depend on.
DRIVER_SONAMES = re.compile(r"^(libcuda\.so|libnvidia-|libnvcuvid|libOpenCL\.so)")
LOADER = re.compile(r"^ld-linux")
ELF_MAGIC = b"\x7fELF"


def elf_files(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == ELF_MAGIC:
                    yield path


def needed(path: Path) -> list[str]:
    out = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True).stdout
    return re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M)


def outside_needs(root: Path) -> dict[str, list[Path]]:
    """Sonames the folder's ELF files need and no file in the folder provides."""
    provided = {p.name for p in root.rglob("*")}
    wanted: dict[str, list[Path]] = {}
    for path in elf_files(root):
        for soname in needed(path):
            if soname not in provided and not LOADER.match(soname):
                wanted.setdefault(soname, []).append(path)
    return wanted


def linker_cache() -> dict[str, str]:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    cache: dict[str, str] = {}
    for match in re.finditer(r"^\s*(\S+) \(([^)]*)\) => (\S+)", out, re.M):
        soname, flags, path = match.groups()
        if "x86-64" in flags or "AArch64" in flags or "64bit" in flags or soname not in cache:
            cache.setdefault(soname, path)
    return cache


def owning_package(path: str) -> str | None:
    candidates = {path, os.path.realpath(path)}
    for p in list(candidates):  # merged-/usr systems record either spelling
        candidates.add(p[4:] if p.startswith("/usr/") else "/usr" + p)
    for candidate in sorted(candidates):
        run = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if run.returncode == 0:
            return run.stdout.split(":")[0].split(",")[0].strip()
    return None


def shlibs_dependency(package: str, soname: str) -> str:
    """``pkg (>= version)`` from the package's shlibs file, else the bare package name."""
    match = re.match(r"^(.*)\.so\.(.*)$", soname) or re.match(r"^(.*)-(\d[\d.]*)\.so$", soname)
    if not match:
        return package
    name, version = match.groups()
    info = Path("/var/lib/dpkg/info")
    for shlibs in (info / f"{package}.shlibs", *info.glob(f"{package}:*.shlibs")):
        if shlibs.is_file():
            for line in shlibs.read_text().splitlines():
                parts = line.split(None, 2)
                if len(parts) == 3 and parts[0] == name and parts[1] == version:
                    return parts[2].split(",")[0].strip()
    return package


def depends(root: Path) -> tuple[list[str], list[str]]:
    cache = linker_cache()
    deps: dict[str, str] = {}
    unresolved = []
    for soname in sorted(outside_needs(root)):
        if DRIVER_SONAMES.match(soname):
            continue
        path = cache.get(soname)
        package = owning_package(path) if path else None
        if package is None and soname in NOT_ON_BUILD_HOST:
            deps.setdefault(NOT_ON_BUILD_HOST[soname], NOT_ON_BUILD_HOST[soname])
            continue
        if package is None:
            unresolved.append(soname)
            continue
        dep = shlibs_dependency(package, soname)
        deps[package] = max(deps.get(package, dep), dep, key=len)  # keep the one with a version floor
    for package in ALWAYS:
        deps.setdefault(package, package)
    return [deps[k] for k in sorted(deps)], unresolved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--missing", action="store_true", help="print the needed sonames the system lacks")
    args = parser.parse_args()
    if args.missing:
        cache = linker_cache()
        missing = {
            s: paths
            for s, paths in outside_needs(args.folder).items()
            if s not in cache and not DRIVER_SONAMES.match(s)
        }
        for soname, paths in sorted(missing.items()):
            print(f"{soname} (needed by {paths[0].relative_to(args.folder)} and {len(paths) - 1} more)")
        return 1 if missing else 0
    deps, unresolved = depends(args.folder)
    for soname in unresolved:
        print(f"deb_depends: warning: no installed package provides {soname}", file=sys.stderr)
    print(", ".join(deps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
