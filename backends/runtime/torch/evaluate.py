"""Test-time evaluation in PyTorch: apply a crop plan and average the softmax over it.

The geometry lives in `incept.runtime.crops` (shared by every backend); this file only
turns a `Crop` into tensor operations and runs the model once per crop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from incept.runtime.crops import HW, Crop, resized_hw
from incept.runtime.metrics import softmax


def apply_crop(images: torch.Tensor, crop: Crop, input_hw: HW) -> torch.Tensor:
    """N x C x H x W float images -> N x C x h x w: resize, cut the box, resize, mirror."""
    return _cut(_resize_short(images, crop.short_side), crop, input_hw)


@torch.no_grad()
def predict_probs(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    plan: Sequence[Crop],
    input_hw: HW,
    *,
    autocast: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(probs N x K float64, the softmax averaged over `plan`; labels N int64).

    The caller puts the model in eval mode. Batches are normalised float images of the
    size `plan` was made for; they are moved to the model's device here.
    """
    if not plan:
        raise ValueError("the crop plan is empty")
    device = _device(model)
    probs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for images, target in batches:
        x = images if device is None else images.to(device, non_blocking=True)
        probs.append(_mean_softmax(model, x, plan, input_hw, autocast))
        labels.append(target.cpu().numpy().astype(np.int64))
    if not probs:
        return np.zeros((0, 0)), np.zeros(0, np.int64)
    return np.concatenate(probs), np.concatenate(labels)


def _mean_softmax(
    model: torch.nn.Module, images: torch.Tensor, plan: Sequence[Crop], input_hw: HW, autocast: bool
) -> np.ndarray:
    total: np.ndarray | None = None
    cached: tuple[int, torch.Tensor] | None = None  # plans are grouped by scale: resize once
    for crop in plan:
        if cached is None or cached[0] != crop.short_side:
            cached = (crop.short_side, _resize_short(images, crop.short_side))
        x = _cut(cached[1], crop, input_hw)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(x)
        logits = out[0] if isinstance(out, tuple | list) else out  # (logits, aux...) if aux on
        p = softmax(logits.double().cpu().numpy())  # N x K is small: fp64 keeps the mean exact
        total = p if total is None else total + p
    assert total is not None
    return total / len(plan)


def _resize_short(images: torch.Tensor, short_side: int) -> torch.Tensor:
    hw = resized_hw((images.shape[-2], images.shape[-1]), short_side)
    return _resize(images, hw)


def _cut(resized: torch.Tensor, crop: Crop, input_hw: HW) -> torch.Tensor:
    top, left, h, w = crop.box
    rh, rw = resized.shape[-2:]
    if top < 0 or left < 0 or top + h > rh or left + w > rw:
        raise ValueError(f"crop box {crop.box} is outside the resized {rh}x{rw} image")
    x = resized[..., top : top + h, left : left + w]
    if crop.resize_to_input:
        x = _resize(x, input_hw)
    elif (h, w) != tuple(input_hw):
        raise ValueError(f"crop box {crop.box} is not the input size {tuple(input_hw)}")
    return x.flip(-1) if crop.mirror else x


def _resize(images: torch.Tensor, hw: HW) -> torch.Tensor:
    if tuple(images.shape[-2:]) == tuple(hw):
        return images  # identity: skip the interpolation (and its rounding)
    return F.interpolate(images, size=hw, mode="bilinear", antialias=True, align_corners=False)


def _device(model: torch.nn.Module) -> torch.device | None:
    """Where the model's weights are; None (leave the images where they are) if it has none."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return None if tensor is None else tensor.device


@torch.inference_mode()
def test_logits(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    dtype: torch.dtype | None,
    memory_format: torch.memory_format,
) -> tuple[np.ndarray, np.ndarray]:
    """(N x K float64 logits, N int64 labels) of one centre view, eval mode; the
    metrics are computed from them by incept.runtime.metrics, as eval's are."""
    model.eval()
    logits: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for images, target in batches:
        images = images.contiguous(memory_format=memory_format)
        with torch.autocast(images.device.type, dtype=dtype, enabled=dtype is not None):
            out = model(images)
        logits.append(out.double().cpu().numpy())
        labels.append(target.cpu().numpy().astype(np.int64))
    return np.concatenate(logits), np.concatenate(labels)
