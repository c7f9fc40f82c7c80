"""Shared test fixtures: repository paths and the shipped GoogLeNet graph."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOOGLENET = SPECS / "googlenet.yaml"


@pytest.fixture(scope="session")
def googlenet():
    """specs/googlenet.yaml built once per session (graphs are immutable)."""
    from incept.compiler.pipeline import build_graph

    return build_graph(GOOGLENET)
