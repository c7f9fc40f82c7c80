"""incept's runtime meets PyTorch here: checkpoints read, models loaded for evaluation,
training sessions built (the contract is incept.runtime.adapter)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from incept.compiler.pipeline import Compiled

from ..crops import HW, Crop
from ..data import Split
from ..job import Job, Options
from . import checkpoint
from .batches import make_batches
from .device import setup
from .evaluate import predict_probs
from .model import build_model, load_weights
from .session import TorchSession


@dataclass
class TorchLoaded:
    model: nn.Module
    compiled: Compiled
    state: Mapping[str, Any]
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
        _, h, w = self.compiled.graph.input.shape  # type: ignore[misc]
        return predict_probs(self.model, batches.epoch(0), plan, (h, w))


class TorchAdapter:
    name = "torch"
    suffix = ".pt"

    def read_state(self, path: Path) -> dict[str, Any]:
        return checkpoint.load(path)

    def build(self, compiled: Compiled, folder: Path, *, aux: bool) -> nn.Module:
        return build_model(compiled, folder, aux=aux)

    def save_model(self, path: Path, model: nn.Module, state: Mapping[str, Any]) -> None:
        checkpoint.save(path, {**state, "model": model.state_dict()})

    def load(
        self, path: Path, state: Mapping[str, Any], compiled: Compiled, folder: Path, device: str
    ) -> TorchLoaded:
        rt = setup(Options(device=device))
        aux = bool(state["recipe"].get("aux")) and bool(compiled.graph.aux_heads)
        model = build_model(compiled, folder, aux=aux)
        load_weights(model, state["model"], path)
        return TorchLoaded(model.to(rt.device).eval(), compiled, state, rt.device)

    def load_with(
        self,
        compiled: Compiled,
        state: Mapping[str, Any],
        folder: Path,
        device: str,
        fill: Callable[[Any], None],
    ) -> TorchLoaded:
        rt = setup(Options(device=device))
        model = build_model(compiled, folder, aux=False)
        fill(model)
        return TorchLoaded(model.to(rt.device).eval(), compiled, state, rt.device)

    def session(self, job: Job) -> TorchSession:
        return TorchSession(job)


ADAPTER = TorchAdapter()
