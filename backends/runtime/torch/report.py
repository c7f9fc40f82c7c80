"""Evaluation and prediction from torch checkpoints, and the end-of-training report.

The orchestration is shared (`incept.runtime.report`); this file loads a torch
checkpoint into its model and runs the crop plans through it. A checkpoint names the
spec it was trained from; the spec is compiled again and its architecture fingerprint
must equal the checkpoint's, so weights never meet a model they were not trained for.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from incept.compiler.pipeline import Compiled

from .. import report
from ..crops import HW, Crop
from ..data import Dataset, Split
from ..job import Options
from ..resume import checkpoint_spec
from ..rundir import RunDir
from . import checkpoint
from .batches import make_batches
from .device import setup
from .evaluate import predict_probs
from .model import build_model


@dataclass
class Loaded:
    model: nn.Module
    compiled: Compiled
    state: dict[str, Any]
    device: torch.device

    def probs(
        self, split: Split, *, start_hw: HW, plan: Sequence[Crop], batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        batches = make_batches(
            split,
            train=False,
            batch_size=batch_size,
            device=self.device,
            size=start_hw,
            mean=self.state["data"]["mean"],
            std=self.state["data"]["std"],
        )
        return predict_probs(self.model, batches.epoch(0), plan, report.input_hw(self.compiled))


def load_model(
    path: Path, spec: str | None, device: torch.device
) -> tuple[nn.Module, Compiled, dict[str, Any]]:
    """The model of checkpoint `path` in eval mode on `device`, its compiled spec, its state."""
    state = checkpoint.load(path)
    compiled = checkpoint_spec(state, spec, path)
    folder = path.parent.parent if path.parent.name == "checkpoints" else None
    folder = folder or Path(tempfile.gettempdir()) / "incept-models"
    aux = bool(state["recipe"].get("aux")) and bool(compiled.graph.aux_heads)
    model = build_model(compiled, folder, aux=aux)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), compiled, state


def load(path: Path, spec: str | None, device: str) -> Loaded:
    rt = setup(Options(device=device))
    model, compiled, state = load_model(path, spec, rt.device)
    return Loaded(model, compiled, state, rt.device)


def evaluate_checkpoint(path: Path, flags: Mapping[str, Any]) -> dict[str, Any]:
    return report.evaluate_checkpoint(path, flags, load)


def write_report(last: Path, run: RunDir, data: Dataset, *, spec: str, device: str) -> None:
    if not setup(Options(device=device)).is_main:
        return
    report.write_report(last, run, data, spec=spec, device=device, load=load)


def predict_images(
    path: Path, images: Sequence[Path], flags: Mapping[str, Any]
) -> list[dict[str, Any]]:
    return report.predict_images(path, images, flags, load)
