"""Session files (.mgie), hostile archives, atomic saves, autosave and crash recovery."""

from __future__ import annotations

import errno
import gc
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import weakref
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgie_desktop.core import session as session_mod
from mgie_desktop.core.autosave import Autosaver, discard, find_recoverable
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History, ImageStore
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.session import (
    SourceMeta,
    format_session_info,
    open_session,
    save_session,
    session_info,
)
from mgie_desktop.core.step_params import StepParams

ROOT = Path(__file__).resolve().parents[1]


def noisy(seed: int, size=(24, 16)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def build_history(folder: Path) -> History:
    """root -> a -> b, a -> c (a branch), c -> d; then back to c, so redo from c goes to d,
    and redo from a goes to c (not b)."""
    h = History(ImageStore(folder))
    h.start(noisy(0))
    a = h.push(
        noisy(1),
        instruction="make it snowy",
        expressive_instruction="The scene will be snowy.",
        params=StepParams.edit(EditParams(seed=42, steps=20, text_guidance=7.5)),
        timings={"instruct": 1.5, "render": 3.25},
    )
    h.push(noisy(2), instruction="add a dog", params=StepParams.edit(EditParams(seed=7)))
    h.go_to(a.id)
    c = h.push(
        noisy(3),
        instruction="golden hour ☀",
        expressive_instruction="Warm light.",
        params=StepParams.edit(EditParams(seed=9)),
    )
    h.push(noisy(4), instruction="zoom", params=StepParams.edit(EditParams(seed=11)))
    h.go_to(c.id)
    return h


META = SourceMeta(
    name="holiday.jpg",
    icc_profile=b"\x00icc-bytes\xff" * 10,
    exif=b"Exif\x00\x00MM*",
    alpha=Image.new("L", (24, 16), 200),
    source_format="JPEG",
    source_mode="RGB",
)


@pytest.fixture
def saved(tmp_path):
    h = build_history(tmp_path / "store")
    path = save_session(h, tmp_path / "edit.mgie", META)
    yield h, path
    h.close()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --------------------------------------------------------------------------- round trip


def test_round_trip_keeps_graph_current_redo_and_images(saved, tmp_path):
    h, path = saved
    s = open_session(path, tmp_path / "work")
    try:
        r = s.history
        assert r.to_manifest() == h.to_manifest()  # ids, parents, texts, params, timings, created, redo
        assert r.current.id == h.current.id == 3
        for step in h.steps:
            assert r.step(step.id) == step
            assert r.image(step.id).tobytes() == h.image(step.id).tobytes()  # lossless
        assert [x.id for x in r.children(1)] == [2, 3]
        # Redo memory: from c redo goes to d; undo twice then redo retraces a -> c, not a -> b.
        assert r.redo().id == 4
        r.undo()
        r.undo()
        r.undo()
        assert r.current.id == 0
        assert r.redo().id == 1 and r.redo().id == 3 and r.redo().id == 4 and r.redo() is None
        # New edits get fresh ids after the restored ones.
        assert r.push(noisy(5), instruction="more").id == 5
        assert s.name == "holiday.jpg" and s.icc_profile == META.icc_profile and s.exif == META.exif
        assert s.alpha.mode == "L" and s.alpha.tobytes() == META.alpha.tobytes()
        assert s.source.source_format == "JPEG" and s.app["name"] == "MGIE Desktop"
        assert set(os.listdir(tmp_path / "work")) >= {f"step-{i:05d}.png" for i in range(5)}
    finally:
        s.close()


def test_file_layout_manifest_and_stored_pngs(saved):
    h, path = saved
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("session.json"))
        for info in zf.infolist():
            if info.filename.endswith(".png"):
                assert info.compress_type == zipfile.ZIP_STORED
    assert names[0] == "session.json"
    assert set(names) == {"session.json", "source/alpha.png"} | {f"steps/step-{i:05d}.png" for i in range(5)}
    assert manifest["format"] == "mgie-session" and manifest["version"] == 1
    assert manifest["app"]["name"] == "MGIE Desktop" and manifest["current"] == 3
    assert manifest["source"]["name"] == "holiday.jpg" and manifest["source"]["alpha"] == "source/alpha.png"
    step1 = manifest["steps"][1]
    assert step1["image"] == "steps/step-00001.png" and step1["parent"] == 0
    assert step1["redo_child"] == 3 and step1["params"]["seed"] == 42


