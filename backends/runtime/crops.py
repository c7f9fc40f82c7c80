"""Test-time crop geometry: 1, 10 and the GoogLeNet paper's 144 crops (pure Python).

A plan is a list of `Crop`s; a backend applies each one to every test image and
averages the softmax over the plan. Applying a crop means, in this order:

1. resize the image (keeping its aspect) so that its shorter side is `short_side`,
   each side rounded half up (`resized_hw`);
2. cut out `box` = (top, left, height, width) of the resized image;
3. if `resize_to_input`, resize that box to the model's input size (else it already is);
4. if `mirror`, flip the result left-right.

The paper's scales are stated for a 224x224 input and shorter sides 256..352; here they
are ratios of the input size (28x28 gives shorter sides 32, 36, 40, 44). Non-square
inputs (h != w) are scaled so that the input box keeps the same margin in both
directions, and the paper's "squares" become the largest windows of the input's aspect
ratio. When the resized image is itself square the three windows coincide; they are kept
(not deduplicated) so that every plan of one size weighs its crops as the paper does.
Offsets that do not split evenly are rounded down (a centre box sits up-left by <= 1 px).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

# The paper's test shorter sides for its 224 input: 10 crops use the first one.
PAPER_INPUT = 224
PAPER_SIDES = (256, 288, 320, 352)
CROP_COUNTS = (1, 10, 144)

HW = tuple[int, int]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Crop:
    short_side: int  # resize the image so its shorter side is this (keep aspect; round)
    box: Box  # (top, left, height, width) on the resized image
    mirror: bool
    resize_to_input: bool = False  # the box is a whole window resized to the input size


def crop_plan(n: int, image_hw: HW, input_hw: HW) -> list[Crop]:
    """The crops that evaluate one `image_hw` image with `n` crops for an `input_hw` model."""
    image_hw, input_hw = _hw("image_hw", image_hw), _hw("input_hw", input_hw)
    if n == 1:
        return [_whole(image_hw)]
    if n == 10:
        return _ten(image_hw, input_hw, PAPER_SIDES[0])
    if n == 144:
        return [c for side in PAPER_SIDES for c in _thirty_six(image_hw, input_hw, side)]
    raise ValueError(f"crops must be one of {CROP_COUNTS}, not {n}")


def resized_hw(image_hw: HW, short_side: int) -> HW:
    """The size of `image_hw` resized to shorter side `short_side`, keeping the aspect."""
    h, w = image_hw
    scale = short_side / min(h, w)
    return (short_side, _round(w * scale)) if h <= w else (_round(h * scale), short_side)


def _whole(image_hw: HW) -> Crop:
    # No resize (the shorter side stays), the whole image squeezed to the input size.
    h, w = image_hw
    return Crop(min(h, w), (0, 0, h, w), mirror=False, resize_to_input=True)


def _ten(image_hw: HW, input_hw: HW, paper_side: int) -> list[Crop]:
    side = _short_side(image_hw, input_hw, paper_side)
    boxes = _five_boxes(resized_hw(image_hw, side), input_hw)
    return [Crop(side, box, mirror) for box in boxes for mirror in (False, True)]


def _thirty_six(image_hw: HW, input_hw: HW, paper_side: int) -> list[Crop]:
    """3 windows x (5 input-sized boxes + the window resized) x 2 mirrors at one scale."""
    side = _short_side(image_hw, input_hw, paper_side)
    plan = []
    for window in _three_windows(resized_hw(image_hw, side), input_hw):
        top, left, wh, ww = window
        inner = [(top + t, left + le, h, w) for t, le, h, w in _five_boxes((wh, ww), input_hw)]
        for box in inner:
            plan += [Crop(side, box, mirror) for mirror in (False, True)]
        plan += [Crop(side, window, mirror, resize_to_input=True) for mirror in (False, True)]
    return plan


def _short_side(image_hw: HW, input_hw: HW, paper_side: int) -> int:
    """The shorter side at which the input box has the paper's margin in both directions."""
    ratio = paper_side / PAPER_INPUT
    scale = ratio * max(i / s for i, s in zip(input_hw, image_hw, strict=True))
    side = _round(min(image_hw) * scale)
    # Tiny inputs (< 4 px) can round below the box; grow until the box fits.
    while any(r < i for r, i in zip(resized_hw(image_hw, side), input_hw, strict=True)):
        side += 1
    return side


def _five_boxes(area_hw: HW, input_hw: HW) -> list[Box]:
    """4 corners (top-left, top-right, bottom-left, bottom-right) and the centre."""
    (ah, aw), (h, w) = area_hw, input_hw
    bottom, right = ah - h, aw - w
    corners = [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]
    return [(t, le, h, w) for t, le in corners]


def _three_windows(area_hw: HW, input_hw: HW) -> list[Box]:
    """The largest input-aspect windows at the start, centre and end of the longer axis."""
    (ah, aw), (ih, iw) = area_hw, input_hw
    fit = min(ah / ih, aw / iw)
    wh, ww = min(ah, _round(ih * fit)), min(aw, _round(iw * fit))
    slack_h, slack_w = ah - wh, aw - ww
    if slack_h > slack_w:  # portrait: top / centre / bottom
        return [(t, slack_w // 2, wh, ww) for t in (0, slack_h // 2, slack_h)]
    return [(slack_h // 2, le, wh, ww) for le in (0, slack_w // 2, slack_w)]


def _round(x: float) -> int:
    # Half up, not Python's half-to-even, so sizes do not depend on parity.
    return int(x + 0.5)


def _hw(name: str, hw: HW) -> HW:
    """`hw` as two Python ints (tensor shapes and numpy ints welcome), else ValueError."""
    try:
        h, w = (operator.index(v) for v in hw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two ints (height, width), not {hw!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, not {hw!r}")
    return h, w
