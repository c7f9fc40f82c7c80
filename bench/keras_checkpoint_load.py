"""Loading a Keras checkpoint's weights: incept's loader against Keras' own.

A model of the spec (Keras backend) is compiled with SGD and momentum, trained one
step (so the optimizer has state to save) and saved as an incept checkpoint (a
`.keras` archive). The reference, timed in the same run, is what a Keras user calls:
`model.load_weights(path)` on the archive. incept's `checkpoint.load_weights` loads the
same file into the same model. Both must leave the same weights and optimizer state.

    python -m incept.bench.keras_checkpoint_load [--spec inception-v3-keras] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _model(spec: str) -> Any:
    """The spec's Keras model, compiled and trained one step: weights and momenta set."""
    import keras
    import numpy as np

    import incept

    model = incept.create_model(spec, backend="keras", aux_logits=False)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    shape = (2, *model.input_shape[1:])
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    y = rng.standard_normal((2, *model.output_shape[1:])).astype("float32")
    model.train_on_batch(x, y)
    return model


def _state(model: Any) -> list[Any]:
    import numpy as np

    return [np.asarray(v) for v in (*model.weights, *model.optimizer.variables)]


def _timed_load(model: Any, load: Callable[[], None], saved: list[Any]) -> float:
    """Zero every variable, time `load`, then check it restored all of them."""
    import numpy as np

    for variable in (*model.weights, *model.optimizer.variables):
        variable.assign(np.zeros(variable.shape, variable.dtype))
    start = time.perf_counter()
    load()
    seconds = time.perf_counter() - start
    if not all(np.array_equal(a, b) for a, b in zip(saved, _state(model), strict=True)):
        sys.exit(f"{load.__name__}: the weights or optimizer state differ from the saved ones")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="inception-v3-keras")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from incept.runtime.frameworks import load_frameworks

    load_frameworks(keras=True)
    from incept.runtime.keras import checkpoint

    model = _model(args.spec)
    saved = _state(model)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "last.keras"
        checkpoint.save(path, model, {"epoch": 1})
        size = path.stat().st_size / 2**20

        def incept_loader() -> None:
            checkpoint.load_weights(model, path)

        def keras_loader() -> None:
            model.load_weights(str(path))

        times: dict[str, list[float]] = {"incept": [], "keras": []}
        for _ in range(args.repeats):  # in turn, so that a change of speed hits both
            times["incept"].append(_timed_load(model, incept_loader, saved))
            times["keras"].append(_timed_load(model, keras_loader, saved))
    ours, theirs = statistics.median(times["incept"]), statistics.median(times["keras"])
    print(
        f"{args.spec}: a {size:.0f} MiB checkpoint, {len(saved)} arrays, median of {args.repeats}"
    )
    print(f"  incept checkpoint.load_weights: {ours:.3f} s")
    print(f"  keras model.load_weights:       {theirs:.3f} s (reference)")
    print(f"  ratio keras / incept: {theirs / ours:.2f}x (both restored every array exactly)")


if __name__ == "__main__":
    main()
