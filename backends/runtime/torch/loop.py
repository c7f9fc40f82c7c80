"""The torch losses of a training step and the logits of a test pass."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def training_loss(
    out: Any, labels: torch.Tensor, aux_weights: Sequence[float], smoothing: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(main loss + each aux loss times its weight, the main logits)."""
    if isinstance(out, torch.Tensor):
        return F.cross_entropy(out, labels, label_smoothing=smoothing), out
    logits, *aux = out
    if len(aux) != len(aux_weights):
        raise RuntimeError(f"model returned {len(aux)} aux outputs, spec has {len(aux_weights)}")
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    for weight, head in zip(aux_weights, aux, strict=True):
        loss = loss + weight * F.cross_entropy(head, labels, label_smoothing=smoothing)
    return loss, logits


@torch.inference_mode()
def test_logits(
    model: nn.Module,
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
