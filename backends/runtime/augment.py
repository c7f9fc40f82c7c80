"""What the torch and Keras batch pipelines' augmentations share: their constants and the
scale crop's fallback box. Each backend draws with its own random ops (torch.Generator,
TensorFlow's stateless ops), so the two pipelines take the same steps, not the same
pixels (tests/test_batches.py and tests/test_train_keras.py check each)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from incept.compiler.spec.schema import Augment

ERASE_AREA = (0.02, 0.33)  # fraction of the image (Zhong et al. 2017)
ERASE_RATIO = (0.3, 3.3)  # height / width, drawn log-uniform
ERASE_TRIES = 10  # rectangles drawn per image; the first that fits is erased
SCALE_TRIES = 10  # scale-crop boxes drawn per image; the first that fits is cut


def active(augment: Augment | None) -> bool:
    """Whether `augment` changes anything (else batches skip the random draws)."""
    return augment is not None and (
        augment.crop_padding > 0 or augment.flip or augment.erasing > 0 or augment.scale is not None
    )


def fallback_box(h: int, w: int, r0: float, r1: float) -> tuple[float, float]:
    """The scale crop's box (height, width) when no draw fits, as torchvision's
    RandomResizedCrop falls back: the whole image, narrowed to the nearest aspect
    (width / height) in [r0, r1]."""
    if w / h < r0:  # at least one pixel: a ratio range of [50, 100] on a 28 x 28 image
        return float(max(1, round(w / r0))), float(w)
    if w / h > r1:
        return float(h), float(max(1, round(h * r1)))
    return float(h), float(w)


def as_pixels(batch: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised N x H x W x C batch back to uint8 pixels (x * std + mean, times 255,
    rounded and clipped): what the model is shown, as an image. Random erasing's zeros
    come back as the data set's mean colour."""
    pixels = (np.asarray(batch, dtype=np.float64) * np.asarray(std) + np.asarray(mean)) * 255
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
