import pytest

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.params import PRESETS, params_for
from mgie_desktop.core.sizing import working_size


@pytest.mark.parametrize("size", [(96, 64), (1600, 100), (6000, 4000), (512, 512), (33, 528), (8, 8)])
def test_working_size_keeps_aspect_within_budget(size):
    w, h = working_size(*size, 512 * 512)
    assert w % 8 == 0 and h % 8 == 0 and w >= 8 and h >= 8
    assert w * h <= 512 * 512
    if min(size) * (512 * 512 / (size[0] * size[1])) ** 0.5 >= 16:  # not clamped by the 8-px floor
        assert abs(w / h - size[0] / size[1]) / (size[0] / size[1]) < 0.25


@pytest.mark.parametrize("budget", [64 * 64, 100 * 100, 512 * 512])
@pytest.mark.parametrize("size", [(16, 1), (1, 16), (4000, 250), (31, 496)])
def test_the_budget_holds_at_the_most_extreme_accepted_shapes(size, budget):
    w, h = working_size(*size, budget)
    assert w * h <= budget and w % 8 == 0 and h % 8 == 0 and min(w, h) >= 8


@pytest.mark.parametrize("size", [(1, 20000), (20000, 1), (1000, 50), (33, 1999), (0, 10)])
def test_shapes_beyond_the_limit_are_refused_in_one_line(size):
    with pytest.raises(InputError, match="crop it|no pixels") as caught:
        working_size(*size, 512 * 512)
    assert "\n" not in str(caught.value)


def test_working_size_fills_the_budget_for_photos():
    w, h = working_size(6000, 4000, 512 * 512)
    assert (w, h) == (624, 416)
    assert w * h > 0.95 * 512 * 512


def test_reference_preset_is_the_demo():
    ref = PRESETS["reference"]
    assert (ref.steps, ref.scheduler, ref.text_guidance, ref.image_guidance, ref.seed) == (
        100,
        "euler_a",
        7.5,
        1.5,
        13331,
    )


def test_overrides_and_validation():
    assert params_for("draft", seed=7, steps=None).seed == 7
    with pytest.raises(InputError, match="preset"):
        params_for("nope")
    with pytest.raises(InputError, match="steps"):
        params_for(steps=0)
    with pytest.raises(InputError, match="scheduler"):
        params_for(scheduler="magic")


@pytest.mark.parametrize(
    ("field", "value"),
    [("text_guidance", float("nan")), ("image_guidance", float("inf")), ("image_guidance", 0.9)],
)
def test_guidance_that_would_silently_disable_guidance_is_refused(field, value):
    with pytest.raises(InputError, match="guidance"):
        params_for(**{field: value})
