"""Shared test fixtures: repository paths and the shipped GoogLeNet graph."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

try:
    # Loading TensorFlow before triton (which torchvision pulls in through torch._dynamo)
    # segfaults the process; the other order works. Keras tests load TF, so load this first.
    import torch._dynamo  # noqa: F401
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
