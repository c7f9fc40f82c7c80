"""spec file -> validated spec -> IR -> passes: the front half of every command."""

from __future__ import annotations

from pathlib import Path

from .ir.graph import Graph
from .ir.lower import lower
from .passes import run_passes
from .spec import load_spec


def build_graph(path: str | Path) -> Graph:
    """Load, validate, lower and infer; raise SpecError on the first problem."""
    spec, source = load_spec(path)
    return run_passes(lower(spec, source))
