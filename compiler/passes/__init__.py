"""Passes over the IR, in order, each under the name that `--dump-ir` and verifier
messages use. The verifier runs after lowering and after each pass, checking every
fact established so far (docs/passes.md).

After the analysis passes come the optional optimizations (`incept compile --opt`): they
change how a module computes, never what. Each runs in the order of OPTIMIZATIONS,
whatever order they were asked in. They hold for every backend; a choice one backend makes
when it emits code (torch's `separable_maxpool`) is that backend's option (its `OPTIONS`),
which `--opt` also names, never a mark on the graph."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from ..ir.graph import Graph
from ..ir.verify import DECLARED, SHAPES, verify
from . import check_outputs, fold_bn, fuse_siblings, infer


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph], Graph]
    doc: str
    #: Facts (ir/verify.py FACTS) that hold from this pass on; the verifier then checks them.
    establishes: frozenset[str] = frozenset()
    #: An optimization whose module only infers (it cannot train as the spec says).
    inference_only: bool = False


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
]


def stage_names(optimize: Collection[str] | None = None) -> list[str]:
    """What `--dump-ir` accepts: the lowered IR, each pass, then each optimization (only
    those in `optimize`, unless it is None)."""
    chosen = OPTIMIZATIONS if optimize is None else optimizations(optimize)
    return [LOWER, *(p.name for p in PIPELINE), *(p.name for p in chosen)]


def optimizations(names: Collection[str]) -> list[Pass]:
    """The named optimizations in pipeline order ("all": every one); ValueError names
    the first unknown one."""
    _check_names(names)
    wanted = {p.name for p in OPTIMIZATIONS} if "all" in names else set(names)
    return [p for p in OPTIMIZATIONS if p.name in wanted]


def _check_names(names: Collection[str], options: Sequence[str] = ()) -> None:
    known = ["all", *(p.name for p in OPTIMIZATIONS), *options]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown optimization {unknown[0]!r} (choose from {', '.join(known)})")


def parse_optimizations(text: str | None, options: Sequence[str] = ()) -> tuple[str, ...]:
    """An `--opt` value (comma-separated names, `all`, or `none`) as pass names in pipeline
    order, then the backend `options` it names (`all`: every one); ValueError names the
    first unknown one."""
    names = [n.strip() for n in (text or "").split(",") if n.strip() not in ("", "none")]
    _check_names(names, options)
    chosen = [o for o in options if "all" in names or o in names]
    return (*(p.name for p in optimizations([n for n in names if n not in options])), *chosen)


def pass_names(names: Collection[str]) -> tuple[str, ...]:
    """The optimization passes among `--opt` names (the rest are backend options)."""
    return tuple(p.name for p in OPTIMIZATIONS if p.name in names)


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
