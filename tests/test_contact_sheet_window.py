"""The review window (ui.contact_sheet.ContactSheet) on a batch folder written by hand: thumbnails
read off the GUI thread, A/R/U and the arrows, decisions kept in review.json and shown again on
reopening, a re-render asked for, the approved photos exported without overwriting silently, and
a damaged review file shown, never overwritten. No models: nothing here renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt
from test_contact_sheet import INSTRUCTIONS, _photo, _recipe

from mgie_desktop.batch.review import Decision, PhotoReview, Rerender, read_review
from mgie_desktop.ui.contact_sheet import ContactSheet

NAMES = ("a.jpg", "b.jpg", "c.jpg", "d.jpg")


@pytest.fixture
def batch_folder(tmp_path) -> Path:
    """in/ with four photos, out/ with three outputs and a failure, as ``batch`` leaves them."""
    photos, out = tmp_path / "in", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    recipe = _recipe(tmp_path / "look.json")
    lines = []
    for index, name in enumerate(NAMES):
        _photo(index).save(photos / name)
        output = out / f"{Path(name).stem}.png"
        ok = name != "d.jpg"
        if ok:
            _photo(index).rotate(180).save(output)
        lines.append(
            {
                "photo": name,
                "status": "ok" if ok else "failed",
                "output": str(output),
                "seconds": 1.0,
                "expressive_instructions": ["The sky will be orange.", "Snow falls."] if ok else [],
                "seeds": [11, 7] if ok else [],
                "error": None if ok else "cannot open 'd.jpg': the file is damaged",
                "recipe": "0123456789abcdef",
                "source": str(photos / name),
                "recipe_file": str(recipe),
                "finished": 1.0,
            }
        )
    lines[2]["rerender"] = {"seed": 7}  # c.jpg was rendered again for a review
    (out / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return out


def _open(qtbot, folder: Path, tmp_path: Path) -> ContactSheet:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    sheet = ContactSheet(folder, settings)
    qtbot.addWidget(sheet)
    with qtbot.waitSignal(sheet.thumbnails_done, timeout=10000):
        sheet.show()
    return sheet


def _saved(qtbot, sheet: ContactSheet) -> dict:
    sheet._writes.drain()
    qtbot.wait(20)  # the queued 'done' callbacks
    return read_review(sheet.folder)


def test_the_grid_shows_each_pair_and_the_counts(qtbot, batch_folder, tmp_path):
    sheet = _open(qtbot, batch_folder, tmp_path)
    assert sheet.grid.count() == 4 and sheet.grid.currentRow() == 0
    assert "4 photo(s): 0 approved, 0 rejected (0 to re-render), 4 undecided" in sheet.counts.text()
    assert "1 failed" in sheet.counts.text()
    texts = [sheet.grid.item(i).text() for i in range(4)]
    assert texts[0] == "a.jpg\n· undecided" and texts[3].startswith("d.jpg · FAILED")
    assert texts[2] == "c.jpg · re-rendered\n· undecided"
    icon = sheet.grid.item(0).icon().pixmap(sheet.grid.iconSize()).toImage()
    centre = icon.pixelColor(icon.width() // 4, icon.height() // 2)  # the before photo's middle
    assert centre.saturation() > 60, centre  # a photo, not the grey placeholder
    assert INSTRUCTIONS[0] in sheet.details.text() and "The sky will be orange." in sheet.details.text()
    command = sheet.command.text()
    assert str(tmp_path / "look.json") in command and str(tmp_path / "in") in command
    assert command.endswith("--format png")


def test_keys_decide_move_and_decisions_survive_reopening(qtbot, batch_folder, tmp_path):
    sheet = _open(qtbot, batch_folder, tmp_path)
    qtbot.keyClick(sheet.grid, Qt.Key.Key_A)
    qtbot.keyClick(sheet.grid, Qt.Key.Key_Right)
    assert sheet.grid.currentRow() == 1
    qtbot.keyClick(sheet.grid, Qt.Key.Key_R)
    qtbot.keyClick(sheet.grid, Qt.Key.Key_Right)
    qtbot.keyClick(sheet.grid, Qt.Key.Key_A)
    qtbot.keyClick(sheet.grid, Qt.Key.Key_U)  # changed its mind
    qtbot.keyClick(sheet.grid, Qt.Key.Key_Left)
    assert sheet.grid.currentRow() == 1
    assert "1 approved, 1 rejected (0 to re-render), 2 undecided" in sheet.counts.text()
    assert sheet.grid.item(0).text().endswith("✓ approved") and sheet.grid.item(1).text().endswith(
        "✗ rejected"
    )
    assert _saved(qtbot, sheet) == {
        "a.jpg": PhotoReview(Decision.APPROVED),
        "b.jpg": PhotoReview(Decision.REJECTED),
    }
    sheet.close()
    reviews = json.loads((batch_folder / "review.json").read_text())
    reviews["photos"]["gone.jpg"] = {"decision": "approved"}  # no longer in the results: kept, not counted
    (batch_folder / "review.json").write_text(json.dumps(reviews))
    again = _open(qtbot, batch_folder, tmp_path)
    assert "1 approved, 1 rejected (0 to re-render), 2 undecided" in again.counts.text()
    qtbot.keyClick(again.grid, Qt.Key.Key_A)
    assert _saved(qtbot, again)["gone.jpg"] == PhotoReview(Decision.APPROVED)
    assert again.review_of("a.jpg").decision is Decision.APPROVED
    assert again.grid.item(1).text().endswith("✗ rejected")


def test_typing_in_the_form_does_not_decide(qtbot, batch_folder, tmp_path):
    sheet = _open(qtbot, batch_folder, tmp_path)
    sheet.own_words.setChecked(True)
    sheet.expressive.setFocus()
    qtbot.keyClicks(sheet.expressive, "Add a rainbow")
    assert sheet.review_of("a.jpg").decision is Decision.UNDECIDED


def test_a_re_render_is_asked_for_with_a_seed_and_corrected_words(qtbot, batch_folder, tmp_path):
    sheet = _open(qtbot, batch_folder, tmp_path)
    sheet.grid.setCurrentRow(2)
    assert sheet.expressive.toPlainText() == "Snow falls."  # MGIE's words, ready to correct
    sheet.new_seed.setChecked(True)
    sheet.seed.setValue(77)
    sheet.own_words.setChecked(True)
    sheet.expressive.setPlainText("Deep snow covers the hills.")
    sheet.ask_rerender()
    expected = PhotoReview(Decision.REJECTED, Rerender(77, "Deep snow covers the hills."))
    assert _saved(qtbot, sheet) == {"c.jpg": expected}
    assert "re-render: seed 77" in sheet.grid.item(2).text()
    assert "1 rejected (1 to re-render)" in sheet.counts.text()
    sheet.grid.setCurrentRow(3)  # failed: no words of MGIE's to correct, none of another photo's
    assert sheet.expressive.toPlainText() == "" and not sheet.own_words.isChecked()
    assert not sheet.new_seed.isChecked() and sheet.seed.value() != 77
    sheet.grid.setCurrentRow(2)  # back: the form shows what was asked
    assert sheet.new_seed.isChecked() and sheet.seed.value() == 77 and sheet.own_words.isChecked()
    assert sheet.expressive.toPlainText() == "Deep snow covers the hills."
    sheet.new_seed.setChecked(False)
    sheet.own_words.setChecked(False)
    sheet.grid.setCurrentRow(0)
    sheet.ask_rerender()  # nothing asked: a one-line message, no change
    assert sheet.message.text() == "A re-render needs a new seed or an expressive instruction."
    assert sheet.review_of("a.jpg") == PhotoReview()


def test_export_copies_the_approved_outputs_and_never_overwrites_silently(qtbot, batch_folder, tmp_path):
    sheet = _open(qtbot, batch_folder, tmp_path)
    for row in (0, 2, 3):  # d failed: it has no output to export
        sheet.grid.setCurrentRow(row)
        qtbot.keyClick(sheet.grid, Qt.Key.Key_A)
    dest = tmp_path / "client"
    dest.mkdir()
    (dest / "c.png").write_bytes(b"the client's own file")
    sheet.export_to(dest)
    _saved(qtbot, sheet)
    assert sorted(p.name for p in dest.iterdir()) == ["a.png", "c.png"]
    assert (dest / "c.png").read_bytes() == b"the client's own file"
    assert (dest / "a.png").read_bytes() == (batch_folder / "a.png").read_bytes()
    assert (
        "Copied 1 approved photo(s)" in sheet.message.text()
        and "kept the 1 already there" in sheet.message.text()
    )
    sheet.export_to(dest, replace=True)
    _saved(qtbot, sheet)
    assert (dest / "c.png").read_bytes() == (batch_folder / "c.png").read_bytes()
    assert sheet.export_button.isEnabled()


def test_a_damaged_review_file_is_shown_and_never_overwritten(qtbot, batch_folder, tmp_path):
    damaged = b'{"format": "mgie-review", "version": 1, "photos": {"a.jpg": {"decision": 7}}}'
    (batch_folder / "review.json").write_bytes(damaged)
    sheet = _open(qtbot, batch_folder, tmp_path)
    assert "review file" in sheet.message.text() and "not saved" in sheet.message.text()
    assert "\n" not in sheet.message.text()
    qtbot.keyClick(sheet.grid, Qt.Key.Key_A)
    sheet._writes.drain()
    assert (batch_folder / "review.json").read_bytes() == damaged


def test_a_folder_without_results_says_so(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    sheet = ContactSheet(tmp_path, settings)
    qtbot.addWidget(sheet)
    qtbot.waitUntil(lambda: "holds no batch results" in sheet.title.text(), timeout=5000)
    assert sheet.grid.count() == 0


def test_missing_photos_show_placeholders(qtbot, batch_folder, tmp_path):
    (tmp_path / "in" / "a.jpg").unlink()
    Image.new("RGB", (10, 10)).save(batch_folder / "b.png", format="PNG")
    (batch_folder / "b.png").write_bytes((batch_folder / "b.png").read_bytes()[:20])  # truncated
    sheet = _open(qtbot, batch_folder, tmp_path)
    assert sheet.grid.count() == 4  # every cell there, the unreadable halves grey


def test_the_window_module_loads_no_pillow_at_import():
    code = (
        "import sys, mgie_desktop.ui.contact_sheet; "
        "bad = sorted(m for m in ('PIL', 'numpy', 'torch') if m in sys.modules); print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_closing_while_thumbnails_load_does_not_wait_for_them(qtbot, batch_folder, tmp_path, monkeypatch):
    import time

    from mgie_desktop.batch import thumbnails

    lines = (batch_folder / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    many = [json.dumps({**first, "photo": f"p{i:03d}.jpg"}) for i in range(60)]
    (batch_folder / "results.jsonl").write_text("\n".join(many) + "\n")
    real_pair = thumbnails.pair_image

    def slow_pair(*args):
        time.sleep(0.1)
        return real_pair(*args)

    monkeypatch.setattr(thumbnails, "pair_image", slow_pair)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    sheet = ContactSheet(batch_folder, settings)
    with qtbot.waitSignal(sheet.loaded, timeout=5000):
        sheet.show()
    began = time.perf_counter()
    sheet.close()  # 60 thumbnails at 0.1 s on 4 threads would take 1.5 s
    assert time.perf_counter() - began < 0.6
