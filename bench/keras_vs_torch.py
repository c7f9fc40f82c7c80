"""Forward-pass time of the generated Keras GoogLeNet (TensorFlow backend, CPU) beside the
generated torch module (CPU), in one process on one machine.

Both models get the same random weights (torch -> Keras transfer) and their logits
are compared first. Each timing is the median of --runs forward passes of a --batch of
224x224 images after --warmup passes; aux heads are off (inference).

    python bench/keras_vs_torch.py [--spec specs/googlenet.yaml] [--batch 8] [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the loaders the tests use

# first: kerasagree loads triton, which segfaults when loaded after TensorFlow
from kerasagree import keras_module, randomize, rel  # noqa: E402

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from genload import torch_module  # noqa: E402

from incept.backends.transfer import torch_to_keras  # noqa: E402
from incept.compiler.pipeline import build_graph  # noqa: E402


def median_seconds(step, warmup: int, runs: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/googlenet.yaml")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    graph = build_graph(ROOT / args.spec)
    with tempfile.TemporaryDirectory() as tmp:
        reference = torch_module(graph, Path(tmp), "bench_torch").build(aux_logits=False).eval()
        model = keras_module(graph, Path(tmp), "bench_keras").build(aux_logits=False)
    randomize(reference)  # O(1) activations: the spec's tiny init would time denormals
    torch_to_keras(graph, reference, model)

    x = np.random.default_rng(0).standard_normal((args.batch, *graph.input.shape), np.float32)
    x_torch, x_keras = torch.from_numpy(x), np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    with torch.inference_mode():
        expected = reference(x_torch).numpy()
    error = rel(keras.ops.convert_to_numpy(model.predict_on_batch(x_keras)), expected)

    def torch_step() -> None:
        with torch.inference_mode():
            reference(x_torch)

    timings = {
        "torch eager (inference_mode)": median_seconds(torch_step, args.warmup, args.runs),
        "keras predict_on_batch (tf.function)": median_seconds(
            lambda: model.predict_on_batch(x_keras), args.warmup, args.runs
        ),
        "keras model(x, training=False) (eager)": median_seconds(
            lambda: model(x_keras, training=False), args.warmup, args.runs
        ),
    }
    base = timings["torch eager (inference_mode)"]
    print(f"spec {args.spec}, batch {args.batch} x {graph.input.shape}, aux heads off")
    print(f"keras {keras.__version__} ({keras.backend.backend()}), torch {torch.__version__}")
    print(f"threads: torch {torch.get_num_threads()}, cpus {os.cpu_count()}")
    print(f"logits ||keras - torch|| / ||torch|| = {error:.2e}")
    print(f"median of {args.runs} runs after {args.warmup} warm-up:")
    for name, seconds in timings.items():
        print(f"  {name:40s} {seconds * 1000:8.1f} ms  {seconds / base:5.2f} x torch")


if __name__ == "__main__":
    main()
