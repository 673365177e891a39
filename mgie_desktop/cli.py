"""Command line: the window by default; ``edit``, ``models`` for headless work.

Bad input exits with code 2 and one clear line on stderr, before anything is written and,
where possible, before the ML libraries are imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from mgie_desktop import __version__
from mgie_desktop.batch.command import add_batch_parser, add_recipe_parser, cmd_batch, cmd_recipe
from mgie_desktop.core.errors import EditCancelled, InputError, MgieError
from mgie_desktop.core.exit_codes import ExitCode
from mgie_desktop.core.instruction import check_text
from mgie_desktop.core.params import DEFAULT_PRESET, PRESETS, SCHEDULERS, params_for
from mgie_desktop.core.paths import models_dir
from mgie_desktop.core.step_params import ENGINE_NAMES
from mgie_desktop.core.sweep import parse_sweep
from mgie_desktop.engine.memory import LLM_QUANTS, PLACEMENTS, PRECISIONS

DEVICES = ("auto", "cpu", "cuda", "mps")
EDIT_EXIT_STATUSES = (
    f"exit status: {ExitCode.OK.value} done; {ExitCode.USAGE.value} bad input, nothing written; "
    f"{ExitCode.OUTPUT_KEPT.value} the output was written but the session could not be saved "
    f"(one warning line says why); {ExitCode.INTERRUPTED.value} interrupted"
)
SUBCOMMANDS = ("edit", "models", "bench", "session", "serve", "recipe", "batch")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit code 2), not a usage dump."""

    def error(self, message: str):
        self.exit(ExitCode.USAGE, f"{self.prog}: {message} (see --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", metavar="DIR", help="models directory (default: $MGIE_MODELS or the app data dir)"
    )
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="where the model runs (default: auto)"
    )
    parser.add_argument(
        "--memory",
        choices=PLACEMENTS,
        default="auto",
        help="GPU memory use: all on the GPU, offload one half at a time, or sequential "
        "(default: chosen from free VRAM)",
    )
    parser.add_argument(
        "--llm-quant",
        choices=LLM_QUANTS,
        default="auto",
        help="load the LLM in 8-bit or 4-bit (CUDA with bitsandbytes; 8-bit on the CPU too; "
        "default: only if it would not fit otherwise)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="number format of the models: auto = fp16 on a GPU; on the CPU bf16 where it runs "
        "natively, else fp32 (checked against the free memory before loading)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the UNet: faster steps after a slow first edit"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mgie-desktop", description="Instruction-based photo editing with MGIE.")
    parser.add_argument("--version", action="version", version=f"mgie-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    edit = sub.add_parser("edit", help="edit a photo headless", epilog=EDIT_EXIT_STATUSES)
    edit.add_argument("input", metavar="INPUT", help="the photo to edit")
    edit.add_argument(
        "--instruction",
        "-i",
        action="append",
        required=True,
        help="what to change; repeat to chain edits, each on the previous result",
    )
    edit.add_argument(
        "--expressive",
        "-e",
        action="append",
        metavar="TEXT",
        help="steer the edit with this expressive instruction instead of the one MGIE would write; "
        "repeat to steer each --instruction in order",
    )
    edit.add_argument(
        "--mode",
        choices=("mgie", "ip2p", "klein", "both"),
        default="mgie",
        help="mgie (default); ip2p: InstructPix2Pix alone reads the instruction (the optional "
        "component); klein: FLUX.2 [klein] 4B edits from the instruction (the optional second "
        "engine); both: also writes OUTPUT with -ip2p before its suffix, to compare",
    )
    edit.add_argument(
        "--mask",
        metavar="MASK.png",
        help="edit only where the mask is white (black keeps, grey blends; any size, stretched to "
        "the photo); applies to every --instruction",
    )
    edit.add_argument(
        "--output", "-o", required=True, help="where to write the result (.png .jpg .webp .tif)"
    )
    presets = "; ".join(f"{name}: {p.steps} steps, {p.scheduler}" for name, p in PRESETS.items())
    default = PRESETS[DEFAULT_PRESET]
    edit.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=DEFAULT_PRESET,
        help=f"render settings to start from ({presets}; default: {DEFAULT_PRESET})",
    )
    edit.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help=f"random seed: the same seed and settings give the same pixels (default: {default.seed}, "
        "the reference demo's)",
    )
    edit.add_argument("--steps", type=int, metavar="N", help="denoising steps (default: the preset's)")
    edit.add_argument(
        "--text-guidance",
        type=float,
        metavar="X",
        help=f"how strongly the edit follows the instruction (default: {default.text_guidance})",
    )
    edit.add_argument(
        "--image-guidance",
        type=float,
        metavar="X",
        help=f"how closely the result keeps the photo, at least 1.0 (default: {default.image_guidance})",
    )
    edit.add_argument("--scheduler", choices=SCHEDULERS, help="sampler (default: the preset's)")
    edit.add_argument(
        "--pixel-budget",
        type=int,
        metavar="PIXELS",
        help=f"the area the edit runs at, in pixels (default: {default.pixel_budget}, 512x512; "
        "FLUX.2 [klein] runs at four times it); the result is carried back to the photo's size",
    )
    edit.add_argument(
        "--finish",
        choices=("detail", "upscale"),
        default="detail",
        help="how the result returns to full resolution (default: keep untouched detail)",
    )
    edit.add_argument(
        "--sweep",
        metavar="SPEC",
        help="render the instruction on a grid of guidance values from one LLM pass: text, image or "
        "both (three values each about the chosen one), or values such as text=5,7.5,10:image=1.2,1.5; "
        "writes each cell beside OUTPUT with its values in the name (OUT-t7.5-i1.5.png) and OUT-grid.png",
    )
    edit.add_argument("--session", metavar="OUT.mgie", help="also save the chain of edits as a session")
    edit.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    edit.add_argument(
        "--remote",
        metavar="URL",
        help="run the edit on a server (mgie-desktop serve), for example http://workstation:8765",
    )
    edit.add_argument("--token-file", metavar="PATH", help="with --remote: the server's token")
    edit.add_argument("--ca-file", metavar="PEM", help="with --remote over https: trust this certificate too")
    _common(edit)

    models = sub.add_parser("models", help="install, inspect and verify model files")
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    imp = msub.add_parser(
        "import", help="convert the reference's files (apple/ml-mgie layout) into a models dir"
    )
    imp.add_argument("src", metavar="SRC")
    imp.add_argument("--dest", metavar="DIR", help="models directory to write (default: the app's)")
    tiny = msub.add_parser(
        "tiny", help="write tiny random-weight models in the real formats and convert them"
    )
    tiny.add_argument("dest", metavar="DIR")
    answer = tiny.add_mutually_exclusive_group()
    answer.add_argument(
        "--emit-image-tokens",
        dest="readable",
        action="store_true",
        default=True,
        help='wire the tiny LLM to answer "The sky will be orange." then [IMG0..7], as MGIE '
        "answers (the default)",
    )
    answer.add_argument(
        "--random-answer",
        dest="readable",
        action="store_false",
        help="leave the tiny LLM's answer to its random weights (unreadable; never emits [IMG0])",
    )
    standin = msub.add_parser(
        "random",
        help="write random weights in the reference's exact layout, to import "
        "with `models import` (a stand-in for the real files, for benchmarks)",
    )
    standin.add_argument("dest", metavar="DIR")
    standin.add_argument(
        "--size",
        choices=("full", "tiny"),
        default="full",
        help="full: the real shapes and files (~18 GB for MGIE, ~16 GB more for FLUX.2 [klein] in "
        "FLUX.2-klein-4B/, written one file at a time); "
        "tiny: the same layout with a few small layers (default: full)",
    )
    standin.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    download = msub.add_parser("download", help="download, verify and convert the models in the manifest")
    download.add_argument(
        "--manifest", metavar="PATH", help="model manifest (default: $MGIE_MANIFEST or the shipped one)"
    )
    download.add_argument("--dest", metavar="DIR", help="models directory (default: the app's)")
    download.add_argument(
        "--accept-licenses", action="store_true", help="accept every licence without asking"
    )
    download.add_argument(
        "--with",
        dest="with_optional",
        action="append",
        metavar="ID",
        help="also fetch an optional component: ip2p (InstructPix2Pix's own model, ~3.9 GB, "
        "to compare with plain InstructPix2Pix), klein (FLUX.2 [klein] 4B, the second engine, ~16 GB, "
        "Apache-2.0); repeat for both",
    )
    import_klein = msub.add_parser(
        "import-klein",
        help="add FLUX.2 [klein] 4B from a folder on this computer (a copy of "
        "black-forest-labs/FLUX.2-klein-4B in the diffusers layout, e.g. a Hugging Face cache snapshot) "
        "to the installed models",
    )
    import_klein.add_argument("src", metavar="DIR")
    import_klein.add_argument(
        "--models", "--dest", dest="models", metavar="DIR", help="models directory (default: the app's)"
    )
    for name, text in (
        ("list", "show what is installed"),
        ("verify", "re-hash every model file"),
        ("path", "print the models directory"),
    ):
        p = msub.add_parser(name, help=text)
        p.add_argument("--models", "--dest", dest="models", metavar="DIR")
        if name in ("list", "verify"):
            p.add_argument("--json", action="store_true")
            p.add_argument("--manifest", metavar="PATH")
    session = sub.add_parser("session", help="inspect session files")
    ssub = session.add_subparsers(dest="session_command", required=True, parser_class=_Parser)
    info = ssub.add_parser("info", help="print a session's history")
    info.add_argument("file", metavar="FILE")
    info.add_argument("--json", action="store_true")

    serve = sub.add_parser(
        "serve", help="run the engine as a server for other computers' windows and scripts"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this computer only)"
    )
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    serve.add_argument(
        "--token-file",
        metavar="PATH",
        help="the token clients must send (made, owner-only, if "
        "missing; default: server-token in the app's config folder)",
    )
    serve.add_argument(
        "--no-token",
        action="store_true",
        help="on a loopback --host only: take edits from any user of this computer, without a token",
    )
    serve.add_argument("--cert", metavar="PEM", help="TLS certificate (with --key): serve https")
    serve.add_argument("--key", metavar="PEM", help="TLS private key")
    serve.add_argument(
        "--max-upload-mb",
        type=int,
        default=256,
        metavar="N",
        help="largest request accepted, in MiB (default: 256)",
    )
    serve.add_argument(
        "--max-queue",
        type=int,
        default=8,
        metavar="N",
        help="edits that may wait for their turn; past it clients are told to retry (default: 8)",
    )
    serve.add_argument(
        "--max-queue-mb",
        type=int,
        default=512,
        metavar="N",
        help="their photos, as uploaded, in MiB all together (default: 512)",
    )
    _common(serve)
    add_recipe_parser(sub, _Parser)
    add_batch_parser(sub, _common)

    bench = sub.add_parser("bench", help="time our default path against the reference path")
    bench.add_argument("--size", choices=("tiny", "full"), default="tiny")
    bench.add_argument("--device", choices=DEVICES, default="auto")
    bench.add_argument(
        "--models", metavar="DIR", help="benchmark the models installed in DIR instead of generated ones"
    )
    bench.add_argument("--history-edits", type=int, default=50)
    bench.add_argument(
        "--work",
        metavar="DIR",
        help="with --size full --device cpu: keep the full-size stand-in "
        "(reused by the next run) and its bundle in DIR (about 34 GB; the import is measured again)",
    )
    bench.add_argument(
        "--engine",
        choices=("mgie", "klein", "both"),
        default="both",
        help="with --size full --device cpu: measure MGIE (about 25 min), FLUX.2 [klein] (about 15 min, "
        "16 GB of disk) or both (default)",
    )
    bench.add_argument("--json", action="store_true")
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mgie-desktop",
        description="Open the MGIE Desktop window. Subcommands (see "
        "`mgie-desktop SUBCOMMAND --help`): " + ", ".join(SUBCOMMANDS) + ".",
    )
    parser.add_argument("--version", action="version", version=f"mgie-desktop {__version__}")
    parser.add_argument("path", nargs="?", metavar="IMAGE|SESSION", help="a photo to open")
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="run one edit on generated tiny models and open the window offscreen, then exit",
    )
    _common(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = build_parser().parse_args(argv)
            return {
                "edit": cmd_edit,
                "models": cmd_models,
                "bench": cmd_bench,
                "session": cmd_session,
                "serve": cmd_serve,
                "recipe": cmd_recipe,
                "batch": cmd_batch,
            }[args.command](args)
        args = build_gui_parser().parse_args(argv)
        if args.selftest:
            from mgie_desktop.selftest import run_selftest

            return run_selftest()
        return cmd_gui(args)
    except SystemExit as exc:  # argparse: usage errors are exit code 2 already
        return int(exc.code or 0) if isinstance(exc.code, int) else ExitCode.USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except EditCancelled as exc:
        print(f"mgie-desktop: {exc}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except MgieError as exc:
        print(f"mgie-desktop: {exc}", file=sys.stderr)
        return ExitCode.USAGE


def cmd_gui(args: argparse.Namespace) -> int:
    from mgie_desktop.ui.app import run_app

    return run_app(
        path=args.path,
        models=args.models,
        device=args.device,
        memory=args.memory,
        llm_quant=args.llm_quant,
        compile_unet=args.compile,
        precision=args.precision,
    )


def cmd_serve(args: argparse.Namespace) -> ExitCode:
    from mgie_desktop.engine.inventory import check_installed
    from mgie_desktop.remote import require_aiohttp

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be from 0 to 65535, not {args.port}")
    for flag, value in (
        ("--max-upload-mb", args.max_upload_mb),
        ("--max-queue", args.max_queue),
        ("--max-queue-mb", args.max_queue_mb),
    ):
        if value < 1:
            raise InputError(f"{flag} must be at least 1")
    require_aiohttp()
    directory = models_dir(args.models)
    check_installed(directory)  # before binding: a server without models helps nobody
    from mgie_desktop.remote.serve import serve
    from mgie_desktop.remote.server import Limits

    options = {
        "device": args.device,
        "memory": args.memory,
        "llm_quant": args.llm_quant,
        "compile_unet": args.compile,
        "precision": args.precision,
    }
    serve(
        directory,
        options,
        args.host,
        args.port,
        Path(args.token_file) if args.token_file else None,
        Path(args.cert) if args.cert else None,
        Path(args.key) if args.key else None,
        Limits(
            max_body_bytes=args.max_upload_mb * 2**20,
            max_queue=args.max_queue,
            max_queue_bytes=args.max_queue_mb * 2**20,
        ),
        no_token=args.no_token,
    )
    return ExitCode.OK


def cmd_session(args: argparse.Namespace) -> ExitCode:
    from mgie_desktop.core.session import format_session_info, session_info

    info = session_info(Path(args.file))
    print(json.dumps(info, default=str) if args.json else format_session_info(info))
    return ExitCode.OK


def cmd_bench(args: argparse.Namespace) -> int:
    if args.size == "full" and args.device == "mps":
        raise InputError("--size full runs on a CUDA GPU (--device cuda) or on the CPU (--device cpu)")
    if args.size == "full" and args.models:
        raise InputError(
            "--size full generates models and --models DIR uses installed ones: give one of them"
        )
    full_cpu = args.size == "full" and args.device == "cpu"
    if (args.work or args.engine != "both") and not full_cpu:
        raise InputError("--work and --engine are for --size full --device cpu")
    from mgie_desktop.benchmark.run import run, run_full_cpu

    if full_cpu:
        parts = ("mgie", "klein") if args.engine == "both" else (args.engine,)
        return run_full_cpu(args.json, Path(args.work) if args.work else None, parts=parts)
    return run(
        args.size, args.device, args.json, args.history_edits, Path(args.models) if args.models else None
    )


def cmd_edit(args: argparse.Namespace) -> ExitCode:
    from mgie_desktop.core.document import chain_photo
    from mgie_desktop.core.imaging import load_photo, save_photo
    from mgie_desktop.engine.inventory import (
        KLEIN_NOT_INSTALLED,
        PLAIN_NOT_INSTALLED,
        check_installed,
        has_klein,
        has_plain_ip2p,
    )

    started = time.perf_counter()
    instructions = [text.strip() for text in args.instruction]
    if any(not text for text in instructions):
        raise InputError("an instruction is empty: say what the edit should do")
    if len(args.expressive or []) > len(instructions):
        raise InputError(
            "more --expressive than --instruction: each --expressive steers the --instruction "
            "in the same place"
        )
    if args.expressive and args.mode not in ("mgie", "both"):
        raise InputError(
            f"--expressive steers MGIE; {ENGINE_NAMES[args.mode]} reads the --instruction itself"
        )
    if any(not text.strip() for text in args.expressive or []):
        raise InputError("an --expressive text is empty: write what the edit should do, or leave it out")
    for text in instructions:  # refused here, before minutes of loading the models
        check_text(text)
    for text in args.expressive or []:
        check_text(text, "an --expressive text")
    if (args.token_file or args.ca_file) and not args.remote:
        raise InputError("--token-file and --ca-file go with --remote URL")
    params = params_for(
        args.preset,
        seed=args.seed,
        steps=args.steps,
        text_guidance=args.text_guidance,
        image_guidance=args.image_guidance,
        scheduler=args.scheduler,
        pixel_budget=args.pixel_budget,
    )
    sweep = parse_sweep(args.sweep, params) if args.sweep is not None else None
    if sweep is not None and len(instructions) > 1:
        raise InputError("--sweep renders one --instruction on a grid: give just one")
    if sweep is not None and args.mode in ("both", "klein"):
        raise InputError(
            "--sweep goes with --mode mgie or ip2p, not both, nor klein (distilled to work without guidance)"
        )
    output = Path(args.output)
    _check_writable_output(output)
    session_path = Path(args.session) if args.session else None
    if session_path and (
        session_path.suffix.lower() != ".mgie"
        or session_path.is_dir()
        or not session_path.parent.resolve().is_dir()
    ):
        raise InputError(
            f"cannot write the session {session_path}: give a .mgie file name in an existing folder"
        )
    photo = load_photo(Path(args.input))
    mask = None
    if args.mask:
        from mgie_desktop.core.masks import is_full, read_mask

        mask = read_mask(Path(args.mask))
        mask = None if is_full(mask) else mask  # all white: the whole photo, as without a mask
    if args.remote:
        engine = _remote_engine(args)
        identity = engine.info["models"].get("identity")
        missing = (
            f"plain InstructPix2Pix: {PLAIN_NOT_INSTALLED}"
            if args.mode in ("ip2p", "both") and not engine.info["models"].get("plain_ip2p")
            else f"FLUX.2 [klein]: {KLEIN_NOT_INSTALLED}"
            if args.mode == "klein" and not engine.info["models"].get("klein")
            else ""
        )
        if missing:
            engine.close()
            raise InputError(f"the server has no {missing}")
    else:
        directory = models_dir(args.models)
        check_installed(directory)
        if args.mode in ("ip2p", "both") and not has_plain_ip2p(directory):
            raise InputError(PLAIN_NOT_INSTALLED)  # before minutes of loading
        if args.mode == "klein" and not has_klein(directory):
            raise InputError(KLEIN_NOT_INSTALLED)

        from mgie_desktop.engine.inventory import bundle_identity
        from mgie_desktop.engine.loading import BundleParts
        from mgie_desktop.engine.pipeline import MgieEngine  # the heavy imports, only now

        # InstructPix2Pix or klein alone never asks the 7B LLM: it is not loaded at all.
        parts = {"ip2p": BundleParts.PLAIN, "klein": BundleParts.KLEIN}.get(args.mode, BundleParts.MGIE)
        engine = MgieEngine(
            directory,
            device=args.device,
            memory=args.memory,
            llm_quant=args.llm_quant,
            compile_unet=args.compile,
            precision=args.precision,
            parts=parts,
        )
        if engine.device_note:
            print(f"mgie-desktop: {engine.device_note}", file=sys.stderr)
        identity = bundle_identity(directory)
    if sweep is not None:
        return _edit_sweep(
            engine, photo, instructions[0], params, sweep, args, mask, identity, session_path, started
        )
    plain_output = output.with_name(f"{output.stem}-ip2p{output.suffix}")
    chains = {
        mode: _edit_chain(engine, photo.rgb, instructions, params, args, mask, mode)
        for mode in (("mgie", "ip2p") if args.mode == "both" else (args.mode,))
    }
    from mgie_desktop.core.edit_record import edit_record

    for mode, (history, _image, _records) in chains.items():
        path = plain_output if args.mode == "both" and mode == "ip2p" else output
        save_photo(chain_photo(photo, history), path, record=edit_record(history, models=identity))
    for mode, (history, _image, records) in chains.items():
        _mark_did_nothing(history, records, mask, mode, quiet=args.json)
    history, current, records = chains["mgie" if "mgie" in chains else args.mode]
    try:
        session_saved = _save_edit_session(history, session_path, photo, output)
    finally:
        for chain_history, _image, _records in chains.values():
            chain_history.close()
    if args.remote:
        engine.close()
    total = time.perf_counter() - started
    if args.json:
        last = records[-1]
        print(
            json.dumps(
                {
                    "expressive_instruction": last["expressive_instruction"],
                    "steered": last["steered"],
                    "mask": args.mask,
                    **_params_dict(params),
                    "preset": args.preset,
                    "width": current.width,
                    "height": current.height,
                    "working_width": last["working_width"],
                    "working_height": last["working_height"],
                    "device": str(engine.device),
                    "dtype": str(engine.dtype).removeprefix("torch."),
                    "output": str(output),
                    "memory": engine.memory_report(),
                    "load_s": round(engine.load_seconds, 4),
                    "instruct_s": round(sum(r["instruct_s"] for r in records), 4),
                    "render_s": round(sum(r["render_s"] for r in records), 4),
                    "total_s": round(total, 4),
                    "edits": records,
                    "did_nothing": any(r["did_nothing"] for r in records),
                    "mode": args.mode,
                    # klein's own few steps, where the settings above are what was asked for
                    **(
                        {"rendered": _params_dict(history.current.params.render)}
                        if args.mode == "klein"
                        else {}
                    ),
                    **(
                        {"ip2p": _chain_report(chains["ip2p"][2], plain_output)}
                        if args.mode == "both"
                        else {}
                    ),
                }
            )
        )
    else:
        also = f" and {plain_output} (InstructPix2Pix alone)" if args.mode == "both" else ""
        print(f"wrote {output}{also} ({current.width}x{current.height}) in {total:.1f} s")
    return ExitCode.OK if session_saved else ExitCode.OUTPUT_KEPT


def _mark_did_nothing(history, records: list[dict], mask, mode: str, quiet: bool) -> None:
    """Each edit's record says whether it barely changed its source where it was allowed
    (core.change, as the window measures it); each that did gets a warning line, unless ``quiet``
    (``--json`` says it in ``did_nothing``)."""
    from mgie_desktop.core.change import did_nothing

    renders = [step for step in history.steps if step.is_render]
    for step, record in zip(renders, records, strict=True):
        record["did_nothing"] = did_nothing(history.image(step.parent), history.rendered(step.id), mask)
        if record["did_nothing"] and not quiet:
            print(
                f"mgie-desktop: warning: {record['instruction']!r} barely changed the photo "
                f"({ENGINE_NAMES[mode]} sometimes "
                "leaves an instruction unapplied): try another --seed"
                + (
                    " or a stronger --text-guidance"
                    if mode != "klein"
                    else " or other words (klein takes no guidance)"
                ),
                file=sys.stderr,
            )


def _edit_sweep(
    engine, photo, instruction: str, params, sweep, args, mask, identity, session_path, started: float
) -> ExitCode:
    """``edit --sweep``: one LLM pass, one render per cell, each written beside OUTPUT with its
    guidance in its name, and a labelled grid of them all; a ``--session`` keeps every cell as a
    branch from the photo."""
    from mgie_desktop.core.change import did_nothing
    from mgie_desktop.core.document import chain_photo
    from mgie_desktop.core.edit_record import edit_record
    from mgie_desktop.core.history import History
    from mgie_desktop.core.imaging import save_photo
    from mgie_desktop.core.jobs import EditJob
    from mgie_desktop.core.masks import mask_to_text
    from mgie_desktop.core.step_params import StepKind, StepParams
    from mgie_desktop.core.sweep import cell_label, cell_suffix
    from mgie_desktop.core.sweep_grid import sweep_grid

    expressive = (args.expressive or [""])[0].strip()
    job = EditJob(
        0,
        0,
        0,
        photo.rgb,
        instruction,
        params,
        expressive=expressive if args.mode == "mgie" else "",
        mask=mask,
        model=args.mode,
        finish=args.finish,
        sweep=sweep,
    )
    if args.remote:
        result = engine.run(job)  # remote.sync.RemoteEngine: the job as it is, sweep and all
    else:
        from mgie_desktop.engine.jobs import GuideCache, run_job

        result = run_job(engine, job, GuideCache(), None)
    output = Path(args.output)
    kind = StepKind(args.mode)
    said = result.expressive_instruction
    if not args.json:
        print(
            f"{instruction!r} -> "
            + (said if kind is StepKind.MGIE else "(InstructPix2Pix reads it as it is)")
        )
    history = History()
    root = history.start(photo.rgb)
    stored_mask = mask_to_text(mask) if mask is not None else ""
    cells = []
    for image, cell in zip(result.images, result.params, strict=True):
        step = history.push(
            image,
            instruction=instruction,
            params=StepParams.edit(cell, kind),
            parent=root.id,
            timings=result.timings,
            mask=stored_mask,
            expressive_instruction="" if expressive else said,
            steered_instruction=said if expressive else "",
        )
        path = output.with_name(f"{output.stem}{cell_suffix(cell)}{output.suffix}")
        save_photo(
            chain_photo(photo, history, step.id), path, record=edit_record(history, step.id, models=identity)
        )
        cells.append(
            {
                "output": str(path),
                "label": cell_label(cell),
                **_params_dict(cell),
                "did_nothing": did_nothing(photo.rgb, image, mask),
            }
        )
    grid = output.with_name(f"{output.stem}-grid.png")
    save_photo(sweep_grid(result.images, [c["label"] for c in cells], sweep.columns), grid)
    try:
        session_saved = _save_edit_session(history, session_path, photo, grid)
    finally:
        history.close()
    if args.remote:
        engine.close()
    unchanged = sum(c["did_nothing"] for c in cells)
    if unchanged and not args.json:
        print(
            f"mgie-desktop: warning: {unchanged} of {len(cells)} cells barely changed the photo: "
            "try a higher text guidance or a lower image guidance",
            file=sys.stderr,
        )
    total = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {
                    "expressive_instruction": said,
                    "steered": result.steered,
                    "mask": args.mask,
                    **_params_dict(params),
                    "preset": args.preset,
                    "mode": args.mode,
                    "sweep": {"text_guidance": list(sweep.text), "image_guidance": list(sweep.image)},
                    "rows": sweep.rows,
                    "columns": sweep.columns,
                    "cells": cells,
                    "grid": str(grid),
                    "did_nothing": unchanged == len(cells),
                    "width": photo.rgb.width,
                    "height": photo.rgb.height,
                    "device": str(engine.device),
                    "dtype": str(engine.dtype).removeprefix("torch."),
                    "memory": engine.memory_report(),
                    "load_s": round(engine.load_seconds, 4),
                    "instruct_s": round(result.timings["instruct_s"], 4),
                    "render_s": round(result.timings["render_s"], 4),
                    "total_s": round(total, 4),
                }
            )
        )
    else:
        print(
            f"wrote {len(cells)} cells ({sweep.rows}x{sweep.columns}) beside {output} and the grid "
            f"{grid} in {total:.1f} s"
        )
    return ExitCode.OK if session_saved else ExitCode.OUTPUT_KEPT