def test_session_info_and_text(saved):
    _, path = saved
    info = session_info(path)
    assert info["current"] == 3 and info["version"] == 1
    assert info["source"] == {
        "name": "holiday.jpg",
        "format": "JPEG",
        "has_icc_profile": True,
        "has_exif": True,
        "has_alpha": True,
    }
    by_id = {s["id"]: s for s in info["steps"]}
    assert by_id[0]["parent"] is None and by_id[0]["children"] == [1] and by_id[0]["seed"] is None
    assert by_id[1]["instruction"] == "make it snowy"
    assert by_id[1]["expressive_instruction"] == "The scene will be snowy."
    assert by_id[1]["seed"] == 42 and by_id[1]["children"] == [2, 3]
    assert by_id[3]["current"] and not by_id[4]["current"] and by_id[3]["size"] == [24, 16]
    json.dumps(info)  # what `session info --json` prints
    text = format_session_info(info)
    assert "edit.mgie" in text and "5 steps" in text and "holiday.jpg" in text
    assert '#3 "golden hour ☀" -> "Warm light."  seed 9' in text
    assert text.splitlines()[[i for i, line in enumerate(text.splitlines()) if "#3" in line][0]].endswith(
        "<- current"
    )


# --------------------------------------------------------------------------- hostile files


