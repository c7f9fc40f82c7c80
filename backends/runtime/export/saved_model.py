"""The generated Keras model as a TensorFlow SavedModel for TF Serving, checked.

Keras 3's `model.export(format="tf_saved_model")` writes the inference function
(endpoint `serve`, input NHWC float32, batch dynamic; aux heads off) into a temporary
folder beside the target. The folder is reloaded with tf.saved_model.load and its
`serve` outputs compared with the Keras model's on a random batch (relative error at
most RTOL); only then is it renamed into place.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import Code, InputError
from .onnx import CHECK_BATCH, RTOL, relative_error


def check(folder: Path, model: Any, batch: int = CHECK_BATCH) -> float:
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.random.default_rng(1).standard_normal((batch, *shape)).astype("float32")
    got = np.asarray(loaded.serve(tf.constant(x)))
    want = np.asarray(model(x, training=False))
    if got.shape != want.shape:
        raise RuntimeError(f"SavedModel outputs have shape {got.shape}, Keras' {want.shape}")
    return relative_error(got, want)


def export_saved_model(model: Any, out: Path) -> float:
    """Export, check and rename the folder into `out`; returns the relative error."""
    if out.exists():
        raise InputError(Code.FLAG, "--saved-model", f"{out} exists; choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the signature
            model.export(str(tmp / "model"), format="tf_saved_model", verbose=False)
        error = check(tmp / "model", model)
        if not error <= RTOL:
            raise InputError(
                Code.PREFLIGHT,
                out,
                f"the reloaded SavedModel differs from Keras by {error:.2e} (relative; limit {RTOL:g})",
            )
        (tmp / "model").rename(out)
        return error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
