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

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOOGLENET = SPECS / "googlenet.yaml"


@pytest.fixture(scope="session")
def googlenet():
    """specs/googlenet.yaml built once per session (graphs are immutable)."""
    from incept.compiler.pipeline import build_graph

    return build_graph(GOOGLENET)
