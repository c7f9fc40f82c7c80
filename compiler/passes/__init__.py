"""Passes over the IR, in order, each under the name that `--dump-ir` and verifier
messages use. The verifier runs after lowering and after each pass, checking every
fact established so far (docs/passes.md).

After the analysis passes come the optional optimizations (`incept compile --opt`): they
change how a module computes, never what. Each runs in the order of OPTIMIZATIONS,
whatever order they were asked in."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from ..ir.graph import Graph
from ..ir.verify import DECLARED, SHAPES, verify
from . import check_outputs, fold_bn, fuse_siblings, infer, separable_maxpool


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph], Graph]
    doc: str
    #: Facts (ir/verify.py FACTS) that hold from this pass on; the verifier then checks them.
    establishes: frozenset[str] = frozenset()
    #: An optimization whose module only infers (it cannot train as the spec says).
    inference_only: bool = False
    #: Whether an exported (ONNX) graph gains from it: not a trick for torch's eager kernels.
    exported: bool = True


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


OPTIMIZATIONS: list[Pass] = [
    Pass(
        fuse_siblings.NAME,
        fuse_siblings.run,
        "a block's convolutions that read its input with one kernel become one, sliced",
    ),
    Pass(
        fold_bn.NAME,
        fold_bn.run,
        "batch norms fold into the convolutions before them (eval mode: inference, export)",
        inference_only=True,
    ),
    Pass(
        separable_maxpool.NAME,
        separable_maxpool.run,
        "max pools take row maxima, then column maxima (eval mode, CPU: torch's kernel is slow)",
        exported=False,
    ),
]


def stage_names(optimize: Collection[str] | None = None) -> list[str]:
    """What `--dump-ir` accepts: the lowered IR, each pass, then each optimization (only
    those in `optimize`, unless it is None)."""
    chosen = OPTIMIZATIONS if optimize is None else optimizations(optimize)
    return [LOWER, *(p.name for p in PIPELINE), *(p.name for p in chosen)]


def optimizations(names: Collection[str]) -> list[Pass]:
    """The named optimizations in pipeline order ("all": every one); ValueError names
    the first unknown one."""
    known = {p.name for p in OPTIMIZATIONS}
    wanted = known if "all" in names else set(names)
    unknown = sorted(wanted - known)
    if unknown:
        choices = ", ".join(["all", *(p.name for p in OPTIMIZATIONS)])
        raise ValueError(f"unknown optimization {unknown[0]!r} (choose from {choices})")
    return [p for p in OPTIMIZATIONS if p.name in wanted]


def parse_optimizations(text: str | None) -> tuple[str, ...]:
    """An `--opt` value (comma-separated names, `all`, or `none`) as pass names in pipeline
    order; ValueError names the first unknown one."""
    names = [n.strip() for n in (text or "").split(",") if n.strip() not in ("", "none")]
    return tuple(p.name for p in optimizations(names))


def optimize_graph(graph: Graph, names: Collection[str]) -> Graph:
    """Apply the named optimizations to a graph that has been through PIPELINE (as
    run_passes would after it), verifying after each."""
    facts = frozenset(f for p in PIPELINE for f in p.establishes)
    for step in optimizations(names):
        graph = verify(step.run(graph), facts, after=step.name)
    return graph


def run_passes(
    graph: Graph,
    after: Callable[[str, Graph], None] | None = None,
    optimize: Collection[str] = (),
) -> Graph:
    """Run every pass, then the `optimize` ones, verifying the graph after lowering and
    after each pass. `after(name, graph)` sees each verified stage (`--dump-ir`)."""
    chosen = optimizations(optimize)  # a bad name fails before any work
    facts: frozenset[str] = frozenset()
    graph = verify(graph, facts, after=LOWER)
    if after is not None:
        after(LOWER, graph)
    for step in (*PIPELINE, *chosen):
        facts |= step.establishes
        graph = verify(step.run(graph), facts, after=step.name)
        if after is not None:
            after(step.name, graph)
    return graph
