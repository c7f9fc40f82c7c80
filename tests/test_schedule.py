"""Learning-rate schedules and recipe resolution: exact values per epoch."""

from __future__ import annotations

import math

import pytest

from incept.compiler.spec.schema import Training
from incept.runtime.errors import InputError
from incept.runtime.recipe import differences, resolve
from incept.runtime.schedule import lr_factor, lr_table

STEPS = 10  # steps per epoch


def per_epoch(recipe: Training) -> list[float]:
    """The learning rate at the first step of every epoch."""
    return [round(lr, 12) for lr in lr_table(recipe, STEPS)[::STEPS]]


def test_paper_schedule_is_x096_every_8_epochs() -> None:
    recipe = Training(schedule="paper", lr=0.01, epochs=24)
    lrs = per_epoch(recipe)
    assert lrs[:8] == [0.01] * 8
    assert lrs[8:16] == [round(0.01 * 0.96, 12)] * 8
    assert lrs[16:] == [round(0.01 * 0.96**2, 12)] * 8


def test_cosine_schedule_values() -> None:
    recipe = Training(schedule="cosine", lr=0.1, epochs=4)
    expected = [round(0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)), 12) for e in range(4)]
    assert per_epoch(recipe) == expected
    assert lr_table(recipe, STEPS)[-1] == pytest.approx(
        0.1 * 0.5 * (1 + math.cos(math.pi * 39 / 40))
    )


def test_warmup_ramps_linearly_then_follows_the_schedule() -> None:
    recipe = Training(schedule="constant", lr=0.2, epochs=3, warmup_epochs=1)
    table = lr_table(recipe, STEPS)
    assert table[:STEPS] == pytest.approx([0.2 * (s + 1) / STEPS for s in range(STEPS)])
    assert table[STEPS:] == pytest.approx([0.2] * 2 * STEPS)


def test_onecycle_ramps_up_to_peak_then_down() -> None:
    recipe = Training(schedule="onecycle", lr=0.4, epochs=10)
    table = lr_table(recipe, STEPS)
    peak = table.index(max(table))
    assert peak == 30  # 30% of 100 steps
    assert table[0] == pytest.approx(0.4 / 25)
    assert max(table) == pytest.approx(0.4)
    last = 0.4 * (1e-5 + (1 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 69 / 70)))
    assert table[-1] == pytest.approx(last)
    assert all(a <= b for a, b in zip(table[:peak], table[1 : peak + 1], strict=True))
    assert all(a >= b for a, b in zip(table[peak:], table[peak + 1 :], strict=False))


def test_factor_is_a_pure_function_of_the_step() -> None:
    recipe = Training(schedule="cosine", epochs=5, warmup_epochs=0.5)
    assert [lr_factor(recipe, s, STEPS) for s in range(50)] == [
        lr_factor(recipe, s, STEPS) for s in range(50)
    ]


def test_resolve_applies_flags_and_nested_keys() -> None:
    recipe = resolve(Training(), {"lr": 0.3, "augment.flip": True, "epochs": None})
    assert recipe.lr == 0.3 and recipe.augment.flip is True and recipe.epochs == Training().epochs
    assert differences(Training(), recipe) == ["lr", "augment.flip"]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"lr": -1.0}, "--lr: error[flag]: must be greater than 0 (got -1.0)"),
        ({"augment.erasing": 2.0}, "--erasing: error[flag]: must be at most 1 (got 2.0)"),
        ({"augment.scale": (0.0, 1.0)}, "--scale: error[flag]: must be greater than 0 (got 0.0)"),
        (
            {"augment.ratio": (2.0, 1.0)},
            "--ratio: error[flag]: expected [low, high] with low <= high, got [2.0, 1.0]",
        ),
        ({"epochs": 0}, "--epochs: error[flag]: must be greater than 0 (got 0)"),
        ({"epochs": 1.5}, "--epochs: error[flag]: expected an integer (got 1.5)"),
    ],
)
def test_resolve_refuses_bad_flags_in_one_line(overrides: dict, line: str) -> None:
    with pytest.raises(InputError) as err:
        resolve(Training(), overrides)
    assert str(err.value) == line  # in incept's words, not pydantic's
