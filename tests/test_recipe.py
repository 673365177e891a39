"""Recipes without models: crops travel as fractions, each photo's chain is fitted to its size,
and a chain's strength and geometry steps are run as the window shows them."""

from types import SimpleNamespace

from PIL import Image

from mgie_desktop.batch.photo import chain_for
from mgie_desktop.core.chain import run_chain
from mgie_desktop.core.geometry import crop
from mgie_desktop.core.history import History
from mgie_desktop.core.params import params_for
from mgie_desktop.core.recipe import geometry_for, parse_recipe, recipe_from_history


def test_a_crop_and_a_turn_fit_photos_of_any_size():
    history = History()
    history.start(Image.new("RGB", (200, 100)))
    history.push(Image.new("RGB", (200, 100)), instruction="warmer", params={"seed": 3, "steps": 2, "strength": 0.5})
    history.push(Image.new("RGB", (100, 100)), instruction="Crop", params={"geometry": crop((50, 0, 150, 100))})
    history.push(Image.new("RGB", (100, 100)), instruction="Rotate", params={"geometry": {"op": "rotate", "degrees": 90}})
    data = recipe_from_history(history)
    history.close()
    assert data["steps"][1] == {"kind": "geometry", "op": {"op": "crop", "fraction": [0.25, 0.0, 0.75, 1.0]}}
    recipe = parse_recipe(data)
    assert recipe.steps[0].strength == 0.5 and recipe.steps[0].params.seed == 3
    assert geometry_for(recipe.steps[1].geometry, (200, 100)) == {"op": "crop", "box": [50, 0, 150, 100]}
    steps = chain_for(recipe, {}, "any.jpg", (400, 300))  # a photo of another size: the same part of it
    assert steps[1].geometry == {"op": "crop", "box": [100, 0, 300, 300]}
    assert steps[2].geometry == {"op": "rotate", "degrees": 90}


def test_run_chain_blends_a_step_below_full_strength_and_applies_geometry():
    white = Image.new("RGB", (40, 20), (255, 255, 255))

    def edit(image, text, params, finish, expressive, mask):  # an engine that paints black
        black = Image.new("RGB", image.size)
        return SimpleNamespace(image=black, timings={"instruct_s": 0, "render_s": 0}, working_size=image.size,
                               instruction=SimpleNamespace(text="Black.", steered=False, emitted_image_tokens=True))

    from mgie_desktop.core.chain import ChainStep

    steps = [ChainStep("darker", params_for("draft"), strength=0.25), ChainStep(geometry={"op": "rotate", "degrees": 90})]
    history, image, records = run_chain(SimpleNamespace(edit=edit), white, steps)
    try:
        assert image.size == (20, 40) and image.getpixel((5, 5)) == (191, 191, 191)  # 25 % of the way to black
        assert history.image().tobytes() == image.tobytes()  # what the window would show and export
        assert [r["expressive_instruction"] for r in records] == ["Black."]
    finally:
        history.close()
