"""Passes over the IR, in order, each under the name that `--dump-ir` and verifier
messages use. The verifier runs after lowering and after each pass, checking every
fact established so far (docs/passes.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..ir.graph import Graph
from ..ir.verify import DECLARED, SHAPES, verify
from . import check_outputs, infer


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph], Graph]
    doc: str
    #: Facts (ir/verify.py FACTS) that hold from this pass on; the verifier then checks them.
    establishes: frozenset[str] = frozenset()


#: The IR straight from the spec, before any pass: a name for `--dump-ir`.
LOWER = "lower"

PIPELINE: list[Pass] = [
    Pass(
        "infer", infer.run, "shapes, parameter counts and MACs of every node", frozenset({SHAPES})
    ),
    Pass(
        "check_outputs",
        check_outputs.run,
        "rows' declared output sizes hold",
        frozenset({DECLARED}),
    ),
]


def stage_names() -> list[str]:
    """What `--dump-ir` accepts: the lowered IR, then each pass in order."""
    return [LOWER, *(p.name for p in PIPELINE)]


def run_passes(graph: Graph, after: Callable[[str, Graph], None] | None = None) -> Graph:
    """Run every pass, verifying the graph after lowering and after each one.
    `after(name, graph)` sees each verified stage (the debug hook of `--dump-ir`)."""
    facts: frozenset[str] = frozenset()
    graph = verify(graph, facts, after=LOWER)
    if after is not None:
        after(LOWER, graph)
    for step in PIPELINE:
        facts |= step.establishes
        graph = verify(step.run(graph), facts, after=step.name)
        if after is not None:
            after(step.name, graph)
    return graph
