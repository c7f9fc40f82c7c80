"""`incept convert CKPT --to torch|keras -o OUT`: a checkpoint in the other framework.

The source comes through the one checkpoint path (a run folder means its last
checkpoint; architecture checked), its model is loaded, the other framework's model
is built with the same aux heads, and every weight and batch-norm statistic is copied
across with `incept.backends.transfer` (matched by IR node, layouts transposed). The
new checkpoint carries the same identity (spec, recipe, data, history) plus
`converted_from`, and no optimizer state: it is for evaluation, prediction and
--init-from, not for --resume.
"""

from __future__ import annotations

from pathlib import Path

from . import frameworks
from .checkpoints import open_checkpoint
from .errors import Code, InputError

#: State that belongs to one framework's training, not to the run's identity.
TRAINING_STATE = (
    "format",
    "model",
    "optimizer",
    "scheduler",
    "scaler",
    "rng",
    "partial",
    "dropout",
)


def convert_checkpoint(source: str, target: str, out: str, spec: str | None) -> Path:
    out_path = Path(out)
    if (out_path.suffix == ".keras") != (target == "keras"):
        raise InputError(
            Code.FLAG,
            "--output",
            f"a {target} checkpoint is named *{frameworks.SUFFIX[target]}, not {out_path}",
        )
    if out_path.exists():
        raise InputError(Code.FLAG, "--output", f"{out_path} exists; choose another name")
    checkpoint = open_checkpoint(source, spec)
    if checkpoint.framework == target:
        raise InputError(Code.FLAG, "--to", f"{checkpoint.path} is a {target} checkpoint already")
    frameworks.adapter("torch", source), frameworks.adapter("keras", source)  # torch first
    from incept.backends.transfer import keras_to_torch, torch_to_keras

    loaded = checkpoint.load("cpu")
    other = frameworks.adapter(target)
    model = other.build(
        checkpoint.compiled, checkpoint.folder / f"convert-{target}", aux=checkpoint.aux
    )
    copy = torch_to_keras if target == "keras" else keras_to_torch
    copy(checkpoint.compiled.graph, loaded.model, model)
    identity = {k: v for k, v in checkpoint.state.items() if k not in TRAINING_STATE}
    identity["backend"] = target
    identity["converted_from"] = {"path": str(checkpoint.path), "backend": checkpoint.framework}
    other.save_model(out_path, model, identity)
    return out_path
