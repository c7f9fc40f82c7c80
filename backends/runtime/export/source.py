"""What `incept export` exports: a spec (fresh weights) or a trained checkpoint.

A run folder means its best checkpoint; it comes through the one checkpoint path
(incept.runtime.checkpoints). A checkpoint of the other framework is carried across
with the IR's weight transfer (incept.backends.transfer), as `incept convert` does.
Each framework's model is built once per export (`Target` caches them), so
`--onnx --saved-model` on a torch checkpoint builds one torch and one Keras model.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from incept.compiler.passes import optimize_graph
from incept.compiler.pipeline import Compiled, compile_spec
from incept.compiler.spec import catalog

from .. import frameworks
from ..checkpoints import Checkpoint, open_checkpoint
from ..errors import Code, InputError

SPEC_SUFFIXES = (".yaml", ".yml")


def scratch() -> Path:
    """A folder for the generated model sources the export imports."""
    return Path(tempfile.gettempdir()) / f"incept-export-{os.getuid()}"


@dataclass
class Target:
    """A compiled spec and, for a trained target, its checkpoint; its models in
    inference form (eval mode, aux heads off, float32), each built once."""

    compiled: Compiled
    checkpoint: Checkpoint | None = None
    optimize: tuple[str, ...] = field(default=())

    @property
    def backend(self) -> str | None:
        return self.checkpoint.framework if self.checkpoint else None

    @cached_property
    def torch_model(self) -> Any:
        """The generated torch module with the target's weights; compiled with the
        `optimize` passes, its weights loaded through their mapping."""
        import torch

        from incept.backends.transfer import keras_to_torch

        adapter = frameworks.adapter("torch")
        torch.manual_seed(0)
        model = adapter.build(self.compiled, scratch() / "torch", aux=False)
        if self.backend == "torch":
            assert self.checkpoint is not None
            heads = tuple(f"{row.name}." for row in self.compiled.graph.aux_heads)
            weights = self.checkpoint.state["model"]
            model.load_state_dict({k: v for k, v in weights.items() if not k.startswith(heads)})
        elif self.backend == "keras":
            keras_to_torch(self.compiled.graph, self.keras_model, model)
        if self.optimize:
            graph = optimize_graph(self.compiled.graph, self.optimize)
            fast = adapter.build(
                Compiled(self.compiled.spec, graph), scratch() / "torch-opt", aux=False
            )
            fast.load_state_dict(model.state_dict(), strict=True)
            model = fast
        return model.eval()

    @cached_property
    def keras_model(self) -> Any:
        """The generated Keras model with the target's weights, aux heads off."""
        from incept.backends.transfer import torch_to_keras

        adapter = frameworks.adapter("keras")
        import keras

        keras.utils.set_random_seed(0)
        if self.backend == "keras":  # the checkpoint may hold aux heads: load, then drop them
            assert self.checkpoint is not None
            full = self.checkpoint.load("cpu").model
            return keras.Model(full.input, full.outputs[0]) if len(full.outputs) > 1 else full
        model = adapter.build(self.compiled, scratch() / "keras", aux=False)
        if self.backend == "torch":
            torch_to_keras(self.compiled.graph, self._plain_torch_model, model)
        return model

    @cached_property
    def _plain_torch_model(self) -> Any:
        """The torch model without the optimizations (what weight transfer reads)."""
        if not self.optimize:
            return self.torch_model
        return Target(self.compiled, self.checkpoint).torch_model


def open_target(target: str, spec: str | None, optimize: tuple[str, ...] = ()) -> Target:
    path = Path(target)
    if path.suffix.lower() in SPEC_SUFFIXES or (not path.exists() and catalog.is_name(target)):
        if spec is not None:
            raise InputError(Code.FLAG, "--spec", "is for checkpoints; the target is a spec")
        return Target(compile_spec(target), optimize=optimize)
    if not path.exists():
        raise InputError(Code.CHECKPOINT, path, "no such spec, run folder or checkpoint")
    checkpoint = open_checkpoint(path, spec, best=True)
    return Target(checkpoint.compiled, checkpoint, optimize)
