"""Batch throughput: photos per minute for ``batch`` locally and with ``--ray`` at 1 and 2 actors,
on tiny models (docs/PERFORMANCE.md, "Batch"). ``python -m mgie_desktop.benchmark.batch_bench``.

Each run is the real command in a fresh process (start-up, loading and Ray's start included in
``wall_s``); ``steady_ppm`` is the pace once photos flow: photos after the first, over the time
from the first finished photo to the last (from the results file's ``finished`` times)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _photos(folder: Path, count: int, size: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
            folder / f"p{index:03d}.jpg"
        )


def _recipe(path: Path, steps: int, budget: int) -> None:
    path.write_text(
        json.dumps(
            {
                "format": "mgie-recipe",
                "version": 1,
                "steps": [
                    {
                        "kind": "edit",
                        "instruction": "make it warmer",
                        "preset": "draft",
                        "steps": steps,
                        "pixel_budget": budget,
                        "seed": {"policy": "file_name"},
                    }
                ],
            }
        )
    )


def _run(args: list[str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mgie_desktop", *args, "--json"], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({done.returncode}): {done.stderr[-2000:]}")
    return {"summary": json.loads(done.stdout.splitlines()[-1]), "wall_s": wall}


def _steady(results: Path) -> float | None:
    times = sorted(json.loads(line)["finished"] for line in results.read_text().splitlines())
    return (len(times) - 1) / (times[-1] - times[0]) * 60 if len(times) > 2 and times[-1] > times[0] else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--size", default="128x96", help="photo size WxH (default 128x96)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--models", help="a tiny models dir (default: made here)")
    parser.add_argument("--runs", default="local,ray1,ray2")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="mgie-batch-bench-"))
    models = Path(args.models) if args.models else work / "models"
    if not args.models:
        subprocess.run(
            [sys.executable, "-m", "mgie_desktop", "models", "tiny", str(models)],
            check=True,
            capture_output=True,
        )
    _photos(work / "in", args.photos, (width, height))
    _recipe(work / "recipe.json", args.steps, width * height)
    rows = []
    for number, name in enumerate(args.runs.split(",")):
        out = work / f"out-{number}-{name}"  # a fresh folder: a rerun into the same one would skip everything
        extra = [] if name == "local" else ["--ray", "--actors", name.removeprefix("ray")]
        run = _run(
            [
                "batch",
                str(work / "recipe.json"),
                str(work / "in"),
                str(out),
                "--models",
                str(models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                *extra,
            ]
        )
        summary = run["summary"]
        rows.append(
            {
                "run": name,
                "photos": summary["done"],
                "wall_s": round(run["wall_s"], 1),
                "ppm_wall": round(summary["done"] / run["wall_s"] * 60, 1),
                "steady_ppm": round(_steady(out / "results.jsonl") or 0, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"photos": args.photos, "size": args.size, "steps": args.steps, "runs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
