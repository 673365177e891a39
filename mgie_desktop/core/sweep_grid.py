"""One picture of a whole guidance sweep (``edit --sweep`` writes it beside the cells): each
render small, in its row and column, its settings written under it, to choose from at a glance."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

SIDE = 384  # each cell's long side
GAP = 12
LABEL_PX = 18
BACKGROUND = (34, 34, 34)
INK = (235, 235, 235)


def sweep_grid(images: list[Image.Image], labels: list[str], columns: int) -> Image.Image:
    """``images`` in reading order, ``columns`` across, each over its label."""
    small = []
    for image in images:
        copy = image.convert("RGB")
        copy.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
        small.append(copy)
    width = max(im.width for im in small)
    height = max(im.height for im in small)
    label_h = LABEL_PX + GAP
    rows = -(-len(small) // columns)
    sheet = Image.new(
        "RGB",
        (GAP + columns * (width + GAP), GAP + rows * (height + label_h + GAP)),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=LABEL_PX)
    for index, (im, label) in enumerate(zip(small, labels, strict=True)):
        row, column = divmod(index, columns)
        left = GAP + column * (width + GAP)
        top = GAP + row * (height + label_h + GAP)
        sheet.paste(im, (left + (width - im.width) // 2, top + (height - im.height) // 2))
        text_w = draw.textlength(label, font=font)
        draw.text((left + (width - text_w) / 2, top + height + GAP // 2), label, fill=INK, font=font)
    return sheet
