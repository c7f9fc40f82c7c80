"""Passes over the IR, in order. The verifier runs after lowering and after each."""

from __future__ import annotations

from collections.abc import Callable

from ..ir.graph import Graph
from ..ir.verify import verify
from . import check_outputs, infer

Pass = Callable[[Graph], Graph]

PIPELINE: list[tuple[str, Pass]] = [
    ("infer", infer.run),  # shapes, parameter counts and MACs of every node
    ("check_outputs", check_outputs.run),  # rows' declared output sizes hold
]


def run_passes(graph: Graph) -> Graph:
    verify(graph, inferred=False)
    for _name, step in PIPELINE:
        graph = verify(step(graph), inferred=True)
    return graph
