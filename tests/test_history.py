import pytest
from PIL import Image

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.history import History, ImageStore
from mgie_desktop.core.params import EditParams
from mgie_desktop.core.step_params import StepParams


def img(value):
    return Image.new("RGB", (8, 6), (value, value, value))


def test_undo_redo_along_a_branch(tmp_path):
    h = History(ImageStore(tmp_path))
    root = h.start(img(0))
    a = h.push(img(10), instruction="a")
    b = h.push(img(20), instruction="b", expressive_instruction="B!")
    assert h.current == b and h.can_undo and not h.can_redo
    assert h.undo() == a and h.undo() == root and h.undo() is None
    assert h.redo() == a and h.redo() == b and h.redo() is None
    assert h.image().getpixel((0, 0)) == (20, 20, 20)


def test_editing_an_older_step_branches_and_keeps_both(tmp_path):
    h = History(ImageStore(tmp_path))
    root = h.start(img(0))
    a = h.push(img(10), instruction="a")
    h.push(img(20), instruction="b")
    h.go_to(a.id)
    c = h.push(img(30), instruction="c")  # a branch from a
    assert [s.instruction for s in h.children(a.id)] == ["b", "c"]
    assert [s.id for s in h.lineage(c.id)] == [root.id, a.id, c.id]
    assert len(h) == 4
    h.undo()
    assert h.redo() == c  # redo follows the branch we were on
    b = h.children(a.id)[0]
    h.go_to(b.id)
    h.undo()
    assert h.redo() == b


def test_images_survive_the_cache_and_live_on_disk(tmp_path):
    store = ImageStore(tmp_path, cache_size=2)
    h = History(store)
    h.start(img(0))
    for v in range(1, 8):
        h.push(img(v * 10), instruction=str(v))
    store.flush()
    assert len(list(tmp_path.glob("step-*.png"))) == 8
    assert h.image(0).getpixel((0, 0)) == (0, 0, 0)  # evicted from the cache, read back losslessly
    assert h.image(3).getpixel((0, 0)) == (30, 30, 30)


# ---- persistence: to_manifest / restore -------------------------------------------------


def branched(tmp_path):
    h = History(ImageStore(tmp_path))
    h.start(img(0))
    a = h.push(img(10), instruction="a", params=StepParams.edit(EditParams(seed=1)), timings={"render": 2.5})
    h.push(img(20), instruction="b", expressive_instruction="B!")
    h.go_to(a.id)
    c = h.push(img(30), instruction="c")
    h.go_to(a.id)  # redo from a now returns to c, not b
    h.store.flush()
    return h, c


def test_manifest_round_trip_keeps_current_and_redo_memory(tmp_path):
    h, c = branched(tmp_path)
    manifest = h.to_manifest()
    assert manifest["current"] == 1
    assert [s["redo_child"] for s in manifest["steps"]] == [1, 3, None, None]
    r = History.restore(manifest, ImageStore(tmp_path))
    assert r.to_manifest() == manifest and r.steps == h.steps
    assert r.redo() == c and r.image().getpixel((0, 0)) == (30, 30, 30)
    assert r.push(img(40), instruction="d").id == 4  # ids continue after the restored ones


def test_restore_refuses_inconsistent_manifests(tmp_path):
    h, _ = branched(tmp_path)
    good = h.to_manifest()

    def broken(fn):
        m = {"current": good["current"], "steps": [dict(s) for s in good["steps"]]}
        fn(m)
        return m

    cases = {
        "parent step 9 that does not exist": lambda m: m["steps"][2].update(parent=9),
        "cycle": lambda m: (m["steps"][0].update(parent=1), m["steps"][1].update(redo_child=None)),
        "current step": lambda m: m.update(current=42),
        "redo entry": lambda m: m["steps"][2].update(redo_child=3),
        "twice": lambda m: m["steps"].append(dict(m["steps"][0])),
        "no steps": lambda m: m.update(steps=[]),
        "valid id": lambda m: m["steps"][1].update(id="1"),
        "'params'": lambda m: m["steps"][1].update(params=[1]),
    }
    for message, fn in cases.items():
        with pytest.raises(InputError, match=message):
            History.restore(broken(fn), ImageStore(tmp_path))
    (tmp_path / "step-00002.png").unlink()
    with pytest.raises(InputError, match="image of step 2 is missing"):
        History.restore(good, ImageStore(tmp_path))


def test_a_failed_step_write_is_kept_and_retried(tmp_path, monkeypatch):
    import pytest

    store = ImageStore(tmp_path, cache_size=1, cache_bytes=1)
    real_save = Image.Image.save
    full = {"disk": True}

    def save(self, fp, *args, **kwargs):
        if full["disk"] and "step-00001" in str(fp):
            raise OSError(28, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    h = History(store)
    h.start(Image.new("RGB", (8, 6), (1, 1, 1)))
    h.push(Image.new("RGB", (8, 6), (50, 60, 70)), instruction="a")
    h.push(Image.new("RGB", (8, 6), (9, 9, 9)), instruction="b")  # evicts step 1 from the cache
    with pytest.raises(OSError):
        store.flush()
    assert h.image(1).getpixel((0, 0)) == (50, 60, 70)  # still there, from memory
    full["disk"] = False  # space was freed
    store.flush()
    assert (tmp_path / "step-00001.png").exists()
    assert Image.open(tmp_path / "step-00001.png").getpixel((0, 0)) == (50, 60, 70)


def test_a_step_file_that_will_not_decode_is_that_step_alone_damaged(tmp_path):
    from mgie_desktop.core.history import DamagedImage

    store = ImageStore(tmp_path, cache_size=1, cache_bytes=1)
    h = History(store)
    h.start(img(0))
    h.push(img(10), instruction="a")
    h.push(img(20), instruction="b")
    store.flush()
    good = (tmp_path / "step-00001.png").read_bytes()
    (tmp_path / "step-00001.png").write_bytes(good[:-30])  # cut inside the pixel data
    with pytest.raises(DamagedImage, match=r"^the image of step 1 is damaged and cannot be shown \(.+\)$"):
        h.image(1)  # was a bare OSError from Pillow
    assert store.damaged.keys() == {1}
    with pytest.raises(DamagedImage):
        h.image(1)  # remembered: not decoded again
    assert h.image(0).getpixel((0, 0)) == (0, 0, 0) and h.image(2).getpixel((0, 0)) == (20, 20, 20)
    (tmp_path / "step-00000.png").unlink()  # the disk, not the data: said so, not marked damaged
    with pytest.raises(InputError, match="image of step 0 cannot be read") as refused:
        h.image(0)
    assert not isinstance(refused.value, DamagedImage) and store.damaged.keys() == {1}
