"""Shared test fixtures: repository paths and the shipped GoogLeNet graph."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


def _threads_per_worker() -> int | None:
    """Under pytest-xdist (one worker per core), each worker's share of the cores. torch's
    OpenMP pool and TensorFlow's intra-op pool would otherwise each take every core in every
    worker, and their spinning threads wait on each other: on this 2-core machine a forward
    pass of inception-resnet-v1-cifar took 4.5 s with 2 threads beside other work, 0.3 s
    with 1. Subprocesses the tests start inherit the setting."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if not workers:
        return None
    share = max(1, (os.cpu_count() or 1) // workers)
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(name, str(share))  # read when torch / TensorFlow start
    return share


THREADS = _threads_per_worker()

try:
    # Loading TensorFlow before triton (which torchvision pulls in through torch._dynamo)
    # segfaults the process; the other order works. Keras tests load TF, so load this first.
    import torch._dynamo  # noqa: F401

    if THREADS:
        torch.set_num_threads(THREADS)
except ImportError:  # the core install has no torch
    pass

try:
    # Tests never write into the source tree: hypothesis keeps its files (example
    # database, constants cache) under the temporary folder, not in ./.hypothesis.
    from hypothesis.configuration import set_hypothesis_home_dir

    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "incept-hypothesis")
except ImportError:  # the core install has no hypothesis
    pass

#: Seconds each of the slowest test files takes (its tests summed; `pytest --durations=0`
#: on the 2-core dev machine, 2026-12-06; test_bench's with torch.compile's cache cold, as
#: on a fresh machine). With `--dist loadfile` a file is one unit of work on one worker;
#: handing the longest files out first (longest-processing-time-first) keeps both workers
#: busy to the end, where xdist's own order (most tests first) left a 146 s file of 10
#: tests for last. Stale numbers only cost balance, never a test.
SLOW_FILES = {
    "test_export.py": 148, "test_bench.py": 108, "test_faults.py": 101,
    "test_keras_backend.py": 90, "test_torch_export.py": 78, "test_optimize.py": 72,
    "test_pretrained.py": 71, "test_agreement.py": 55, "test_keras_replicas.py": 53,
    "test_variants.py": 33, "test_train_torch.py": 31, "test_sources_cli.py": 30,
    "test_train_keras.py": 30, "test_gpu_suite.py": 27, "test_optimize_keras.py": 26,
    "test_backbone.py": 22, "test_bench_family.py": 21, "test_fuzz.py": 21,
    "test_diagram.py": 20, "test_keras_backbone.py": 18, "test_family.py": 18,
    "test_keras_jax.py": 17, "test_finetune.py": 16, "test_checkpoints.py": 15,
    "test_ema.py": 30, "test_optim.py": 12,
}  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the order below
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first, longest first; the rest after them as collected. A file's
    own tests keep their order (the sort is stable)."""
    items.sort(key=lambda item: -SLOW_FILES.get(item.path.name, 0))


ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOOGLENET = SPECS / "googlenet.yaml"


@pytest.fixture(scope="session")
def googlenet():
    """specs/googlenet.yaml built once per session (graphs are immutable)."""
    from incept.compiler.pipeline import build_graph

    return build_graph(GOOGLENET)
