"""``mgie-desktop batch RECIPE IN OUT --watch`` on tiny models: each photo that lands is edited
once, and only once it is complete; hidden and partial names are left alone; a restart redoes
nothing; ``--move-done`` files the originals away; Ctrl+C and SIGTERM end it with status 130.

The watcher runs as the command runs, in this test's main thread (where its signal handlers
go); a driver thread writes the photos, waits for the results, then sends the signal that ends
it. Settle time 1.5 s, so the folder is looked at every 0.375 s: a photo written in chunks 0.45 s
apart is looked at between chunks, and a watcher that did not wait for it to settle would read
it half-written."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgie_desktop.cli import main
from mgie_desktop.core import params as params_module

SETTLE = 1.5
PAUSE = 0.45  # between the chunks of a slow write: more than a look's interval (0.375 s), well under SETTLE
WAIT = 30.0


def _png(index: int) -> bytes:
    """A 64x48 photo of noise (about 9 KB: it does not compress), as PNG bytes."""
    rgb = np.random.default_rng(index).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, emitting_models) -> Path:
    """A one-edit recipe (draft, 1 step, a 64x64 pixel budget) exported from a session."""
    root = tmp_path_factory.mktemp("watch-recipe")
    (root / "first.png").write_bytes(_png(0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            params_module.PRESETS, "draft", replace(params_module.PRESETS["draft"], pixel_budget=64 * 64)
        )
        assert (
            main(
                [
                    "edit",
                    str(root / "first.png"),
                    "-i",
                    "make it warmer",
                    "--preset",
                    "draft",
                    "--steps",
                    "1",
                    "--models",
                    str(emitting_models),
                    "--device",
                    "cpu",
                    "--precision",
                    "fp32",
                    "-o",
                    str(root / "edited.png"),
                    "--session",
                    str(root / "look.mgie"),
                ]
            )
            == 0
        )
    assert main(["recipe", "export", str(root / "look.mgie"), "-o", str(root / "look.json")]) == 0
    return root / "look.json"


class Seen:
    """What the watcher did, from inside: the bytes of each photo it read, the sizes it saw
    each file at, whether it has started looking."""

    def __init__(self, monkeypatch):
        from mgie_desktop.batch import photo, watch

        self.reads: list[tuple[str, str]] = []
        self.sizes: dict[str, set[int]] = {}
        self.started = threading.Event()
        real_read, real_look, real_run = photo.read_photo, watch.Arrivals.look, watch.Watcher.run
        seen = self

        def read_photo(path):
            seen.reads.append((Path(path).name, hashlib.sha256(Path(path).read_bytes()).hexdigest()))
            return real_read(path)

        def look(self):
            ready = real_look(self)
            for name, entry in self.seen.items():
                seen.sizes.setdefault(name, set()).add(entry.signature[0])
            return ready

        def run(self):
            seen.started.set()
            return real_run(self)

        monkeypatch.setattr(photo, "read_photo", read_photo)
        monkeypatch.setattr(watch.Arrivals, "look", look)
        monkeypatch.setattr(watch.Watcher, "run", run)


def _watch(
    recipe: Path,
    inbox: Path,
    out: Path,
    models: Path,
    seen: Seen,
    drive,
    *extra: str,
    stop: int = signal.SIGINT,
    as_json: bool = True,
) -> int:
    """Run the watcher here until ``drive`` (in a thread) is done, then send it ``stop``."""
    ended, failures, late = threading.Event(), [], []

    def driver():
        try:
            assert seen.started.wait(WAIT), "the watcher did not start"
            drive(lambda test, what: _wait(test, what, ended), ended)
        except BaseException as exc:  # noqa: BLE001 (raised in the test's thread below)
            failures.append(exc)
        finally:
            if not ended.is_set():
                os.kill(os.getpid(), stop)

    # Outside the watcher's own handlers, a signal is noted, not a KeyboardInterrupt in pytest.
    previous = {
        number: signal.signal(number, lambda *args: late.append(args))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    try:
        code = main(
            [
                "batch",
                str(recipe),
                str(inbox),
                str(out),
                "--format",
                "png",
                "--models",
                str(models),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--watch",
                "--settle",
                str(SETTLE),
                *(["--json"] if as_json else []),
                *extra,
            ]
        )
    finally:
        ended.set()
        thread.join(WAIT)
        for number, handler in previous.items():
            signal.signal(number, handler)
    if failures:
        raise failures[0]
    return code


def _wait(test, what: str, ended: threading.Event) -> None:
    deadline = time.monotonic() + WAIT
    while not test():
        assert not ended.is_set(), f"the watcher ended before {what}"
        assert time.monotonic() < deadline, f"waited {WAIT:g} s for {what}"
        time.sleep(0.05)


def _lines(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _recorded(out: Path, *names: str):
    return lambda: {line["photo"] for line in _lines(out)} >= set(names)


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _write_slowly(path: Path, data: bytes, chunks: int = 4) -> None:
    size = -(-len(data) // chunks)
    with open(path, "wb") as fh:
        for start in range(0, len(data), size):
            if start:
                time.sleep(PAUSE)
            fh.write(data[start : start + size])
            fh.flush()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def folders(tmp_path):
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    return inbox, out


def test_each_photo_is_edited_once_when_complete_and_a_restart_redoes_none(
    recipe, emitting_models, folders, monkeypatch, capsys
):
    inbox, out = folders
    photos = {
        name: _png(i) for i, name in enumerate(("before.png", "slow.png", "fox.png", "new.png"), start=1)
    }
    (inbox / "before.png").write_bytes(photos["before.png"])  # there before the watcher starts
    ignored = {
        ".hidden.png": _png(10),
        "half.png.part": _png(11),
        "~$locked.png": _png(12),
        "draft.png.crdownload": _png(13),
    }
    seen = Seen(monkeypatch)

    def drive(wait, _ended):
        for name, data in ignored.items():
            (inbox / name).write_bytes(data)
        # A browser's way: an empty photo.png, the bytes in photo.png.part, then renamed over it.
        (inbox / "fox.png").write_bytes(b"")
        (inbox / "fox.png.part").write_bytes(photos["fox.png"])
        _write_slowly(inbox / "slow.png", photos["slow.png"])
        wait(_recorded(out, "before.png", "slow.png"), "the first two photos")
        time.sleep(2 * SETTLE)  # long enough for anything else to have been taken
        assert {line["photo"] for line in _lines(out)} == {"before.png", "slow.png"}
        os.replace(inbox / "fox.png.part", inbox / "fox.png")
        wait(_recorded(out, "fox.png"), "the downloaded photo")

    assert _watch(recipe, inbox, out, emitting_models, seen, drive) == 130
    events = _events(capsys.readouterr().out)
    lines = _lines(out)
    assert sorted(line["photo"] for line in lines) == ["before.png", "fox.png", "slow.png"]  # once each
    assert all(line["status"] == "ok" and Path(line["output"]).is_file() for line in lines)
    # Each was read whole, once; the slow one was looked at half-written, and left until complete.
    assert sorted(seen.reads) == sorted(
        (name, _sha(photos[name])) for name in ("before.png", "slow.png", "fox.png")
    )
    assert len(seen.sizes["slow.png"]) > 2 and min(seen.sizes["slow.png"]) < len(photos["slow.png"])
    assert 0 in seen.sizes["fox.png"]  # the empty placeholder was seen, and not taken
    for name, data in ignored.items():
        assert (inbox / name).read_bytes() == data and name not in seen.sizes
    assert [e["event"] for e in events][:1] == ["watching"] and events[-1]["event"] == "stopped"
    assert [(e["event"], e["photo"]) for e in events if e["event"] in ("landed", "done")] == [
        ("landed", "before.png"),
        ("done", "before.png"),
        ("landed", "slow.png"),
        ("done", "slow.png"),
        ("landed", "fox.png"),
        ("done", "fox.png"),
    ]
    assert (events[-1]["done"], events[-1]["failed"], events[-1]["skipped"]) == (3, 0, 0)
    done = next(e for e in events if e["event"] == "done")
    assert (
        done["output"] == str(out / "before.png")
        and done["expressive_instructions"]
        and done["moved_to"] is None
    )

    # Restarted (and stopped by SIGTERM this time): the three are not edited again; a new one is.
    stamps = {line["output"]: os.stat(line["output"]).st_mtime_ns for line in lines}
    seen = Seen(monkeypatch)

    def drive_again(wait, _ended):
        time.sleep(
            1.5 * SETTLE
        )  # the three already there are complete, and skipped, before the new one lands
        (inbox / "new.png").write_bytes(photos["new.png"])
        wait(_recorded(out, "new.png"), "the new photo")

    assert _watch(recipe, inbox, out, emitting_models, seen, drive_again, stop=signal.SIGTERM) == 130
    events = _events(capsys.readouterr().out)
    assert [name for name, _ in seen.reads] == ["new.png"]
    assert sorted(e["photo"] for e in events if e["event"] == "skipped") == [
        "before.png",
        "fox.png",
        "slow.png",
    ]
    assert all(os.stat(output).st_mtime_ns == stamp for output, stamp in stamps.items())
    assert [line["photo"] for line in _lines(out)][3:] == ["new.png"]
    assert (events[-1]["event"], events[-1]["done"], events[-1]["skipped"]) == ("stopped", 1, 3)


def test_move_done_files_the_originals_and_the_failures_with_their_reason(
    recipe, emitting_models, folders, monkeypatch, capsys
):
    inbox, out = folders
    good, bad = _png(20), b"\x89PNG\r\n\x1a\n not really a PNG"
    (inbox / "done").mkdir()
    (inbox / "done" / "good.png").write_bytes(b"an earlier good.png, filed away")  # not read; not overwritten
    seen = Seen(monkeypatch)

    def drive(wait, _ended):
        (inbox / "good.png").write_bytes(good)
        (inbox / "bad.png").write_bytes(bad)
        wait(
            lambda: (inbox / "failed" / "bad.png.txt").exists() and not (inbox / "good.png").exists(),
            "both photos filed",
        )

    assert _watch(recipe, inbox, out, emitting_models, seen, drive, "--move-done") == 130
    events = {e["photo"]: e for e in _events(capsys.readouterr().out) if e["event"] in ("done", "failed")}
    lines = {line["photo"]: line for line in _lines(out)}
    assert {name: line["status"] for name, line in lines.items()} == {"bad.png": "failed", "good.png": "ok"}
    assert sorted(p.name for p in inbox.iterdir()) == ["done", "failed"]
    assert (inbox / "done" / "good (2).png").read_bytes() == good
    assert (inbox / "done" / "good.png").read_bytes() == b"an earlier good.png, filed away"
    assert (inbox / "failed" / "bad.png").read_bytes() == bad
    reason = (inbox / "failed" / "bad.png.txt").read_text()
    assert reason == lines["bad.png"]["error"] + "\n" and "bad.png" in reason
    assert events["good.png"]["moved_to"] == str(inbox / "done" / "good (2).png")
    assert events["bad.png"]["moved_to"] == str(inbox / "failed" / "bad.png")
    assert events["bad.png"]["reason_file"] == str(inbox / "failed" / "bad.png.txt")
    assert sorted(name for name, _ in seen.reads) == ["bad.png", "good.png"]
    # done/ and failed/ are subfolders: a batch never reads them.
    again = out.parent / "again"
    assert main(["batch", str(recipe), str(inbox), str(again), "--models", str(emitting_models)]) == 2
    assert "no photos in" in capsys.readouterr().err and not again.exists()


def test_a_second_ctrl_c_abandons_the_photo_under_way_and_leaves_no_trace(
    recipe, emitting_models, folders, monkeypatch, capsys
):
    from mgie_desktop.batch import photo

    inbox, out = folders
    real_edit = photo.PhotoEditor._edit

    def edit(self, job, *args, **kwargs):  # Ctrl+C twice while the photo renders
        if job.name == "second.png":
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_edit(self, job, *args, **kwargs)

    monkeypatch.setattr(photo.PhotoEditor, "_edit", edit)
    seen = Seen(monkeypatch)

    first, second = _png(30), _png(31)

    def drive(wait, ended):
        (inbox / "first.png").write_bytes(first)
        wait(_recorded(out, "first.png"), "the first photo")
        (inbox / "second.png").write_bytes(second)
        assert ended.wait(WAIT), "the watcher did not end"  # on its own: no signal from here

    assert _watch(recipe, inbox, out, emitting_models, seen, drive, as_json=False) == 130
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-2:] == [  # the first Ctrl+C, then the CLI's line for the second
        "stopping once second.png is saved and recorded (Ctrl+C again stops now, abandoning it)",
        "interrupted",
    ]
    said = captured.out.splitlines()  # a line per photo as it lands and as it is done
    assert said[0].startswith(f"watching {inbox} for photos") and "Ctrl+C stops" in said[0]
    assert said[1] == f"landed: first.png ({len(first) / 1024:.1f} KB)"
    assert said[2].startswith(f"done: first.png -> {out / 'first.png'} (") and said[2].endswith(" s)")
    assert said[3:] == [f"landed: second.png ({len(second) / 1024:.1f} KB)"]
    assert [line["photo"] for line in _lines(out)] == ["first.png"]
    assert sorted(p.name for p in out.iterdir()) == [
        "first.png",
        "results.jsonl",
    ]  # no half output, no marker
    assert (out / "results.jsonl").read_bytes().endswith(b"\n")


def test_watch_options_are_checked_before_the_models_load(recipe, folders, capsys):
    inbox, out = folders
    for extra, problem in (
        (["--settle", "1"], "--settle and --move-done go with --watch"),
        (["--move-done"], "go with --watch"),
        (["--watch", "--settle", "0"], "--settle SECONDS must be more than 0"),
        (["--watch", "--settle", "nan"], "--settle SECONDS must be more than 0"),
        (["--watch", "--ray"], "leave out --ray"),
    ):
        assert main(["batch", str(recipe), str(inbox), str(out), *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and problem in err[0], (extra, err)
    assert not out.exists()


def test_a_file_is_complete_once_unchanged_for_the_settle_time(tmp_path):
    from mgie_desktop.batch.watch import Arrivals, is_partial_name

    now = [0.0]
    arrivals = Arrivals(tmp_path, settle=2.0, clock=lambda: now[0])
    photo = tmp_path / "a.jpg"

    def look_at(t):
        now[0] = t
        return [name for name, _ in arrivals.look()]

    photo.write_bytes(b"")
    assert look_at(0) == [] and look_at(5) == []  # empty: never complete
    photo.write_bytes(b"12")
    assert look_at(6) == [] and look_at(7.9) == []  # unchanged for less than 2 s
    with open(photo, "ab") as fh:
        fh.write(b"34")
    assert look_at(8.5) == [] and look_at(10) == []  # changed at 8.5: the 2 s start again
    now[0] = 10.5
    ready = arrivals.look()
    assert [name for name, _ in ready] == ["a.jpg"] and ready[0][1][0] == 4
    arrivals.handle(*ready[0])
    assert look_at(20) == []  # handled: not again
    with open(photo, "ab") as fh:
        fh.write(b"56")
    assert look_at(21) == [] and look_at(23) == ["a.jpg"]  # changed since: complete again later
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg.part").write_bytes(b"x")
    assert look_at(30) == ["a.jpg"] and look_at(40) == ["a.jpg"]  # (not handled this time)
    for name in (
        ".a.jpg",
        "a.jpg.part",
        "a.jpg.crdownload",
        "a.tmp",
        "~$a.jpg",
        "a.jpg.download",
        "A.JPG.PART",
    ):
        assert is_partial_name(name), name
    assert not is_partial_name("a.jpg") and not is_partial_name("part.jpg")
