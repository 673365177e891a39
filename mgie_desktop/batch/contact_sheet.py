"""A batch's printable contact sheet (``batch ... --contact-sheet FILE.jpg``): A4 pages at 150 dpi,
white, eight photos a page (two columns, four rows), each a before/after pair of thumbnails with
its name, each edit step's instruction and MGIE's expressive instruction for it, its status (ok,
failed and why, not done) and the review's decision. One page is FILE.jpg; more are FILE-2.jpg,
FILE-3.jpg... (pages left over from a longer sheet of the same name are removed: only files that
carry the sheet's mark, MARK, in a JPEG comment or a PNG text chunk, so a photo of the person's
that happens to be called FILE-4.jpg stays). JPEG or PNG.

Memory stays bounded: one page and one photo's thumbnail at a time (``thumbnails``). A photo that
cannot be read shows a grey box saying why. Text uses Pillow's own font, so it looks the same
everywhere. Pure Pillow: no Qt, no torch.
"""

from __future__ import annotations

import contextlib
import stat
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from mgie_desktop.batch.overview import BatchPhoto, Overview, PhotoStatus
from mgie_desktop.batch.review import Decision
from mgie_desktop.batch.thumbnails import ThumbnailError, thumbnail
from mgie_desktop.core.display_text import display_text
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.files import atomic_write
from mgie_desktop.core.step_params import ENGINE_NAMES

SUFFIXES = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
INK, GREY, FAINT, BOX = (20, 20, 20), (95, 95, 95), (200, 200, 200), (236, 236, 236)
FAILED_INK = (170, 20, 20)
MAX_STEPS_SHOWN = 3  # edit steps written out per photo; more are counted
MARK = "MGIE Desktop contact sheet"  # in every page written: only such files are removed as stale


