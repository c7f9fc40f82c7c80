"""The Keras side of the runtime: what `incept train / eval / predict` call for
`--backend keras` (every backend folder exposes these four names).

Keras training runs on Keras' TensorFlow backend (tf.data, XLA, mixed precision):
KERAS_BACKEND is set to "tensorflow" here, before keras is first imported, unless the
environment chose another backend already. The generated modules themselves run on
any Keras 3 backend (tests/test_keras_jax.py runs one on JAX).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from .report import evaluate_checkpoint, predict_images, write_report  # noqa: E402
from .train import run  # noqa: E402

__all__ = ["evaluate_checkpoint", "predict_images", "run", "write_report"]
