"""Test-time crop geometry: counts and exact boxes of the 1/10/144-crop plans."""

from __future__ import annotations

import pytest

from incept.runtime.crops import Crop, crop_plan, resized_hw


def _five(top: int, left: int, area: int, size: int) -> list[tuple[int, int, int, int]]:
    """4 corners + centre of `size` in the `area` square at (top, left)."""
    far, mid = area - size, (area - size) // 2
    offsets = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]
    return [(top + t, left + le, size, size) for t, le in offsets]


def _paper_144(image_hw: tuple[int, int], sides: list[int], input_side: int) -> list[Crop]:
    """The paper's 144 crops written out long-hand for a square input."""
    plan = []
    for side in sides:
        h, w = resized_hw(image_hw, side)
        slack = abs(w - h)
        for start in (0, slack // 2, slack):
            top, left = (0, start) if w >= h else (start, 0)
            for box in _five(top, left, side, input_side):
                plan += [Crop(side, box, False), Crop(side, box, True)]
            window = (top, left, side, side)
            plan += [Crop(side, window, m, resize_to_input=True) for m in (False, True)]
    return plan


@pytest.mark.parametrize("n", [1, 10, 144])
@pytest.mark.parametrize(
    ("image_hw", "input_hw"),
    [((256, 320), (224, 224)), ((28, 28), (28, 28)), ((100, 50), (20, 40))],
)
def test_counts_and_every_box_fits(n, image_hw, input_hw):
    plan = crop_plan(n, image_hw, input_hw)
    assert len(plan) == n
    assert sum(c.mirror for c in plan) == n // 2
    for crop in plan:
        top, left, h, w = crop.box
        rh, rw = resized_hw(image_hw, crop.short_side)
        assert 0 <= top and 0 <= left and top + h <= rh and left + w <= rw
        if not crop.resize_to_input:
            assert (h, w) == input_hw


def test_one_crop_is_the_whole_image_squeezed_to_the_input():
    assert crop_plan(1, (256, 320), (224, 224)) == [
        Crop(256, (0, 0, 256, 320), mirror=False, resize_to_input=True)
    ]


def test_ten_crops_on_a_landscape_image():
    # Shorter side 224 * 256/224 = 256: 256x320 stays, corners and centre of 224x224.
    plan = crop_plan(10, (256, 320), (224, 224))
    boxes = [(0, 0), (0, 96), (32, 0), (32, 96), (16, 48)]
    assert plan == [Crop(256, (t, le, 224, 224), m) for t, le in boxes for m in (False, True)]


def test_ten_crops_scale_with_a_28px_input():
    plan = crop_plan(10, (28, 28), (28, 28))
    boxes = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
    assert plan == [Crop(32, (t, le, 28, 28), m) for t, le in boxes for m in (False, True)]


def test_144_crops_are_the_papers_on_a_landscape_image():
    plan = crop_plan(144, (256, 320), (224, 224))
    assert plan == _paper_144((256, 320), [256, 288, 320, 352], 224)
    # Spot checks written out: the right square at the largest scale and its corner.
    assert Crop(352, (0, 88, 352, 352), True, resize_to_input=True) in plan
    assert Crop(352, (128, 216, 224, 224), False) in plan  # bottom-right of the right square


def test_144_crops_on_a_portrait_image_use_top_centre_bottom_squares():
    plan = crop_plan(144, (320, 256), (224, 224))
    assert plan == _paper_144((320, 256), [256, 288, 320, 352], 224)
    windows = [c.box for c in plan if c.resize_to_input and not c.mirror and c.short_side == 256]
    assert windows == [(0, 0, 256, 256), (32, 0, 256, 256), (64, 0, 256, 256)]


def test_144_crops_scaled_to_a_28px_input():
    plan = crop_plan(144, (28, 28), (28, 28))
    assert sorted({c.short_side for c in plan}) == [32, 36, 40, 44]  # 28 x 256..352 / 224
    assert plan == _paper_144((28, 28), [32, 36, 40, 44], 28)
    # A square image: the three squares coincide and are kept, 36 crops per scale.
    assert [c for c in plan if c.short_side == 44][:10] == [
        Crop(44, (t, le, 28, 28), m)
        for t, le in [(0, 0), (0, 16), (16, 0), (16, 16), (8, 8)]
        for m in (False, True)
    ]


def test_non_square_input_keeps_the_margin_and_aspect():
    # A 20x40 input on a 100x50 image: the width binds, 40 * 256/224 = 45.7 -> 46 wide.
    plan = crop_plan(144, (100, 50), (20, 40))
    assert plan[0] == Crop(46, (0, 0, 20, 40), False)
    windows = {c.box for c in plan if c.resize_to_input and c.short_side == 46}
    assert windows == {(0, 0, 23, 46), (34, 0, 23, 46), (69, 0, 23, 46)}  # 2:1 like the input


def test_resized_hw_keeps_aspect_and_rounds_half_up():
    assert resized_hw((256, 320), 288) == (288, 360)
    assert resized_hw((320, 256), 288) == (360, 288)
    assert resized_hw((25, 33), 32) == (32, 42)  # 42.24
    assert resized_hw((2, 3), 3) == (3, 5)  # 4.5 rounds up, not to even


def test_tiny_inputs_still_fit():
    assert crop_plan(10, (8, 8), (3, 3))[0] == Crop(3, (0, 0, 3, 3), False)


@pytest.mark.parametrize("n", [0, 2, 5, 12, 145])
def test_other_crop_counts_are_refused(n):
    with pytest.raises(ValueError, match=r"one of \(1, 10, 144\)"):
        crop_plan(n, (28, 28), (28, 28))


@pytest.mark.parametrize("hw", [(0, 28), (28,), (28.0, 28), (-1, 5)])
def test_bad_sizes_are_refused(hw):
    with pytest.raises(ValueError, match="image_hw"):
        crop_plan(10, hw, (28, 28))
