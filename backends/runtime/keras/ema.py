"""Polyak averaging in Keras: an exponential moving average of a model's weights.

The same average as torch's (incept.runtime.torch.ema): every floating weight —
kernels, biases, norm scales and the norms' moving statistics — moves towards the
trained model's after every step by 1 - d, d = min(decay, (1 + n) / (10 + n)) at
update n. The averages are non-trainable variables beside the model (created in the
strategy's scope), updated inside the training step's tf.function. Keras' own
`use_ema` optimizer option averages the trainable variables only and has no ramp.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf


class Average:
    def __init__(self, model: Any, decay: float) -> None:
        self.decay = decay
        self.weights = [w for w in model.weights if "float" in str(w.dtype)]
        self.averaged = [
            tf.Variable(w.value, trainable=False, name=f"average_{i}")
            for i, w in enumerate(self.weights)
        ]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="average_updates")

    def update(self) -> None:
        """One step of the average towards the model's weights (inside the step)."""
        n = tf.cast(self.updates, tf.float32)
        weight = 1.0 - tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        for average, w in zip(self.averaged, self.weights, strict=True):
            average.assign_add((tf.convert_to_tensor(w.value) - average) * weight)
        self.updates.assign_add(1)

    def start(self, updates: int = 0) -> None:
        """The average from the model's weights now (a new run's, or a restored one's)."""
        for average, w in zip(self.averaged, self.weights, strict=True):
            average.assign(w.value)
        self.updates.assign(updates)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own after it."""
        trained = self.trained()
        for w, average in zip(self.weights, self.averaged, strict=True):
            w.assign(average)
        try:
            yield
        finally:
            self.set_trained(trained)

    def trained(self) -> list[np.ndarray]:
        return [np.asarray(w.numpy()) for w in self.weights]

    def set_trained(self, values: list[np.ndarray]) -> None:
        for w, value in zip(self.weights, values, strict=True):
            w.assign(value)

    def finite(self) -> bool:
        return all(bool(np.isfinite(a.numpy()).all()) for a in self.averaged)


def to_bytes(values: list[np.ndarray]) -> bytes:
    """Arrays as an .npz archive's bytes (in the model's weight order)."""
    out = io.BytesIO()
    np.savez(out, *values)
    return out.getvalue()


def from_bytes(data: bytes, count: int) -> list[np.ndarray]:
    """`count` arrays from `to_bytes`' output, or ValueError saying what is wrong."""
    try:
        with np.load(io.BytesIO(data)) as archive:
            values = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    except (ValueError, OSError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"not a readable .npz ({type(exc).__name__})") from None
    if len(values) != count:
        raise ValueError(f"{len(values)} trained weights for a model of {count}")
    return values
