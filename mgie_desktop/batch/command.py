"""The CLI's ``recipe export`` and ``batch``: their options and what they do. Importing this
module is light (the CLI builds its parser from it); the work imports what it needs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mgie_desktop.batch.watch import DEFAULT_SETTLE
from mgie_desktop.core.exit_codes import ExitCode

RESULTS_HELP = (
    "A results file, OUTPUT_DIR/results.jsonl, gets one JSON line per photo as it ends (status, "
    "output, seconds, expressive instructions, seeds, error); a rerun skips photos recorded as ok "
    "whose output exists, and tries failed ones again."
)
EXIT_HELP = (
    f"Exit status: {ExitCode.OK.value} every photo done; {ExitCode.FAILED.value} some photos failed "
    f"(recorded, the rest done); {ExitCode.USAGE.value} bad input, or an output folder or results file that "
    "cannot be written (checked before the models load; a full disk under either stops the batch at once, "
    f"finished photos kept: rerun to go on); {ExitCode.INTERRUPTED.value} stopped by Ctrl+C (finished "
    "photos kept: rerun to go on)."
)

CONTACT_SHEET_HELP = (
    "after the batch, write a printable overview: A4 pages at 150 dpi, eight photos a page, each "
    "a before/after pair with its name, instructions, MGIE's expressive instructions and its status "
    "(FILE.jpg, then FILE-2.jpg, FILE-3.jpg... for more pages; .jpg or .png). On a batch with every "
    "photo done nothing is edited and the models do not load; --sheet-only makes sure of it"
)
REVIEW_HELP = (
    "Photos rejected in the window's review (OUTPUT_DIR/review.json) with a new seed or expressive "
    "instruction are rendered again by the next run, then await review again."
)

WATCH_HELP = (
    "keep running and edit each photo that lands in INPUT_DIR once it is complete (not empty, its size and time "
    "unchanged for --settle seconds); hidden and partial names (.*, *.part, *.crdownload, *.download, *.tmp, ~$*) "
    "and subfolders are never read. Photos the results file records as done are not edited again, after a restart "
    "too. Ctrl+C or SIGTERM stops once the photo under way is saved and recorded (again: at once, abandoning it: "
    f"no output or results line for it); exit status {ExitCode.INTERRUPTED.value}. It prints a line per photo as it "
    'lands and as it is done, failed or skipped; with --json one JSON object each: {"event": "watching" | '
    '"landed" | "done" | "failed" | "skipped" | "stopped", "photo", ...}, done and failed '
    'with the results line\'s fields and "moved_to". On this machine only (not with --ray)'
)


def add_recipe_parser(sub, parser_class) -> None:
    recipe = sub.add_parser("recipe", help="make a session's edits into a reusable recipe")
    rsub = recipe.add_subparsers(dest="recipe_command", required=True, parser_class=parser_class)
    export = rsub.add_parser(
        "export", help="write the recipe of a session's chain of edits (original to current step)"
    )
    export.add_argument("session", metavar="SESSION.mgie")
    export.add_argument(
        "--output", "-o", required=True, metavar="RECIPE.json", help="the recipe file to write"
    )
    export.add_argument(
        "--seed-policy",
        choices=("fixed", "file_name"),
        default="fixed",
        help="fixed: every photo gets the session's seeds (default); file_name: each photo's seed "
        "comes from its file name (SHA-256 of the name), stable on every machine",
    )


def add_batch_parser(sub, common) -> None:
    batch = sub.add_parser(
        "batch",
        help="apply a recipe to every photo in a folder, here or on a Ray cluster",
        description="Apply RECIPE.json to every photo in INPUT_DIR, writing OUTPUT_DIR/NAME.FORMAT. "
        + RESULTS_HELP
        + " "
        + EXIT_HELP
        + " "
        + REVIEW_HELP
        + " With --watch it keeps running on the photos that land in INPUT_DIR.",
    )
    batch.add_argument("recipe", metavar="RECIPE.json")
    batch.add_argument("input_dir", metavar="INPUT_DIR")
    batch.add_argument("output_dir", metavar="OUTPUT_DIR", help="created if missing; must not be INPUT_DIR")
    batch.add_argument(
        "--format", choices=("jpg", "png", "webp", "tiff"), default="jpg", help="output format (default: jpg)"
    )
    batch.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on Ray: a local instance, or the cluster at ADDRESS (e.g. ray://head:10001); "
        "needs pip install 'mgie-desktop[cluster]'",
    )
    batch.add_argument(
        "--actors",
        type=int,
        metavar="N",
        help="with --ray: engines to run at once (default: one per GPU in the cluster, else 1)",
    )
    batch.add_argument(
        "--json",
        action="store_true",
        help="print one JSON summary at the end; with --watch, one JSON object per event instead",
    )
    batch.add_argument("--watch", action="store_true", help=WATCH_HELP)
    batch.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help=f"with --watch: a photo is complete once its size and time stay the same this long "
        f"(default: {DEFAULT_SETTLE:g}; more for slow network copies)",
    )
    batch.add_argument(
        "--move-done",
        action="store_true",
        help="with --watch: move each original into INPUT_DIR/done/ once its edit is saved and recorded, "
        "a failed one into INPUT_DIR/failed/ with the reason in INPUT_DIR/failed/NAME.txt",
    )
    batch.add_argument("--contact-sheet", metavar="FILE.jpg", help=CONTACT_SHEET_HELP)
    batch.add_argument(
        "--sheet-only",
        action="store_true",
        help="with --contact-sheet: edit nothing (not even the failed photos a rerun tries again) and "
        "never load the models; only make the sheet of what OUTPUT_DIR holds",
    )
    common(batch)


def cmd_recipe(args: argparse.Namespace) -> ExitCode:
    from mgie_desktop.core.errors import InputError
    from mgie_desktop.core.recipe import recipe_from_session, save_recipe

    output = Path(args.output)
    if output.is_dir() or not output.parent.resolve().is_dir():
        raise InputError(f"cannot write the recipe {output}: give a file name in an existing folder")
    data = recipe_from_session(Path(args.session), seed_policy=args.seed_policy)
    save_recipe(data, output)
    edits = sum(1 for s in data["steps"] if s["kind"] == "edit")
    print(f"wrote {output}: {len(data['steps'])} step(s), {edits} edit(s), seeds {args.seed_policy}")
    return ExitCode.OK


def _check_sheet(sheet: Path, input_dir: Path) -> None:
    """The sheet can be written, and not where the next run would take it for a photo."""
    from mgie_desktop.batch.contact_sheet import check_sheet_path
    from mgie_desktop.core.errors import InputError

    check_sheet_path(sheet)
    if sheet.parent.resolve() == input_dir.resolve():
        raise InputError(
            f"cannot write the contact sheet {sheet}: the next run would read it as a photo of INPUT_DIR"
        )


def cmd_batch(args: argparse.Namespace) -> ExitCode:
    from mgie_desktop.batch.contact_sheet import write_contact_sheet
    from mgie_desktop.batch.folder import check_output_folder, list_photos, remove_leftovers
    from mgie_desktop.batch.on_ray import INSTALL_HINT, ray_available
    from mgie_desktop.batch.overview import overview_of_run, recipe_instructions
    from mgie_desktop.batch.photo import engines_of
    from mgie_desktop.batch.progress import Progress
    from mgie_desktop.batch.results import NAME, open_results, read_results, recipe_digest
    from mgie_desktop.batch.review import pending, read_review, settle
    from mgie_desktop.batch.space import OutputDiskFull
    from mgie_desktop.core.errors import InputError
    from mgie_desktop.core.paths import models_dir
    from mgie_desktop.core.recipe import parse_recipe, read_recipe_data
    from mgie_desktop.engine.inventory import (
        KLEIN_NOT_INSTALLED,
        PLAIN_NOT_INSTALLED,
        check_installed,
        has_klein,
        has_plain_ip2p,
    )

    started = time.perf_counter()
    _check_watch_options(args)
    if args.ray is not None and not ray_available():
        raise InputError(INSTALL_HINT)
    if args.actors is not None and (args.ray is None or args.actors < 1):
        raise InputError("--actors N (at least 1) goes with --ray")
    recipe_path = Path(args.recipe)
    data = read_recipe_data(recipe_path)
    recipe = parse_recipe(data, recipe_path.name)
    input_dir, output_dir = Path(args.input_dir), Path(args.output_dir)
    jobs = list_photos(input_dir, output_dir, args.format)
    if not jobs and not args.watch:
        raise InputError(f"no photos in {input_dir} (JPEG, PNG, WebP, TIFF, BMP, GIF or HEIC files)")
    if args.sheet_only:
        return _sheet_only(args, data, jobs, recipe_path)
    directory = models_dir(args.models)
    check_installed(directory)
    engines = engines_of(recipe)
    if "ip2p" in engines and not has_plain_ip2p(directory):  # said before anything loads
        raise InputError(PLAIN_NOT_INSTALLED)
    if "klein" in engines and not has_klein(directory):
        raise InputError(KLEIN_NOT_INSTALLED)
    sheet = Path(args.contact_sheet) if args.contact_sheet else None
    if sheet is not None:
        _check_sheet(sheet, input_dir)
    check_output_folder(output_dir)  # before the models load and any photo renders
    results = output_dir / NAME
    open_results(results)
    remove_leftovers(output_dir, jobs)
    digest = recipe_digest(data, args.format)
    engine = {
        "device": args.device,
        "memory": args.memory,
        "llm_quant": args.llm_quant,
        "compile_unet": args.compile,
        "precision": args.precision,
    }
    if args.watch:
        return _watch(args, data, directory, results, digest, engine, started)
    previous = read_results(results)
    settle(output_dir, previous)  # re-renders made by a run that stopped before clearing them
    todo = _todo(jobs, previous, digest, pending(read_review(output_dir), previous), recipe)
    progress = Progress(len(todo), skipped=len(jobs) - len(todo))
    try:
        outcome = _run(args, todo, data, directory, results, engine, progress, recipe_path)
    except OutputDiskFull as exc:  # one line, as for a full disk under the results file; the rest kept
        raise InputError(_stopped_for_room(exc, jobs, todo, results, digest)) from None
    settle(output_dir, read_results(results))  # each re-render made awaits review again
    pages = []
    if sheet is not None:
        overview = overview_of_run(
            output_dir, jobs, digest, recipe_instructions(data), recipe_path.resolve(), args.format
        )
        pages = write_contact_sheet(overview, sheet)
    entries = outcome["entries"]
    failures = [{"photo": e["photo"], "error": e["error"]} for e in entries if e["status"] != "ok"]
    done = len(entries) - len(failures)
    editing = time.perf_counter() - progress.started
    summary = {
        "recipe": str(recipe_path),
        "input_dir": str(input_dir),
        "output_dir": str(output_dir),
        "results": str(results),
        "format": args.format,
        "photos": len(jobs),
        "skipped": len(jobs) - len(todo),
        "done": done,
        "failed": len(failures),
        "remaining": len(todo) - len(entries),
        "interrupted": outcome["interrupted"],
        "runner": "local" if args.ray is None else "ray",
        "actors": outcome.get("actors", 1),
        "load_s": round(outcome.get("load_s", 0.0), 3),
        "seconds": round(time.perf_counter() - started, 3),
        # Photos edited, not failures (a broken file fails in a millisecond): None when none was.
        "photos_per_minute": round(done / editing * 60, 3) if done and editing > 0 else None,
        "failures": failures,
        "rerendered": sum(1 for job in todo if job.rerender is not None),
        "contact_sheet": [str(page) for page in pages],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['done']} photo(s) edited, {summary['failed']} failed, {summary['skipped']} already done"
            f"{_rerendered_text(summary['rerendered'])}"
            f"{', stopped before ' + str(summary['remaining']) + ' more' if outcome['interrupted'] else ''}; "
            f"outputs in {output_dir}, results in {results} ({summary['seconds']:.1f} s)"
        )
        for failure in failures:
            print(f"  failed: {failure['photo']}: {failure['error']}", file=sys.stderr)
        if pages:
            print(f"contact sheet: {_pages_text(pages)}")
    if outcome["interrupted"]:
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED if failures else ExitCode.OK


def _sheet_only(args: argparse.Namespace, data: dict, jobs: list, recipe_path: Path) -> ExitCode:
    """``--sheet-only``: the contact sheet of what OUTPUT_DIR holds; nothing edited, no models."""
    from mgie_desktop.batch.contact_sheet import write_contact_sheet
    from mgie_desktop.batch.overview import overview_of_run, recipe_instructions
    from mgie_desktop.batch.results import recipe_digest
    from mgie_desktop.core.errors import InputError

    if not args.contact_sheet:
        raise InputError("--sheet-only goes with --contact-sheet FILE.jpg")
    if args.ray is not None or args.watch:
        raise InputError("--sheet-only edits nothing: leave out --ray and --watch")
    sheet, output_dir = Path(args.contact_sheet), Path(args.output_dir)
    _check_sheet(sheet, Path(args.input_dir))
    digest = recipe_digest(data, args.format)
    overview = overview_of_run(
        output_dir, jobs, digest, recipe_instructions(data), recipe_path.resolve(), args.format
    )
    pages = write_contact_sheet(overview, sheet)
    counts = {status.value: count for status, count in overview.counts().items()}
    if args.json:
        print(json.dumps({"photos": len(jobs), **counts, "contact_sheet": [str(p) for p in pages]}))
    else:
        print(f"contact sheet of {len(jobs)} photo(s): {_pages_text(pages)}")
    return ExitCode.OK


def _rerendered_text(count: int) -> str:
    return f" ({count} rendered again as review.json asked)" if count else ""


def _pages_text(pages: list[Path]) -> str:
    if len(pages) == 1:
        return str(pages[0])
    return f"{pages[0]} and {len(pages) - 1} more page(s), to {pages[-1].name}"


def _check_watch_options(args: argparse.Namespace) -> None:
    from mgie_desktop.core.errors import InputError

    if not args.watch:
        if args.settle is not None or args.move_done:
            raise InputError("--settle and --move-done go with --watch")
        return
    if args.contact_sheet:
        raise InputError("--contact-sheet is made once a batch ends: leave out --watch")
    if args.ray is not None:
        raise InputError("--watch edits on this machine: leave out --ray")
    if args.settle is not None and not 0 < args.settle <= 3600:
        raise InputError("--settle SECONDS must be more than 0 and at most 3600")


def _watch(
    args: argparse.Namespace,
    data: dict,
    directory: Path,
    results: Path,
    digest: str,
    engine: dict,
    started: float,
) -> ExitCode:
    """``--watch``: until stopped, then one line (or JSON object) with what it did."""
    from mgie_desktop.batch.watch import WatchOptions, run_watch

    options = WatchOptions(
        Path(args.input_dir),
        Path(args.output_dir),
        results,
        args.format,
        digest,
        settle=DEFAULT_SETTLE if args.settle is None else args.settle,
        move_done=args.move_done,
        json=args.json,
    )
    counts = run_watch(options, data, str(directory), engine)
    seconds = round(time.perf_counter() - started, 3)
    if args.json:
        print(
            json.dumps(
                {
                    "event": "stopped",
                    "done": counts["done"],
                    "failed": counts["failed"],
                    "skipped": counts["skipped"],
                    "output_dir": str(options.output_dir),
                    "results": str(results),
                    "seconds": seconds,
                }
            ),
            flush=True,
        )
    else:
        print(
            f"stopped: {counts['done']} photo(s) edited, {counts['failed']} failed, {counts['skipped']} already "
            f"done; outputs in {options.output_dir}, results in {results} ({seconds:.1f} s)",
            flush=True,
        )
    return ExitCode.INTERRUPTED


def _todo(jobs: list, previous: dict, digest: str, requests: dict, recipe) -> list:
    """The photos this run edits: those not done yet, and those review.json asks to render again
    (checked here, before the models load)."""
    from dataclasses import replace

    from mgie_desktop.batch.photo import check_rerender
    from mgie_desktop.batch.results import is_done

    todo = []
    for job in jobs:
        request = requests.get(job.name)
        if request is not None:
            check_rerender(recipe, request)
            todo.append(replace(job, rerender=request))
        elif not is_done(previous.get(job.name), job.output, digest):
            todo.append(job)
    return todo


def _run(
    args: argparse.Namespace,
    todo: list,
    data: dict,
    directory: Path,
    results: Path,
    engine: dict,
    progress,
    recipe_path: Path,
) -> dict:
    """The photos left to do, here or on Ray: {"entries", "interrupted", ...}."""
    if not todo:
        progress.start()
        return {"entries": [], "interrupted": False}
    recipe_file = str(recipe_path.resolve())
    if args.ray is None:
        from mgie_desktop.batch.local import run_local

        return run_local(
            todo, data, str(directory), args.format, str(results), engine, progress, recipe_file=recipe_file
        )
    from mgie_desktop.batch.on_ray import run_on_ray

    return run_on_ray(
        args.ray or None,
        todo,
        data,
        str(directory),
        args.format,
        str(results),
        engine,
        args.actors,
        progress,
        recipe_file=recipe_file,
    )


def _stopped_for_room(exc, jobs: list, todo: list, results: Path, digest: str) -> str:
    """The line that ends a batch whose outputs found the disk full, from what the results file
    now says is done (the workers on Ray wrote their own lines)."""
    from mgie_desktop.batch.results import is_done, read_results
    from mgie_desktop.batch.space import stop_line

    latest = read_results(results)
    done = [job.output for job in jobs if is_done(latest.get(job.name), job.output, digest)]
    left = sum(1 for job in todo if not is_done(latest.get(job.name), job.output, digest))
    return stop_line(exc, done, left)
