"""What a framework supplies to the runtime: the contract of torch/adapter.py and
keras/adapter.py.

Everything else — where checkpoints are, which spec they belong to, the epoch loop,
metrics rows, best/last policy, signals, non-finite checks, evaluation and reports —
is written once, in checkpoints.py, driver.py and evaluation.py, against these types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from incept.compiler.pipeline import Compiled

from .crops import HW, Crop
from .data import Split
from .job import Job

if TYPE_CHECKING:
    from .checkpoints import Checkpoint
    from .weights import Weights


class Loaded(Protocol):
    """A checkpoint's model in eval mode, its compiled spec and its identity."""

    @property
    def model(self) -> Any: ...

    @property
    def compiled(self) -> Compiled: ...

    @property
    def state(self) -> Mapping[str, Any]:  # job.identity(...): spec, recipe, data, history
        ...

    def probs(
        self, split: Split, *, start_hw: HW, plan: Sequence[Crop], batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N x K float64 softmax averaged over `plan`, N int64 labels); the images are
        resized to `start_hw` and normalised with the checkpoint's mean/std first."""
        ...


class Session(Protocol):
    """One process's part of a training run: model, optimizer and batches, built and
    preflighted by the adapter; driven step by step by the driver."""

    is_main: bool  # rank 0 (the only rank that writes)
    world: int  # processes training together
    steps: int  # training batches per epoch on this rank
    runtime: dict[str, Any]  # how it runs (device, precision, ...) for config.json
    versions: dict[str, str]  # the framework's library versions, for config.json

    def restore(self, state: Mapping[str, Any], checkpoint: Path) -> None:
        """Weights, optimizer, schedule, RNG and dropout states from a checkpoint."""
        ...

    def init_from(self, checkpoint: Checkpoint) -> None:
        """A new run's weights from another run's checkpoint (the same architecture, or
        another class count: the classifiers start fresh)."""
        ...

    def init_weights(self, weights: Weights) -> None:
        """A new run's weights from a library's pretrained weights or a weights file
        (`weights.load_into` the session's model)."""
        ...

    def begin_epoch(self, epoch: int) -> None: ...

    def batches(self, epoch: int, start: int) -> Iterator[Any]:
        """Epoch `epoch`'s training batches from batch `start` on (the same batches an
        uninterrupted epoch would have from there)."""
        ...

    def step(self, batch: Any) -> None:
        """One optimizer step; adds the batch's loss and hits to the running sums on
        the device (no host synchronisation)."""
        ...

    def preview(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The first `count` images of the first training batch of the first epoch as
        the model sees them (augmented and normalised: N x H x W x C float32) and their
        labels, for the run's picture of what it trains on (augment.as_pixels)."""
        ...

    def sums(self) -> tuple[float, float, int]:
        """(loss sum, correct, images) of the epoch so far: synchronises with the device."""
        ...

    def set_sums(self, loss_sum: float, correct: float, seen: int) -> None: ...

    def rank_mean(self, values: Sequence[float]) -> list[float]:
        """`values` averaged over the ranks (themselves with one process)."""
        ...

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when any rank says True."""
        ...

    def lr(self) -> float: ...

    def weights_finite(self) -> bool: ...

    def test_logits(self) -> tuple[np.ndarray, np.ndarray]:
        """(N x K float64 logits, N int64 labels) of the test split, one centre view."""
        ...

    def save(self, path: Path, state: Mapping[str, Any]) -> None:
        """A checkpoint at `path`: the weights and optimizer state plus `state` (the run's
        identity, position, history, running sums), atomically."""
        ...

    def copy(self, source: Path, target: Path) -> None:
        """best.* from last.* (the same bytes)."""
        ...


class Adapter(Protocol):
    name: str  # torch | keras
    suffix: str  # .pt | .keras

    def read_state(self, path: Path) -> dict[str, Any]:
        """A checkpoint's state without building a model, or InputError(checkpoint)."""
        ...

    def load(
        self, path: Path, state: Mapping[str, Any], compiled: Compiled, folder: Path, device: str
    ) -> Loaded:
        """The checkpoint's model built from `compiled` and its weights loaded, eval mode."""
        ...

    def build(self, compiled: Compiled, folder: Path, *, aux: bool) -> Any:
        """A fresh float32 model (source imported from `folder`/model.py)."""
        ...

    def load_with(
        self,
        compiled: Compiled,
        state: Mapping[str, Any],
        folder: Path,
        device: str,
        fill: Callable[[Any], None],
    ) -> Loaded:
        """A model of `compiled` (no aux heads) whose weights `fill` sets (a library's
        or a file's, incept.runtime.weights), eval mode; `state` stands in for a
        checkpoint's identity (data: classes, mean, std)."""
        ...

    def save_model(self, path: Path, model: Any, state: Mapping[str, Any]) -> None:
        """A weights-only checkpoint (no optimizer state) of `model` with `state`."""
        ...

    def session(self, job: Job) -> Session:
        """The training side: model built and preflighted, optimizer, batches."""
        ...
