"""What `incept export` exports: a spec (fresh weights) or a trained checkpoint.

A run folder means its best checkpoint. A checkpoint of the other framework is
carried across with the IR's weight transfer (incept.backends.transfer), as
`incept convert` does.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incept.compiler.passes import optimize_graph
from incept.compiler.pipeline import Compiled, compile_spec

from ..commands import checkpoint_file, read_checkpoint
from ..errors import Code, InputError
from ..resume import checkpoint_spec

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Target:
    """A compiled spec and, for a checkpoint, the file and framework of its weights."""

    compiled: Compiled
    checkpoint: Path | None = None
    backend: str | None = None
    state: dict[str, Any] | None = None


def open_target(target: str, spec: str | None) -> Target:
    path = Path(target)
    if path.suffix.lower() in SPEC_SUFFIXES:
        if spec is not None:
            raise InputError(Code.FLAG, "--spec", "is for checkpoints; the target is a spec")
        return Target(compile_spec(target))
    if not path.exists():
        raise InputError(Code.CHECKPOINT, path, "no such spec, run folder or checkpoint")
    path, backend = checkpoint_file(path, best=True)
    state = read_checkpoint(path, backend)
    return Target(checkpoint_spec(state, spec, path), path, backend, state)


def scratch() -> Path:
    """A folder for the generated model sources the export imports."""
    return Path(tempfile.gettempdir()) / f"incept-export-{os.getuid()}"


def torch_model(t: Target, optimize: tuple[str, ...] = ()) -> Any:
    """The generated torch module, eval mode, aux heads off, with the target's weights;
    compiled with the `optimize` passes, its weights loaded through their mapping."""
    import torch

    from ..torch.model import build_model

    torch.manual_seed(0)
    model = build_model(t.compiled, scratch() / "torch", aux=False)
    if t.backend == "torch":
        assert t.state is not None
        heads = tuple(f"{row.name}." for row in t.compiled.graph.aux_heads)
        weights = {k: v for k, v in t.state["model"].items() if not k.startswith(heads)}
        model.load_state_dict(weights, strict=True)  # the export has no aux heads
    elif t.backend == "keras":
        from incept.backends.transfer import keras_to_torch

        keras_to_torch(t.compiled.graph, keras_model(t), model)
    if optimize:
        graph = optimize_graph(t.compiled.graph, optimize)
        fast = build_model(Compiled(t.compiled.spec, graph), scratch() / "torch-opt", aux=False)
        fast.load_state_dict(model.state_dict(), strict=True)
        model = fast
    return model.eval()


def keras_model(t: Target) -> Any:
    """The generated Keras model, aux heads off, with the target's weights."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from ..keras.model import build_model

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("float32")
    if t.backend == "keras":  # the checkpoint may hold aux heads: load, then drop them
        assert t.checkpoint is not None and t.state is not None
        from ..keras import checkpoint as keras_ckpt

        aux = bool(t.state["recipe"].get("aux")) and bool(t.compiled.graph.aux_heads)
        full = build_model(t.compiled, scratch() / "keras", aux=aux)
        keras_ckpt.load_weights(full, t.checkpoint)
        return keras.Model(full.inputs, full.outputs[0]) if aux else full
    model = build_model(t.compiled, scratch() / "keras", aux=False)
    if t.backend == "torch":
        from incept.backends.transfer import torch_to_keras

        torch_to_keras(t.compiled.graph, torch_model(t), model)
    return model
