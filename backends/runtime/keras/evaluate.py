"""Test-time evaluation in Keras/TensorFlow: apply a crop plan, average the softmax.

The geometry lives in `incept.runtime.crops` (shared by every backend); this file only
turns a `Crop` into TensorFlow image operations (N x H x W x C) and runs the model once
per crop. Resizes are bilinear and antialiased, as torch's F.interpolate(antialias=True).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from incept.runtime.crops import HW, Crop, resized_hw
from incept.runtime.metrics import softmax


def apply_crop(images: Any, crop: Crop, input_hw: HW) -> Any:
    """N x H x W x C float images -> N x h x w x C: resize, cut the box, resize, mirror."""
    return _cut(_resize_short(images, crop.short_side), crop, input_hw)


def predict_probs(
    logits: Callable[[Any], Any],
    batches: Iterable[tuple[Any, Any]],
    plan: Sequence[Crop],
    input_hw: HW,
) -> tuple[np.ndarray, np.ndarray]:
    """(probs N x K float64, the softmax averaged over `plan`; labels N int64)."""
    if not plan:
        raise ValueError("the crop plan is empty")
    probs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for images, target in batches:
        total: np.ndarray | None = None
        cached: tuple[int, Any] | None = None  # plans are grouped by scale: resize once
        for crop in plan:
            if cached is None or cached[0] != crop.short_side:
                cached = (crop.short_side, _resize_short(images, crop.short_side))
            out = np.asarray(logits(_cut(cached[1], crop, input_hw)), np.float64)
            p = softmax(out)
            total = p if total is None else total + p
        assert total is not None
        probs.append(total / len(plan))
        labels.append(np.asarray(target, np.int64))
    if not probs:
        return np.zeros((0, 0)), np.zeros(0, np.int64)
    return np.concatenate(probs), np.concatenate(labels)


def _resize_short(images: Any, short_side: int) -> Any:
    hw = resized_hw((int(images.shape[1]), int(images.shape[2])), short_side)
    return _resize(images, hw)


def _cut(resized: Any, crop: Crop, input_hw: HW) -> Any:
    top, left, h, w = crop.box
    rh, rw = int(resized.shape[1]), int(resized.shape[2])
    if top < 0 or left < 0 or top + h > rh or left + w > rw:
        raise ValueError(f"crop box {crop.box} is outside the resized {rh}x{rw} image")
    x = resized[:, top : top + h, left : left + w, :]
    if crop.resize_to_input:
        x = _resize(x, input_hw)
    elif (h, w) != tuple(input_hw):
        raise ValueError(f"crop box {crop.box} is not the input size {tuple(input_hw)}")
    return tf.reverse(x, axis=[2]) if crop.mirror else x


def _resize(images: Any, hw: HW) -> Any:
    if (int(images.shape[1]), int(images.shape[2])) == tuple(hw):
        return images  # identity: skip the interpolation (and its rounding)
    return tf.image.resize(images, hw, method="bilinear", antialias=True)
