from PIL import Image

from mgie_desktop.core.history import History, ImageStore


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
