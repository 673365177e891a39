"""Share a folder's subfolders out over packages of at most a given installed size.

    python3 installer/linux/deb_parts.py FOLDER MAX_MB

Prints one line per subfolder, ``<part number> <name>``, parts numbered from 1: first fit,
largest first. build.sh puts the CUDA build's NVIDIA libraries (``_internal/nvidia/*``, about
4 GB) into packages this way, so that no .deb is over the release host's 2 GiB however well
it compresses. A subfolder larger than MAX_MB is an error: it cannot be split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MB = 2**20


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def first_fit(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Part number (from 1) for each name: largest first, each into the first part it fits."""
    parts: list[int] = []  # bytes in each part so far
    placed: dict[str, int] = {}
    for name, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        if size > limit:
            raise ValueError(f"{name} is {size / MB:.0f} MB, more than a part may hold ({limit / MB:.0f} MB)")
        index = next((i for i, used in enumerate(parts) if used + size <= limit), len(parts))
        if index == len(parts):
            parts.append(0)
        parts[index] += size
        placed[name] = index + 1
    return placed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("max_mb", type=int)
    args = parser.parse_args()
    sizes = {
        child.name: folder_bytes(child) if child.is_dir() else child.stat().st_size
        for child in sorted(args.folder.iterdir())
    }
    try:
        placed = first_fit(sizes, args.max_mb * MB)
    except ValueError as exc:
        print(f"deb_parts: {exc}", file=sys.stderr)
        return 1
    for name, part in sorted(placed.items(), key=lambda item: (item[1], item[0])):
        print(part, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
