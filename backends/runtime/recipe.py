"""The training recipe: the spec's `training:` section with command-line overrides.

Overrides go through the same pydantic model as the spec, so a flag gets the same
checks as a spec value (`--lr -1` is refused like `lr: -1`). Augmentation keys are
addressed as `augment.flip` and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import Code, InputError

if TYPE_CHECKING:
    from incept.compiler.spec.schema import Training

#: `incept train`'s flags that override the spec's `training:` section: flag -> key.
#: (This module loads pydantic only when a recipe is resolved: the CLI imports it.)
RECIPE_FLAGS = {
    "optimizer": "optimizer",
    "lr": "lr",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "rms_decay": "rms_decay",
    "rms_eps": "rms_eps",
    "clip_grad_norm": "clip_grad_norm",
    "weight_decay": "weight_decay",
    "label_smoothing": "label_smoothing",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "schedule": "schedule",
    "warmup_epochs": "warmup_epochs",
    "aux": "aux",
    "crop_padding": "augment.crop_padding",
    "flip": "augment.flip",
    "erasing": "augment.erasing",
    "scale": "augment.scale",
    "ratio": "augment.ratio",
    "ema": "ema",
}


def from_flags(training: Training, flags: Mapping[str, Any]) -> Training:
    """`training` with the RECIPE_FLAGS among `flags` applied (None: the spec's value)."""
    return resolve(training, {key: flags[flag] for flag, key in RECIPE_FLAGS.items()})


def resolve(training: Training, overrides: Mapping[str, Any]) -> Training:
    """`training` with every override that is not None applied and validated."""
    from pydantic import ValidationError

    from incept.compiler.spec.messages import constraint, expected
    from incept.compiler.spec.schema import Training

    data = training.model_dump()
    for key, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        target = data
        for part in parents:
            target = target[part]
        target[leaf] = list(value) if isinstance(value, tuple) else value  # nargs=2 flags
    try:
        return Training.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = [part for part in err["loc"] if isinstance(part, str)][-1]  # scale.0 is scale
        flag = "--" + key.replace("_", "-")  # augment.flip is --flip
        if err["type"] == "value_error":  # the schema's own validators quote the value
            raise InputError(Code.FLAG, flag, str(err["ctx"]["error"])) from None
        said = constraint(err["type"], err.get("ctx", {}), err["input"])
        message = said or expected([err["type"]])  # the spec's words, never pydantic's
        raise InputError(Code.FLAG, flag, f"{message} (got {err['input']!r})") from None


def flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A recipe's nested keys dotted (`augment.flip`)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def differences(saved: Training, wanted: Training) -> list[str]:
    """Keys whose values differ between two recipes, dotted (`augment.flip`)."""
    a, b = flat(saved.model_dump()), flat(wanted.model_dump())
    return [key for key in a if a[key] != b[key]]