def rewrite(src: Path, dst: Path, *, drop=(), add=(), manifest=None) -> Path:
    """Copy a session zip, dropping members, adding (ZipInfo|name, bytes) pairs, editing the manifest."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info)
            if info.filename == "session.json" and manifest is not None:
                data = manifest(json.loads(data))
                data = data if isinstance(data, bytes) else json.dumps(data).encode()
            zout.writestr(info, data)
        for name, data in add:
            zout.writestr(name, data)
    return dst


def evil_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("placeholder")
    info.filename = name  # bypass ZipInfo's own normalisation: write the raw hostile name
    return info


def edit_steps(fn):
    def apply(m):
        fn({s["id"]: s for s in m["steps"]})
        return m

    return apply


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def declare_huge(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    name = b"steps/step-00001.png"
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_len = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_len] == name:
            data[at + 24 : at + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size
        at = data.find(b"PK\x01\x02", at + 4)
    dst.write_bytes(bytes(data))
    return dst


def flip_byte_in_step(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("steps/step-00002.png")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


HOSTILE = {
    "traversal": (lambda s, d: rewrite(s, d, add=[(evil_info("../evil.png"), b"x")]), "unsafe"),
    "traversal-inside": (
        lambda s, d: rewrite(s, d, add=[(evil_info("steps/../../evil.png"), b"x")]),
        "unsafe",
    ),
    "absolute": (lambda s, d: rewrite(s, d, add=[(evil_info("/tmp/mgie-evil.png"), b"x")]), "unsafe"),
    "drive": (lambda s, d: rewrite(s, d, add=[(evil_info("C:/evil.png"), b"x")]), "unsafe"),
    "backslash": (lambda s, d: rewrite(s, d, add=[(evil_info("..\\evil.png"), b"x")]), "unsafe"),
    "manifest-traversal": (
        lambda s, d: rewrite(s, d, manifest=edit_steps(lambda st: st[2].update(image="../../evil.png"))),
        "unexpected image",
    ),
    "huge-declared": (declare_huge, "zip bomb"),
    "not-a-zip": (
        lambda s, d: d.write_bytes(b"just some text, not a zip\n" * 10) and d,
        "not an MGIE session",
    ),
    "empty": (lambda s, d: d.write_bytes(b"") or d, "empty"),
    "truncated": (lambda s, d: d.write_bytes(s.read_bytes()[: s.stat().st_size // 2]) and d, "truncated"),
    "corrupt-image-crc": (flip_byte_in_step, "damaged"),
    "missing-image": (lambda s, d: rewrite(s, d, drop={"steps/step-00002.png"}), "image of step 2"),
    "missing-alpha": (lambda s, d: rewrite(s, d, drop={"source/alpha.png"}), "transparency"),
    "missing-manifest": (lambda s, d: rewrite(s, d, drop={"session.json"}), "no session.json"),
    "bad-json": (
        lambda s, d: rewrite(s, d, manifest=lambda m: b'{"format": "mgie-session", "ver'),
        "not valid JSON",
    ),
    "not-a-manifest": (
        lambda s, d: rewrite(s, d, manifest=lambda m: [1, 2, 3]),
        "not an MGIE session manifest",
    ),
    "newer-version": (lambda s, d: rewrite(s, d, manifest=lambda m: {**m, "version": 99}), "newer"),
    "cycle": (
        lambda s, d: rewrite(
            s, d, manifest=edit_steps(lambda st: (st[1].update(parent=4), st[1].update(redo_child=None)))
        ),
        "cycle",
    ),
    "self-parent": (
        lambda s, d: rewrite(s, d, manifest=edit_steps(lambda st: st[2].update(parent=2))),
        "cycle",
    ),
    "missing-parent": (
        lambda s, d: rewrite(s, d, manifest=edit_steps(lambda st: st[4].update(parent=77))),
        "does not exist",
    ),
    "bad-current": (lambda s, d: rewrite(s, d, manifest=lambda m: {**m, "current": 99}), "current step"),
    "bad-redo": (
        lambda s, d: rewrite(s, d, manifest=edit_steps(lambda st: st[0].update(redo_child=4))),
        "redo",
    ),
    "bad-types": (
        lambda s, d: rewrite(s, d, manifest=edit_steps(lambda st: st[1].update(params="x"))),
        "params",
    ),
    "bad-base64": (
        lambda s, d: rewrite(s, d, manifest=lambda m: {**m, "source": {**m["source"], "exif": "@@"}}),
        "base64",
    ),
    "image-not-png": (
        lambda s, d: rewrite(
            s, d, drop={"steps/step-00003.png"}, add=[("steps/step-00003.png", b"GIF89a" + bytes(100))]
        ),
        "not a valid PNG",
    ),
    "duplicate-step": (
        lambda s, d: rewrite(s, d, manifest=lambda m: {**m, "steps": m["steps"] + m["steps"][:1]}),
        "twice",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_session_files_are_refused_without_writing_outside(case, saved, tmp_path):
    _, good = saved
    make, message = HOSTILE[case]
    bad = make(good, tmp_path / "bad.mgie")
    work = tmp_path / "work"
    before = tree(tmp_path)
    with pytest.raises(InputError) as err:
        open_session(bad, work)
    assert message.lower() in str(err.value).lower(), str(err.value)
    assert str(err.value).startswith("cannot open session 'bad.mgie'")
    after = tree(tmp_path)
    assert after <= before | {"work"}  # nothing new anywhere, at most the (empty) work folder
    assert not work.exists() or not any(work.iterdir())
    assert not Path("/tmp/mgie-evil.png").exists()
    if case not in ("corrupt-image-crc", "image-not-png"):  # info does not decode image data
        with pytest.raises(InputError):
            session_info(bad)


def test_pixel_limit_is_enforced(saved, tmp_path, monkeypatch):
    _, good = saved
    big = png_bytes(Image.new("RGB", (300, 200)))
    bad = rewrite(
        good, tmp_path / "big.mgie", drop={"steps/step-00002.png"}, add=[("steps/step-00002.png", big)]
    )
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(InputError, match="too large"):
        open_session(bad, tmp_path / "work")
    assert not (tmp_path / "work").exists()  # created for the extraction, removed again


def test_total_size_limit(saved, tmp_path, monkeypatch):
    _, good = saved
    monkeypatch.setattr(session_mod.limits, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(InputError, match="unpacked"):
        open_session(good, tmp_path / "work")


def test_unexpected_members_are_not_extracted(saved, tmp_path):
    _, good = saved
    extra = rewrite(
        good, tmp_path / "extra.mgie", add=[("notes/readme.txt", b"hi"), ("steps/step-00099.png", b"x")]
    )
    s = open_session(extra, tmp_path / "work")
    s.close()
    assert sorted(os.listdir(tmp_path / "work")) == [f"step-{i:05d}.png" for i in range(5)]


# --------------------------------------------------------------------------- atomic save


def test_failed_save_keeps_previous_file_and_leaves_no_partial(saved, tmp_path, monkeypatch):
    h, path = saved
    before = path.read_bytes()
    h.push(noisy(9), instruction="one more")
    real = session_mod.streams.copy_stream

    def disk_full(src, dst, limit=None):
        dst.write(src.read(100))  # some bytes reach the temp file, then the disk fills up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session_mod.streams, "copy_stream", disk_full)
    with pytest.raises(InputError, match="disk is full"):
        save_session(h, path, META)
    monkeypatch.setattr(session_mod.streams, "copy_stream", real)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit.mgie", "store"]
    assert len(session_info(path)["steps"]) == 5
    save_session(h, path, META)
    assert len(session_info(path)["steps"]) == 6


def test_save_into_missing_or_readonly_folder(saved, tmp_path):
    h, _ = saved
    with pytest.raises(InputError, match="does not exist"):
        save_session(h, tmp_path / "nope" / "x.mgie")
    if os.name == "nt" or os.geteuid() == 0:
        return  # root ignores permissions
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot save session 'x.mgie'"):
            save_session(h, ro / "x.mgie")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# --------------------------------------------------------------------------- autosave


def test_autosave_round_trip_clean_close_and_discard(tmp_path):
    folder = tmp_path / "autosave"
    h = build_history(tmp_path / "store")
    saver = Autosaver(folder)
    saver.save(h, META)
    assert find_recoverable(folder) == []  # our own live session is locked, not "left behind"
    with pytest.raises(InputError, match="running"):
        discard(saver.path)
    saver.close()
    assert find_recoverable(folder) == [] and list(folder.iterdir()) == []

    crashed = Autosaver(folder)
    crashed.save(h, META)
    crashed.release()  # as if the process had died: lock gone, files kept
    (found,) = find_recoverable(folder)
    assert found.steps == 5 and found.source_name == "holiday.jpg" and found.problem is None
    assert found.current_instruction == "golden hour ☀" and found.pid == os.getpid()
    s = found.open(tmp_path / "work")
    try:
        assert s.history.to_manifest() == h.to_manifest()
        assert s.alpha.tobytes() == META.alpha.tobytes()
    finally:
        s.close()
    found.discard()
    assert find_recoverable(folder) == [] and list(folder.iterdir()) == []
    h.close()


def test_interrupted_autosave_leaves_previous_one_readable(tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    h = build_history(tmp_path / "store")
    saver = Autosaver(folder)
    saver.save(h, META)
    h.push(noisy(10), instruction="interrupted")

    def fail_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")  # after the bytes went into the temp file

    monkeypatch.setattr(os, "fsync", fail_fsync)
    with pytest.raises(InputError, match="autosave"):
        saver.save(h, META)
    monkeypatch.undo()
    saver.release()
    (found,) = find_recoverable(folder)
    assert found.steps == 5
    s = found.open(tmp_path / "work")
    assert len(s.history) == 5 and s.history.current.id == 3
    assert not [p for p in found.path.rglob("*") if p.name.endswith(".tmp")]
    s.close()
    h.close()


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np
    from PIL import Image
    from mgie_desktop.core.history import History, ImageStore
    from mgie_desktop.core.autosave import Autosaver
    from mgie_desktop.core.params import EditParams
    from mgie_desktop.core.step_params import StepParams

    out = Path(sys.argv[1])
    h = History(ImageStore(out / "store", cache_size=2))
    saver = Autosaver(out / "autosave")
    rng = np.random.default_rng(0)
    def image():
        return Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), "RGB")
    h.start(image())
    saver.save(h, {"name": "kill.png"})
    n = 0
    while True:
        n += 1
        h.push(image(), instruction=f"edit {n}", params=StepParams.edit(EditParams(seed=n)))
        saver.save(h, {"name": "kill.png"})
        print(n, flush=True)
        if len(sys.argv) > 2 and n >= int(sys.argv[2]):
            saver.close()
            break
""")


