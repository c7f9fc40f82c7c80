"""incept's runtime meets Keras here: checkpoints read, models loaded for evaluation,
training sessions built (the contract is incept.runtime.adapter).

Keras runs on its TensorFlow backend here: KERAS_BACKEND is set to "tensorflow"
before keras is first imported (incept.runtime.frameworks), unless the environment
chose another backend already. The generated modules themselves run on any Keras 3
backend (tests/test_keras_jax.py runs one on JAX).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from incept.compiler.pipeline import Compiled

from ..crops import HW, Crop
from ..data import Split
from ..job import Job, Options
from . import checkpoint
from .batches import Batches
from .device import setup
from .evaluate import predict_probs
from .model import build_model, logits_function
from .session import KerasSession


@dataclass
class KerasLoaded:
    model: Any
    compiled: Compiled
    state: Mapping[str, Any]
    _logits: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._logits = logits_function(self.model)

    def probs(
        self, split: Split, *, start_hw: HW, plan: Sequence[Crop], batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        batches = Batches(
            split,
            train=False,
            batch_size=batch_size,
            size=start_hw,
            mean=self.state["data"]["mean"],
            std=self.state["data"]["std"],
            augment=None,
            seed=0,
        )
        _, h, w = self.compiled.graph.input.shape  # type: ignore[misc]
        try:
            return predict_probs(self._logits, batches.epoch(0), plan, (h, w))
        except tf.errors.OpError:
            batches.raise_failed()  # an image file the reader could not read
            raise


class KerasAdapter:
    name = "keras"
    suffix = ".keras"

    def read_state(self, path: Path) -> dict[str, Any]:
        return checkpoint.read_state(path)

    def build(self, compiled: Compiled, folder: Path, *, aux: bool) -> Any:
        import keras

        keras.mixed_precision.set_global_policy("float32")
        return build_model(compiled, folder, aux=aux)

    def save_model(self, path: Path, model: Any, state: Mapping[str, Any]) -> None:
        checkpoint.save(path, model, dict(state))

    def load(
        self, path: Path, state: Mapping[str, Any], compiled: Compiled, folder: Path, device: str
    ) -> KerasLoaded:
        setup(Options(device=device, precision="fp32"))  # evaluate in float32, as torch does
        aux = bool(state["recipe"].get("aux")) and bool(compiled.graph.aux_heads)
        model = build_model(compiled, folder, aux=aux)
        checkpoint.load_weights(model, path)
        return KerasLoaded(model, compiled, state)

    def load_with(
        self,
        compiled: Compiled,
        state: Mapping[str, Any],
        folder: Path,
        device: str,
        fill: Callable[[Any], None],
    ) -> KerasLoaded:
        setup(Options(device=device, precision="fp32"))  # evaluate in float32, as torch does
        model = build_model(compiled, folder, aux=False)
        fill(model)
        return KerasLoaded(model, compiled, state)

    def session(self, job: Job) -> KerasSession:
        return KerasSession(job)


ADAPTER = KerasAdapter()
