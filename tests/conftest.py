"""Shared test fixtures: repository paths and the shipped GoogLeNet graph."""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    # Loading TensorFlow before triton (which torchvision pulls in through torch._dynamo)
    # segfaults the process; the other order works. Keras tests load TF, so load this first.
    import torch._dynamo  # noqa: F401
except ImportError:  # the core install has no torch
    pass

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOOGLENET = SPECS / "googlenet.yaml"


@pytest.fixture(scope="session")
def googlenet():
    """specs/googlenet.yaml built once per session (graphs are immutable)."""
    from incept.compiler.pipeline import build_graph

    return build_graph(GOOGLENET)
