"""The generated Keras modules on Keras' JAX backend: build, forward, one fit step.

Keras fixes its backend at import, so the check runs in a fresh process with
KERAS_BACKEND=jax (SCRIPT below). It builds the tiny spec
with its aux head, checks the output shapes, compares the inference logits with the
same weights on TensorFlow (this process), and takes one `fit` step with the
module's `compile_kwargs` (aux loss weights).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from incept.backends import keras as keras_backend
from incept.compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "train" / "tiny.yaml"

SCRIPT = """
import json, sys
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
sys.path.insert(0, sys.argv[1])
import tiny_keras as m
keras.utils.set_random_seed(0)
model = m.build()
model.load_weights(sys.argv[2])
x = np.load(sys.argv[3])
y = np.arange(len(x)) % 10
logits, aux = model(x, training=False)
model.compile(keras.optimizers.SGD(0.01), **m.compile_kwargs(model))
history = model.fit(x, [y, y], batch_size=len(x), epochs=1, verbose=0)
after = model(x, training=False)[0]
print(json.dumps({
    "shapes": [list(logits.shape), list(aux.shape)],
    "logits": np.asarray(logits).tolist(),
    "loss": float(history.history["loss"][0]),
    "changed": float(np.abs(np.asarray(after) - np.asarray(logits)).max()),
    "loss_weights": model.get_compile_config()["loss_weights"],
}))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_generated_keras_module_builds_runs_and_fits_on_jax(tmp_path: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference half runs on TensorFlow")
    source = keras_backend.render(compile_spec(TINY).graph)
    (tmp_path / "tiny_keras.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        import tiny_keras  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    keras.utils.set_random_seed(1)
    model = tiny_keras.build()
    weights = tmp_path / "tiny.weights.h5"
    model.save_weights(weights)
    x = np.random.default_rng(0).normal(size=(8, 16, 16, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    reference = np.asarray(model(x, training=False)[0])

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(weights), str(tmp_path / "x.npy")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["shapes"] == [[8, 10], [8, 10]]
    np.testing.assert_allclose(np.array(out["logits"]), reference, rtol=1e-4, atol=1e-5)
    assert out["loss_weights"] == [1.0, 0.3]
    assert np.isfinite(out["loss"]) and out["changed"] > 0  # one step moved the weights