@dataclass(frozen=True)
class SheetLayout:
    """A page and its grid, in pixels (A4 portrait at 150 dpi unless told otherwise)."""

    width: int = 1240
    height: int = 1754
    dpi: int = 150
    margin: int = 60
    header: int = 120
    columns: int = 2
    rows: int = 4
    gutter: int = 40
    thumb_height: int = 200

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def cell_size(self) -> tuple[int, int]:
        width = (self.width - 2 * self.margin - (self.columns - 1) * self.gutter) // self.columns
        height = (self.height - 2 * self.margin - self.header - (self.rows - 1) * self.gutter) // self.rows
        return width, height

    @property
    def thumb_box(self) -> tuple[int, int]:
        return (self.cell_size[0] - 10) // 2, self.thumb_height

    def cell_origin(self, index: int) -> tuple[int, int]:
        """The top left of the cell of the ``index``-th photo on its page."""
        column, row = index % self.columns, index // self.columns
        width, height = self.cell_size
        return (
            self.margin + column * (width + self.gutter),
            self.margin + self.header + row * (height + self.gutter),
        )

    def pages(self, photos: int) -> int:
        return max(1, -(-photos // self.per_page))


A4 = SheetLayout()


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def page_paths(path: Path, pages: int) -> list[Path]:
    """FILE.jpg, then FILE-2.jpg, FILE-3.jpg... for a sheet of ``pages`` pages."""
    return [path] + [path.with_name(f"{path.stem}-{n}{path.suffix}") for n in range(2, pages + 1)]


def check_sheet_path(path: Path) -> None:
    """Before a batch: the sheet can be written there (else InputError, before the models load)."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"cannot write the contact sheet {path}: give a .jpg or .png file name")
    if path.is_dir():
        raise InputError(f"cannot write the contact sheet {path}: it is a folder")
    if not path.parent.resolve().is_dir():
        raise InputError(f"cannot write the contact sheet {path}: folder {path.parent} does not exist")


def write_contact_sheet(overview: Overview, path: Path, layout: SheetLayout = A4) -> list[Path]:
    """Draw and save every page; the files written, first page first."""
    check_sheet_path(path)
    count = layout.pages(len(overview.photos))
    paths = page_paths(path, count)
    for later in paths[1:]:  # FILE-2.jpg... may be the person's own photos: never written over
        if later.exists() and not is_sheet_page(later):
            raise InputError(
                f"cannot write the contact sheet {path}: its page {later.name} would replace a file "
                "that is not a contact sheet page; choose another name"
            )
    for number, target in enumerate(paths, start=1):
        start = (number - 1) * layout.per_page
        page = draw_page(overview, overview.photos[start : start + layout.per_page], number, count, layout)
        _save(page, target, layout)
    _remove_stale_pages(path, count)
    return paths


def _save(page: Image.Image, target: Path, layout: SheetLayout) -> None:
    fmt = SUFFIXES[target.suffix.lower()]
    options: dict = {"quality": 90, "subsampling": 0, "comment": MARK}
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", MARK)
        options = {"pnginfo": text}
    atomic_write(
        target,
        lambda fh: page.save(fh, format=fmt, dpi=(layout.dpi, layout.dpi), **options),
        f"the contact sheet {target}",
    )


def is_sheet_page(path: Path) -> bool:
    """Whether ``path`` is a page this app wrote (it carries MARK): a regular file, read only in
    the format its name says; anything else (a person's photo, a broken file) is not."""
    fmt = SUFFIXES.get(path.suffix.lower())
    try:
        if fmt is None or not stat.S_ISREG(path.stat().st_mode):
            return False
        with Image.open(path, formats=[fmt]) as im:
            mark = im.info.get("comment") if fmt == "JPEG" else im.info.get("Comment")
    except Exception:  # noqa: BLE001 (unreadable or damaged: not ours to remove)
        return False
    return mark in (MARK, MARK.encode("ascii"))


def _remove_stale_pages(path: Path, count: int) -> None:
    """A sheet of the same name that had more pages: its extra pages would print with this one.
    Only pages carrying the sheet's mark go; the first file without it ends the search."""
    number = count + 1
    while is_sheet_page(stale := path.with_name(f"{path.stem}-{number}{path.suffix}")):
        with contextlib.suppress(OSError):
            stale.unlink()
        number += 1


def draw_page(
    overview: Overview, photos: tuple[BatchPhoto, ...], number: int, count: int, layout: SheetLayout = A4
) -> Image.Image:
    page = Image.new("RGB", (layout.width, layout.height), "white")
    draw = ImageDraw.Draw(page)
    _draw_header(draw, overview, number, count, layout)
    for index, photo in enumerate(photos):
        _draw_cell(page, draw, photo, overview.instructions, layout.cell_origin(index), layout)
    return page


def header_lines(overview: Overview, number: int, count: int) -> list[str]:
    counts = overview.counts()
    tally = (
        f"{len(overview.photos)} photo(s): {counts[PhotoStatus.OK]} ok, {counts[PhotoStatus.FAILED]} failed"
    )
    if counts[PhotoStatus.NOT_DONE]:
        tally += f", {counts[PhotoStatus.NOT_DONE]} not done"
    recipe = overview.recipe_file.name if overview.recipe_file else "recipe unknown"
    steps = " · ".join(f"{i}. {text}" for i, text in enumerate(overview.instructions, start=1))
    return [
        f"MGIE batch: {recipe}   ·   {tally}",
        f"{overview.output_dir}   ·   {time.strftime('%Y-%m-%d %H:%M')}   ·   page {number} of {count}",
        f"Recipe: {steps}" if steps else "",
    ]


def _draw_header(draw: ImageDraw.ImageDraw, overview: Overview, number: int, count: int, layout: SheetLayout):
    width = layout.width - 2 * layout.margin
    y = layout.margin
    for text, size, ink in zip(
        header_lines(overview, number, count), (30, 18, 18), (INK, GREY, INK), strict=True
    ):
        for line in wrap(text, font(size), width, 1):
            draw.text((layout.margin, y), line, font=font(size), fill=ink)
        y += size + 12
    bottom = layout.margin + layout.header - 16
    draw.line([(layout.margin, bottom), (layout.width - layout.margin, bottom)], fill=FAINT, width=2)


def cell_lines(
    photo: BatchPhoto, instructions: tuple[str, ...]
) -> list[tuple[str, int, tuple[int, int, int], int]]:
    """What a cell says under its thumbnails, before wrapping: (text, size, ink, most lines)."""
    lines = [(display_text(photo.name, width=300), 22, INK, 1)]
    if photo.status is PhotoStatus.OK:
        steps = list(zip(instructions, photo.expressive, strict=False)) or [("", e) for e in photo.expressive]
        for step, (instruction, expressive) in enumerate(steps[:MAX_STEPS_SHOWN]):
            said = f"{photo.speaker(step)}: “{expressive}”" if expressive else _no_expressive(photo, step)
            lines.append((f"{instruction} · {said}" if instruction else said, 16, GREY, 2))
        if len(steps) > MAX_STEPS_SHOWN:
            lines.append((f"and {len(steps) - MAX_STEPS_SHOWN} more step(s)", 16, GREY, 1))
    elif instructions:
        lines.append((" · ".join(instructions), 16, GREY, 2))
    failed = photo.status is PhotoStatus.FAILED
    lines.append((status_text(photo), 18, FAILED_INK if failed else INK, 3 if failed else 2))
    return lines


def _no_expressive(photo: BatchPhoto, step: int) -> str:
    """What a cell says of an edit without an expressive instruction: the engine that read the
    words itself (a line of an older batch does not say which: plain InstructPix2Pix then)."""
    model = photo.models[step] if step < len(photo.models) else "ip2p"
    if model == "mgie":
        return "MGIE: (no expressive instruction)"
    return f"{ENGINE_NAMES[model]} read the instruction itself (no expressive instruction)"


def status_text(photo: BatchPhoto) -> str:
    if photo.status is PhotoStatus.FAILED:
        text = f"FAILED: {photo.error}"
    elif photo.status is PhotoStatus.NOT_DONE:
        text = "NOT DONE (the batch stopped before it)"
    else:
        seeds = list(dict.fromkeys(photo.seeds))  # a recipe's steps often share one
        text = "OK" + (f", seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else "")
        if photo.rerendered:
            text += ", re-rendered"
    review = photo.review
    if review.rerender is not None:
        text += f" · rejected, re-render asked with {review.rerender.describe()}"
    elif review.decision is not Decision.UNDECIDED:
        text += f" · {review.decision.value}"
    return text


def _draw_cell(page, draw, photo: BatchPhoto, instructions, origin: tuple[int, int], layout: SheetLayout):
    x, y = origin
    box = layout.thumb_box
    for column, (label, source, problem) in enumerate(
        (("before", photo.before, ""), ("after", photo.after, photo.no_after))
    ):
        left = x + column * (box[0] + 10)
        _draw_thumbnail(page, draw, source, problem, (left, y), box)
        label_x = left + (box[0] - draw.textlength(label, font=font(14))) / 2
        draw.text((label_x, y + box[1] + 4), label, font=font(14), fill=GREY)
    width, height = layout.cell_size
    ty = y + box[1] + 26
    for text, size, ink, most in cell_lines(photo, instructions):
        for line in wrap(text, font(size), width, most):
            if ty + size > y + height:
                return
            draw.text((x, ty), line, font=font(size), fill=ink)
            ty += size + 6


def _draw_thumbnail(
    page, draw, source: Path | None, problem: str, corner: tuple[int, int], box: tuple[int, int]
):
    left, top = corner
    image = None
    if not problem:
        if source is None:
            problem = "unknown"
        else:
            try:
                image = thumbnail(source, box)
            except ThumbnailError as exc:
                problem = str(exc)
    if image is None:
        draw.rectangle([left, top, left + box[0] - 1, top + box[1] - 1], fill=BOX, outline=FAINT)
        text = f"[{problem}]"
        width = draw.textlength(text, font=font(18))
        draw.text((left + (box[0] - width) / 2, top + box[1] / 2 - 10), text, font=font(18), fill=GREY)
        return
    # Centred in its box, a hairline around it so a white sky still shows its edge on paper.
    dx, dy = left + (box[0] - image.width) // 2, top + (box[1] - image.height) // 2
    page.paste(image, (dx, dy))
    draw.rectangle([dx - 1, dy - 1, dx + image.width, dy + image.height], outline=FAINT)
    image.close()


def wrap(text: str, face, width: float, max_lines: int) -> list[str]:
    """``text`` in lines at most ``width`` pixels wide, at most ``max_lines`` of them ("..." ends
    the last when there was more). Words longer than a line are cut."""
    words, lines, line = text.split(), [], ""
    for word in words:
        trial = f"{line} {word}" if line else word
        if face.getlength(trial) <= width:
            line = trial
            continue
        if line:
            lines.append(line)
        line = word
        while face.getlength(line) > width:  # one word wider than the line: cut it
            cut = _fit(line, face, width)
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and face.getlength(last + "...") > width:
            last = last[:-1]
        lines = lines[: max_lines - 1] + [last.rstrip() + "..."]
    return lines


def _fit(text: str, face, width: float) -> int:
    count = 1
    while count < len(text) and face.getlength(text[: count + 1]) <= width:
        count += 1
    return count
