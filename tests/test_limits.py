"""Numbers and shapes from outside: one range each, shared by the window, CLI, recipes and server;
no photo shape that makes memory grow without bound; no overflowed render kept (issue 25, 1-2)."""

from dataclasses import replace

import pytest
from PIL import Image

from mgie_desktop.core import params as p
from mgie_desktop.core.errors import InputError, RenderFailed
from mgie_desktop.core.params import EditParams, params_for


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("steps", 0, "steps"),
        ("steps", 501, "steps"),
        ("seed", -1, "seed"),
        ("seed", 2**63, "seed"),
        ("text_guidance", 1e308, "text guidance"),
        ("text_guidance", -0.5, "text guidance"),
        ("image_guidance", 0.99, "image guidance"),
        ("image_guidance", float("nan"), "image guidance"),
        ("pixel_budget", 4095, "pixel budget"),
        ("pixel_budget", 10_000 * 10_000, "pixel budget"),
    ],
)
def test_each_number_outside_its_one_range_is_refused_naming_it(field, value, named):
    with pytest.raises(InputError, match=named) as caught:
        replace(EditParams(), **{field: value}).validated()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "bounds"),
    [
        ("steps", p.STEPS),
        ("seed", p.SEED),
        ("text_guidance", p.TEXT_GUIDANCE),
        ("image_guidance", p.IMAGE_GUIDANCE),
        ("pixel_budget", p.PIXEL_BUDGET),
    ],
)
def test_both_ends_of_each_range_are_accepted(field, bounds):
    for value in (bounds.low, bounds.high):
        value = value if isinstance(getattr(EditParams(), field), float) else int(value)
        assert getattr(params_for(**{field: value}), field) == value


def test_the_window_offers_exactly_the_core_s_ranges(qtbot):
    from mgie_desktop.core.recipe import derived_seed
    from mgie_desktop.ui.edit_panel import EditPanel

    panel = EditPanel()
    qtbot.addWidget(panel)
    assert (panel.steps.minimum(), panel.steps.maximum()) == (p.STEPS.low, p.STEPS.high)
    assert (panel.text_guidance.minimum(), panel.text_guidance.maximum()) == (
        p.TEXT_GUIDANCE.low,
        p.TEXT_GUIDANCE.high,
    )
    assert (panel.image_guidance.minimum(), panel.image_guidance.maximum()) == (
        p.IMAGE_GUIDANCE.low,
        p.IMAGE_GUIDANCE.high,
    )
    assert panel.variation_count.maximum() == p.VARIATIONS.high
    big = derived_seed("IMG_0001.jpg")  # a batch's seed: 63 bits, past a QSpinBox's 2**31 - 1
    assert big > 2**31
    panel.seed.setValue(big)
    assert panel.seed.value() == big and panel.params().seed == big and panel.seed.text() == str(big)
    panel.seed.setValue(2**64)  # clamped to the range, never wrapped
    assert panel.seed.value() == p.SEED.high
    panel.seed.clear()
    qtbot.keyClicks(panel.seed, "12")
    assert panel.seed.value() == 12


def test_the_server_takes_the_same_variations_range():
    from mgie_desktop.remote.protocol import job_from_wire, png_bytes

    photo = png_bytes(Image.new("RGB", (64, 48)))
    with pytest.raises(InputError, match="variations must be from 1 to 8"):
        job_from_wire({"instruction": "x", "variations": 9}, photo, None, 1, None)
    with pytest.raises(InputError, match="pixel budget"):
        job_from_wire({"instruction": "x", "params": {"pixel_budget": 10**9}}, photo, None, 1, None)
    assert job_from_wire({"instruction": "x", "variations": 8}, photo, None, 1, None).variations == 8


def test_a_strip_photo_is_refused_at_the_door_before_its_pixels_are_decoded(tmp_path):
    from mgie_desktop.core.imaging import load_photo

    path = tmp_path / "strip.png"
    Image.new("RGB", (1, 20000), "white").save(path)
    with pytest.raises(InputError, match="1x20000 pixels, more than 16 times") as caught:
        load_photo(path)
    assert str(caught.value).startswith(f"cannot open '{path}':") and "\n" not in str(caught.value)


def test_the_server_refuses_a_strip_photo_when_it_arrives():
    from mgie_desktop.remote.protocol import job_from_wire, png_bytes

    with pytest.raises(InputError, match="more than 16 times"):
        job_from_wire({"instruction": "x"}, png_bytes(Image.new("RGB", (20000, 1))), None, 1, None)


def test_the_engine_refuses_a_strip_before_the_llm_stretches_it(engine):
    with pytest.raises(InputError, match="more than 16 times"):
        engine.instruct(Image.new("RGB", (1, 20000)), "make the sky a sunset")


def test_an_overflowing_render_fails_instead_of_passing_off_a_black_picture(engine, photo, monkeypatch):
    unet = engine.bundle.unet
    real_forward = unet.forward

    def overflowing(*args, **kwargs):
        out = real_forward(*args, **kwargs)
        out[0].fill_(float("inf")) if isinstance(out, tuple) else out.sample.fill_(float("inf"))
        return out

    monkeypatch.setattr(unet, "forward", overflowing)
    guide = engine.instruct(photo, "make the sky a sunset")
    with pytest.raises(RenderFailed, match="overflowed at step 1 of 3.*lower the text or image guidance"):
        engine.render(photo, guide.conditioning, params_for("draft", steps=3, pixel_budget=64 * 64))


def test_a_huge_number_is_refused_in_a_short_line():
    with pytest.raises(InputError, match="steps must be from 1 to 500, not a 16610-bit number$"):
        replace(EditParams(), steps=10**5000).validated()  # 5001 digits: more than Python will print
