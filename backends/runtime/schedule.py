"""Learning-rate schedules as pure functions of the optimizer step.

Both backends call `lr_factor` (torch through LambdaLR, Keras through a schedule
that reads the same table), so the same recipe gives the same learning rate at
every step in either framework. Factors multiply the recipe's `lr`.
"""

from __future__ import annotations

import math

from incept.compiler.spec.schema import Training

#: onecycle starts at lr / ONECYCLE_DIV and ends at lr / ONECYCLE_FINAL_DIV.
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e5
#: onecycle's ramp when the recipe sets no warm-up: this share of all steps.
ONECYCLE_RAMP = 0.3


def _cosine(t: float, start: float, end: float) -> float:
    """From start (t=0) to end (t=1) along half a cosine."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def warmup_steps(recipe: Training, steps_per_epoch: int) -> int:
    warm = round(recipe.warmup_epochs * steps_per_epoch)
    if recipe.schedule == "onecycle" and warm == 0:
        warm = round(ONECYCLE_RAMP * recipe.epochs * steps_per_epoch)
    return warm


def lr_factor(recipe: Training, step: int, steps_per_epoch: int) -> float:
    """The multiplier of `recipe.lr` for optimizer step `step` (0-based)."""
    total = recipe.epochs * steps_per_epoch
    warm = warmup_steps(recipe, steps_per_epoch)
    if recipe.schedule == "onecycle":
        if step < warm:
            return _cosine(step / warm, 1.0 / ONECYCLE_DIV, 1.0)
        return _cosine((step - warm) / max(1, total - warm), 1.0, 1.0 / ONECYCLE_FINAL_DIV)
    ramp = (step + 1) / warm if step < warm else 1.0
    if recipe.schedule == "paper":
        return ramp * recipe.gamma ** ((step // steps_per_epoch) // recipe.step_epochs)
    if recipe.schedule == "cosine":
        return ramp * _cosine((step - warm) / max(1, total - warm), 1.0, 0.0)
    return ramp  # constant


def lr_table(recipe: Training, steps_per_epoch: int) -> list[float]:
    """The learning rate of every step of the whole run."""
    total = recipe.epochs * steps_per_epoch
    return [recipe.lr * lr_factor(recipe, s, steps_per_epoch) for s in range(total)]
