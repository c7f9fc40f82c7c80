"""The recipe's optimizer in torch: SGD, AdamW, or TensorFlow's RMSProp.

torch's own RMSprop adds epsilon after the square root, starts its mean squares at 0
and multiplies the learning rate outside the momentum buffer; the Inception-v3 and v4
papers' recipe (decay 0.9, epsilon 1.0, momentum 0.9, lr 0.045) was written for
TensorFlow's RMSPropOptimizer, where epsilon is inside the root, the mean squares start
at 1 and the momentum buffer accumulates lr-scaled steps. `RMSProp` is that update
(the same as timm's RMSpropTF, tests/test_optim.py); with epsilon 1.0 the two
conventions train differently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from incept.compiler.spec.schema import Training


def make_optimizer(model: nn.Module, recipe: Training) -> torch.optim.Optimizer:
    """Weight decay on weights only: biases and norm parameters (1-D) are not decayed."""
    trained = [p for p in model.parameters() if p.requires_grad]  # --freeze leaves some out
    decay = [p for p in trained if p.ndim > 1]
    rest = [p for p in trained if p.ndim <= 1]
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    if recipe.optimizer == "rmsprop":
        return RMSProp(
            groups, lr=recipe.lr, decay=recipe.rms_decay, eps=recipe.rms_eps,
            momentum=recipe.momentum,
        )  # fmt: skip
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


class RMSProp(torch.optim.Optimizer):
    """TensorFlow's RMSProp with L2 weight decay coupled to the gradient:

    g += weight_decay * w
    ms = decay * ms + (1 - decay) * g^2          (ms starts at 1)
    buf = momentum * buf + lr * g / sqrt(ms + eps)
    w -= buf
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        decay: float = 0.9,
        eps: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr, "decay": decay, "eps": eps, "momentum": momentum,
            "weight_decay": weight_decay,
        }  # fmt: skip
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        assert p.grad is not None
        grad = p.grad
        if group["weight_decay"]:
            grad = grad.add(p, alpha=group["weight_decay"])
        state = self.state[p]
        if not state:
            state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        square_avg, buf = state["square_avg"], state["momentum_buffer"]
        square_avg.mul_(group["decay"]).addcmul_(grad, grad, value=1 - group["decay"])
        root = square_avg.add(group["eps"]).sqrt_()
        buf.mul_(group["momentum"]).addcdiv_(grad, root, value=group["lr"])
        p.sub_(buf)
