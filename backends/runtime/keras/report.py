"""Evaluation and prediction from Keras checkpoints, and the end-of-training report.

The orchestration is shared (`incept.runtime.report`); this file loads a `.keras`
checkpoint into the model its spec builds (after the architecture check) and runs
the crop plans through it in float32.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from incept.compiler.pipeline import Compiled

from .. import report
from ..crops import HW, Crop
from ..data import Dataset, Split
from ..job import Options
from ..resume import checkpoint_spec
from ..rundir import RunDir
from . import checkpoint
from .batches import Batches
from .device import setup
from .evaluate import predict_probs
from .model import build_model
from .train import logits_function


@dataclass
class Loaded:
    model: Any
    compiled: Compiled
    state: dict[str, Any]

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
        try:
            return predict_probs(
                self._logits, batches.epoch(0), plan, report.input_hw(self.compiled)
            )
        except tf.errors.OpError:
            batches.raise_failed()  # an image file the reader could not read
            raise


def model_folder(path: Path) -> Path:
    """Where a checkpoint's model.py goes: its run folder, else a temporary folder."""
    if path.parent.name == "checkpoints":
        return path.parent.parent
    return Path(tempfile.gettempdir()) / "incept-models-keras"


def load_model(path: Path, spec: str | None) -> tuple[Any, Compiled, dict[str, Any]]:
    """The model of checkpoint `path`, its compiled spec and its identity."""
    state = checkpoint.read_state(path)
    compiled = checkpoint_spec(state, spec, path)
    aux = bool(state["recipe"].get("aux")) and bool(compiled.graph.aux_heads)
    model = build_model(compiled, model_folder(path), aux=aux)
    checkpoint.load_weights(model, path)
    return model, compiled, state


def load(path: Path, spec: str | None, device: str) -> Loaded:
    setup(Options(device=device, precision="fp32"))  # evaluate in float32, as torch does
    model, compiled, state = load_model(path, spec)
    return Loaded(model, compiled, state)


def evaluate_checkpoint(path: Path, flags: Mapping[str, Any]) -> dict[str, Any]:
    return report.evaluate_checkpoint(path, flags, load)


def write_report(last: Path, run: RunDir, data: Dataset, *, spec: str, device: str) -> None:
    report.write_report(last, run, data, spec=spec, device=device, load=load)


def predict_images(
    path: Path, images: Sequence[Path], flags: Mapping[str, Any]
) -> list[dict[str, Any]]:
    return report.predict_images(path, images, flags, load)