def run_child(tmp_path: Path, *args: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_sigkilled_autosaving_process_is_recoverable(tmp_path):
    proc = run_child(tmp_path)
    try:
        last = 0
        while last < 8:
            line = proc.stdout.readline()
            assert line, "child exited early"
            last = int(line)
        assert find_recoverable(tmp_path / "autosave") == []  # still running: locked
        time.sleep(0.05)  # land the kill at some random point inside a later save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    (found,) = find_recoverable(tmp_path / "autosave")
    assert found.problem is None and found.source_name == "kill.png"
    assert found.steps >= last + 1  # the last finished edit (and the root) are never lost
    s = found.open(tmp_path / "work")
    try:
        current = s.history.current
        assert current.instruction == f"edit {current.id}" and current.params.render.seed == current.id
        for step in s.history.steps:
            assert s.history.image(step.id).size == (128, 96)
    finally:
        s.close()


def test_cleanly_closed_process_leaves_nothing_to_recover(tmp_path):
    proc = run_child(tmp_path, "3")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.split() == ["1", "2", "3"]
    assert find_recoverable(tmp_path / "autosave") == []
    assert list((tmp_path / "autosave").iterdir()) == []


# --------------------------------------------------------------------------- memory


def test_store_keeps_only_the_cache_in_memory(tmp_path):
    store = ImageStore(tmp_path, cache_size=3)
    h = History(store)
    h.start(noisy(0, (64, 48)))
    refs = []
    for i in range(1, 51):
        h.push(noisy(i, (64, 48)), instruction=str(i))
        refs.append(weakref.ref(h.image()))  # the store's own cached copy
        assert len(store.cached_ids) <= 3 and store.pending <= store.max_pending + 1
    store.flush()
    gc.collect()
    alive = [r for r in refs if r() is not None]
    assert len(alive) <= 3  # everything evicted from the cache was freed
    assert len(list(tmp_path.glob("step-*.png"))) == 51
    assert h.image(1).tobytes() == noisy(1, (64, 48)).tobytes()
    h.close()


def test_discarding_waits_out_a_moment_s_look_but_not_a_running_app(tmp_path):
    import threading

    from mgie_desktop.core import autosave

    h = History(ImageStore(tmp_path / "store"))
    h.start(noisy(0))
    saver = Autosaver(tmp_path / "autosave")
    saver.save(h, {"name": "look.png"})
    saver.release()
    (found,) = find_recoverable(tmp_path / "autosave")
    lock = open(found.path / autosave.LOCK_NAME, "a+b")
    assert autosave._try_lock(lock)  # another window looking at it, for a moment
    threading.Timer(0.3, lambda: autosave._unlock(lock)).start()
    discard(found)
    assert not found.path.exists()
    lock.close()
    h.close()
