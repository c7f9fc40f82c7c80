"""Classification metrics from predicted probabilities (numpy, any backend).

Ties between equal probabilities go to the lower class index, as `np.argmax` does, so
top-1, top-k and the confusion matrix always agree with one another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# A probability of exactly 0 for the true class (fp underflow) costs -log(1e-12) = 27.6,
# not infinity, so one image cannot turn the mean loss into inf.
_MIN_PROB = 1e-12


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax in float64: the one way logits become probabilities (training's test
    pass, eval and predict, in both frameworks)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mean_nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """The mean negative log-likelihood of the true classes (the test loss)."""
    true_prob = probs[np.arange(len(labels)), labels]
    # + 0.0: where every true class has probability 1.0 the mean is -0.0, which reports
    # and metrics.csv would print as "-0.0000"
    return float(-np.mean(np.log(np.maximum(true_prob, _MIN_PROB)))) + 0.0


def score(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Test loss, top-1 and top-5 of N x K logits: what metrics.csv's test columns hold,
    computed exactly as eval.json's are (`summarize` of one crop's probabilities)."""
    probs, labels = np.asarray(softmax(logits)), np.asarray(labels, np.int64)
    k = probs.shape[1]
    return {
        "loss": mean_nll(probs, labels),
        "acc": topk_correct(probs, labels, 1) / len(labels),
        "top5": topk_correct(probs, labels, min(5, k)) / len(labels),
    }


@dataclass(frozen=True)
class Summary:
    top1: float
    top5: float  # top-min(5, K) with fewer than 5 classes
    loss: float  # mean NLL of the (crop-averaged) probabilities
    per_class: dict[str, float]  # accuracy per class name; NaN for a class with no images
    confusion: np.ndarray  # K x K int64, rows = true class, cols = predicted
    count: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats and lists; NaN (a class with no images) becomes None."""
        return {
            "count": self.count,
            "top1": self.top1,
            "top5": self.top5,
            "loss": self.loss,
            "per_class": {name: _json_float(acc) for name, acc in self.per_class.items()},
            "confusion": self.confusion.tolist(),
        }


def summarize(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> Summary:
    """Top-1/top-5 accuracy, loss, per-class accuracy and confusion of N x K `probs`."""
    probs, labels = _checked(probs, labels, classes)
    k = len(classes)
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(confusion) / support  # NaN where a class has no images
    return Summary(
        top1=topk_correct(probs, labels, 1) / len(labels),
        top5=topk_correct(probs, labels, min(5, k)) / len(labels),
        loss=mean_nll(probs, labels),
        per_class={name: float(acc) for name, acc in zip(classes, per_class, strict=True)},
        confusion=confusion,
        count=len(labels),
    )


def topk_correct(probs: np.ndarray, labels: np.ndarray, k: int) -> int:
    """How many rows have their label among their k most probable classes."""
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return int(np.sum(top == np.asarray(labels)[:, None]))


def _checked(
    probs: np.ndarray, labels: np.ndarray, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(
            f"probs must be N x {len(classes)} (one column per class), not {probs.shape}"
        )
    if labels.shape != (len(probs),) or len(labels) == 0:
        raise ValueError(
            f"labels must be {len(probs)} (>= 1) class indices, not shape {labels.shape}"
        )
    if len(set(classes)) != len(classes):
        raise ValueError("class names must be unique")
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(f"labels must lie in 0..{len(classes) - 1}")
    return probs, labels.astype(np.int64)


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else x
