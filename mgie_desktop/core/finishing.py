"""What happens to a photo around the model's render, on the photo's own pixels: the working
copy the model sees, and the renders brought back to the photo's size (and into its mask).
The engine does both around its render; a remote client does them on its own computer, so a
full-size result never has to cross the network and is still the same pixels."""

from __future__ import annotations

from PIL import Image

from mgie_desktop.core.imaging import carry_edit_to_full_resolution
from mgie_desktop.core.masks import composite, fit_mask, is_full
from mgie_desktop.core.sizing import klein_working_size, working_size


def working_source(image: Image.Image, pixel_budget: int) -> Image.Image:
    """The photo at the size diffusion runs at (RGB)."""
    size = working_size(image.width, image.height, pixel_budget)
    source = image.convert("RGB")
    return source if source.size == size else source.resize(size, Image.Resampling.LANCZOS)


def klein_source(image: Image.Image, pixel_budget: int) -> Image.Image:
    """The photo at the size FLUX.2 [klein] edits at (sizing.klein_working_size), so its pipeline
    need not crop it; a remote client finishes klein's renders from the same copy."""
    size = klein_working_size(image.width, image.height, pixel_budget)
    source = image.convert("RGB")
    return source if source.size == size else source.resize(size, Image.Resampling.LANCZOS)


def finish_renders(
    image: Image.Image, source: Image.Image, renders: list[Image.Image], finish: str, mask: Image.Image | None
) -> list[Image.Image]:
    """Renders made from ``source`` carried to ``image``'s size (``finish``: "detail" or
    "upscale"), kept inside ``mask`` if there is one."""
    results = renders
    if source.size != image.size:
        original = image.convert("RGB")
        results = [carry_edit_to_full_resolution(original, source, r, method=finish) for r in results]
    if mask is not None and not is_full(mask):
        fitted, original = fit_mask(mask, image.size), image.convert("RGB")
        results = [composite(r, original, fitted) for r in results]
    return results
