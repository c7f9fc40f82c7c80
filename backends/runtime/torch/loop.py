"""One training epoch and one evaluation pass, on batches already on the device.

Running sums stay on the device and are read once per progress update, so the GPU
is never stalled by a `.item()` per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Update = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class Step:
    """Everything one optimizer step needs besides the batch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    aux_weights: Sequence[float]  # one per aux head, in the model's output order
    label_smoothing: float
    dtype: torch.dtype | None
    memory_format: torch.memory_format


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


def _autocast(images: torch.Tensor, dtype: torch.dtype | None) -> Any:
    return torch.autocast(images.device.type, dtype=dtype, enabled=dtype is not None)


def train_epoch(
    step: Step, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], update: Update
) -> dict[str, float]:
    """One pass over the training batches; returns mean loss, accuracy and images/s."""
    step.model.train()
    loss_sum = correct = None
    seen, start = 0, time.perf_counter()
    for i, (images, labels) in enumerate(batches):
        images = images.contiguous(memory_format=step.memory_format)
        with _autocast(images, step.dtype):
            loss, logits = training_loss(
                step.model(images), labels, step.aux_weights, step.label_smoothing
            )
        step.optimizer.zero_grad(set_to_none=True)
        step.scaler.scale(loss).backward()
        step.scaler.step(step.optimizer)
        step.scaler.update()
        step.scheduler.step()
        batch_loss = loss.detach() * len(labels)
        batch_correct = (logits.argmax(1) == labels).sum()
        loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        correct = batch_correct if correct is None else correct + batch_correct
        seen += len(labels)
        if i % 10 == 9:
            update(i + 1, _means(loss_sum, correct, seen, start))
    result = _means(loss_sum, correct, seen, start)
    update(-1, result)
    return result


def _means(loss_sum: Any, correct: Any, seen: int, start: float) -> dict[str, float]:
    if not seen:
        return {"loss": float("nan"), "acc": float("nan"), "images_per_s": 0.0}
    return {
        "loss": float(loss_sum) / seen,
        "acc": float(correct) / seen,
        "images_per_s": seen / max(time.perf_counter() - start, 1e-9),
    }


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    dtype: torch.dtype | None,
    memory_format: torch.memory_format,
) -> dict[str, float]:
    """Test loss (no smoothing), top-1 and top-5 accuracy of one centre view."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64)
    top1 = top5 = seen = 0
    for images, labels in batches:
        images = images.contiguous(memory_format=memory_format)
        with _autocast(images, dtype):
            logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").double().cpu()
        k = min(5, logits.shape[1])
        hits = logits.topk(k, dim=1).indices == labels[:, None]
        top1 += int(hits[:, 0].sum())
        top5 += int(hits.any(1).sum())
        seen += len(labels)
    return {"loss": float(loss_sum) / seen, "acc": top1 / seen, "top5": top5 / seen}
