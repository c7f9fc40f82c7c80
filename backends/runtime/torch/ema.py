"""Polyak averaging in torch: an exponential moving average of a model's weights.

The average is a second copy of the model (eval mode, no gradients) whose floating
state — parameters and the norms' running statistics — moves towards the trained
model's after every optimizer step by 1 - d, where d = min(decay, (1 + n) / (10 + n))
at update n (0 first): the ramp of TensorFlow's ExponentialMovingAverage with
num_updates, so a short run is not dominated by its initial weights. Integer state
(num_batches_tracked) is copied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def decay_at(decay: float, updates: int) -> float:
    """The decay of update number `updates` (0 first)."""
    return min(decay, (1 + updates) / (10 + updates))


class Average:
    """The average of `model`'s weights (which it reads at every `update`)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        mine, theirs = self.model.state_dict(), model.state_dict()  # views of the tensors
        floats = [k for k in mine if mine[k].is_floating_point()]
        counts = [k for k in mine if not mine[k].is_floating_point()]
        self._averaged, self._trained = [mine[k] for k in floats], [theirs[k] for k in floats]
        self._kept, self._counts = [mine[k] for k in counts], [theirs[k] for k in counts]

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the trained model's current weights."""
        weight = 1.0 - decay_at(self.decay, self.updates)
        torch._foreach_lerp_(self._averaged, self._trained, weight)  # few kernels, not 1 a tensor
        for mine, theirs in zip(self._kept, self._counts, strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()

    def restore(self, weights: Mapping[str, Any], updates: int) -> None:
        self.model.load_state_dict(weights)  # copies into the same tensors: the views hold
        self.updates = updates

    def finite(self) -> bool:
        return bool(torch.stack([t.isfinite().all() for t in self._averaged]).all())
