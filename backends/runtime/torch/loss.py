"""The loss of a torch training step: the main output's cross-entropy plus each aux
head's, weighted as the spec says (label smoothing on all of them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


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