def _save_edit_session(history, session_path: Path | None, photo, output: Path) -> bool:
    """Save ``edit --session``; False, after one warning line, when it cannot be saved. The
    result comes first: the output is already written and stays, whatever happens here."""
    if session_path is None:
        return True
    from mgie_desktop.core.session import save_session

    try:
        save_session(history, session_path, photo)
    except (MgieError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(
            f"mgie-desktop: warning: wrote {output}, but could not save the session {session_path}: {reason}",
            file=sys.stderr,
        )
        return False
    return True


def _edit_chain(engine, start, instructions: list[str], params, args: argparse.Namespace, mask, mode: str):
    """Each instruction on the previous result: with MGIE (steered where --expressive says), or
    with InstructPix2Pix's own model reading the words (``mode`` "ip2p"). Returns the history,
    the last image and one record per edit (core.chain, shared with ``batch``)."""
    from mgie_desktop.core.chain import ChainStep, run_chain

    steering = list(args.expressive or [])
    steps = [
        ChainStep(
            text,
            params,
            expressive=steering[i] if i < len(steering) and mode == "mgie" else None,
            mask=mask,
            model=mode,
        )
        for i, text in enumerate(instructions)
    ]

    def said(step, record) -> None:
        if not args.json:
            print(
                f"{step.instruction!r} -> "
                + (
                    f"({ENGINE_NAMES[step.model]} reads it as it is)"
                    if step.model != "mgie"
                    else record["expressive_instruction"]
                )
            )

    return run_chain(engine, start, steps, finish=args.finish, on_edit=said)


def _remote_engine(args: argparse.Namespace):
    """The server's engine, for ``edit --remote``; the local-only options make no sense there."""
    local = [
        flag
        for flag, value in (
            ("--models", args.models),
            ("--device", args.device != "auto"),
            ("--memory", args.memory != "auto"),
            ("--llm-quant", args.llm_quant != "auto"),
            ("--precision", args.precision != "auto"),
            ("--compile", args.compile),
        )
        if value
    ]
    if local:
        raise InputError(f"{local[0]} sets up a local engine; with --remote the server decides it")
    from mgie_desktop.remote import require_aiohttp

    require_aiohttp()
    from mgie_desktop.remote.client import check_url
    from mgie_desktop.remote.security import read_token
    from mgie_desktop.remote.sync import RemoteEngine

    check_url(args.remote)
    token = read_token(Path(args.token_file)) if args.token_file else None
    return RemoteEngine(args.remote, token, Path(args.ca_file) if args.ca_file else None)


def _chain_report(records: list[dict], output: Path) -> dict:
    return {
        "output": str(output),
        "render_s": round(sum(r["render_s"] for r in records), 4),
        "edits": records,
    }


def _params_dict(params) -> dict:
    from mgie_desktop.core.chain import params_record

    return params_record(params)


def _check_writable_output(output: Path) -> None:
    from mgie_desktop.core.imaging import SAVE_FORMATS

    if output.suffix.lower() not in SAVE_FORMATS:
        raise InputError(f"cannot write {output}: use a .png, .jpg, .webp or .tif file name")
    if not output.parent.resolve().is_dir():
        raise InputError(f"cannot write {output}: folder {output.parent} does not exist")


def cmd_models(args: argparse.Namespace) -> ExitCode:
    from mgie_desktop.engine import inventory

    command = args.models_command
    if command == "path":
        print(models_dir(args.models))
        return ExitCode.OK
    if command == "download":
        from mgie_desktop.store.commands import download_command

        return download_command(
            args.manifest,
            models_dir(args.dest),
            args.accept_licenses,
            with_optional=tuple(args.with_optional or ()),
        )
    if command == "import-klein":
        from mgie_desktop.store.commands import import_klein_command

        return import_klein_command(Path(args.src), models_dir(args.models))
    if command == "random":
        from mgie_desktop.testing.standin import write_standin

        done = write_standin(
            Path(args.dest), args.size, args.seed, log=lambda msg: print(f"  {msg}", file=sys.stderr)
        )
        print(
            f"wrote the {args.size} stand-in ({done['bytes'] / 1e6:,.0f} MB) to {args.dest} in "
            f"{done['seconds']:.0f} s; install it with `mgie-desktop models import {args.dest} --dest DIR`"
            + (
                f", then `mgie-desktop models import-klein {Path(args.dest) / 'FLUX.2-klein-4B'} --models DIR`"
                if (Path(args.dest) / "FLUX.2-klein-4B").is_dir()
                else ""
            )
        )
        return ExitCode.OK
    if command in ("import", "tiny"):
        dest = models_dir(args.dest) if command == "import" else Path(args.dest)
        return _install(args, dest)
    directory = models_dir(args.models)
    if command == "list":
        return _models_list(directory, args.json, args.manifest)
    try:
        bad = inventory.problems(directory, full_hash=True)
    except MgieError as exc:  # nothing installed: nothing to verify, rather than "1 damaged file"
        print(
            json.dumps({"models_dir": str(directory), "ok": False, "problems": [str(exc)]})
            if args.json
            else f"nothing to verify: {exc}"
        )
        return ExitCode.FAILED
    bad += _source_problems(directory, args.manifest)
    if args.json:
        print(json.dumps({"models_dir": str(directory), "ok": not bad, "problems": bad}))
    for line in bad if not args.json else ():
        print(line)
    if not args.json:
        print("all model files verified" if not bad else f"{len(bad)} damaged or missing file(s)")
    return ExitCode.OK if not bad else ExitCode.FAILED


def _source_problems(directory: Path, manifest: str | None) -> list[str]:
    """Downloaded source files that are present but damaged (missing ones are not a fault
    once converted: the sources may have been freed)."""
    from mgie_desktop.store.commands import verify_sources

    if not (directory / "sources").exists():
        return []
    return [line for line in verify_sources(manifest, directory) if not line.startswith("missing")]


def _models_list(directory: Path, as_json: bool, manifest: str | None = None) -> ExitCode:
    from mgie_desktop.engine import inventory

    try:
        inv = inventory.read_inventory(directory)
        bad = inventory.problems(directory)
        state = "installed" if not bad else "incomplete"
    except MgieError as exc:
        inv, bad, state = {"files": {}}, [str(exc)], "missing"
    from mgie_desktop.store.commands import list_command, manifest_status

    size = sum(f["size"] for f in inv["files"].values())
    if as_json:
        print(
            json.dumps(
                {
                    "models_dir": str(directory),
                    "state": state,
                    "size": size,
                    "files": inv["files"],
                    "problems": bad,
                    "sources": manifest_status(manifest, directory),
                }
            )
        )
        return ExitCode.OK
    print(f"converted bundle in {directory}: {state}, {len(inv['files'])} files, {size / 1e9:.2f} GB")
    for line in bad:
        print(f"  {line}")
    print("\ndownloads (models_manifest.json):")
    return list_command(manifest, directory)  # per model and file: state, size, licence


def _install(args: argparse.Namespace, dest: Path) -> ExitCode:
    from mgie_desktop.engine.convert import convert, locate_reference

    started = time.perf_counter()
    if args.models_command == "tiny":
        from mgie_desktop.engine.tiny import write_tiny_reference

        src = write_tiny_reference(dest / "tiny-reference", emit_image_tokens=args.readable)
    else:
        src = Path(args.src)
    from mgie_desktop.engine.inventory import read_inventory
    from mgie_desktop.store.install import klein_kept

    def log(msg: str) -> None:
        print(f"  {msg}", file=sys.stderr)

    # A new bundle: an installed FLUX.2 [klein] is carried into it (`tiny` writes its own below).
    with klein_kept(dest, log) if args.models_command == "import" else contextlib.nullcontext():
        convert(locate_reference(src), dest, log=log)
    inventory = read_inventory(dest)
    if args.models_command == "tiny":  # the second engine too, in the layout its real files have
        from mgie_desktop.engine.klein_files import add_klein
        from mgie_desktop.engine.tiny_klein import write_tiny_klein

        inventory = add_klein(write_tiny_klein(dest / "tiny-reference" / "FLUX.2-klein-4B"), dest)
    size = sum(f["size"] for f in inventory["files"].values())
    print(
        f"models ready in {dest} ({len(inventory['files'])} files, {size / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.1f} s)"
    )
    return ExitCode.OK
