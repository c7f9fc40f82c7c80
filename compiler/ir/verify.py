"""The IR verifier, run after lowering and after every pass.

It checks what every later stage relies on and names the failing node. A
failure here is a compiler bug, not a spec problem.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import Code, SpecError
from . import ops
from .graph import Graph, Node


def _bug(node: Node, message: str) -> SpecError:
    return SpecError(Code.INTERNAL, f"IR verifier: node {node.name!r}: {message}", node.loc)


def verify(graph: Graph, *, inferred: bool) -> Graph:
    seen: set[str] = set()
    for index, (name, node) in enumerate(graph.nodes.items()):
        if name != node.name:
            raise _bug(node, f"stored under the name {name!r}")
        if (index == 0) != isinstance(node.attrs, ops.Input):
            raise _bug(node, "the input node must come first, and only once")
        for src in node.inputs:
            if src not in seen:
                raise _bug(node, f"reads {src!r}, which is not defined before it")
        if isinstance(node.attrs, ops.Concat) != (len(node.inputs) > 1):
            raise _bug(node, f"{node.op} with {len(node.inputs)} inputs")
        if inferred:
            _check_inferred(graph, node)
        seen.add(name)
    owned: set[str] = set()
    for row in (*graph.rows, *graph.aux_heads):
        for n in row.nodes:
            if n not in graph.nodes or graph.nodes[n].row != row.name:
                raise SpecError(
                    Code.INTERNAL, f"IR verifier: row {row.name!r} lists {n!r}", row.loc
                )
        if row.output not in row.nodes or row.input not in graph.nodes:
            raise SpecError(Code.INTERNAL, f"IR verifier: row {row.name!r} is not wired", row.loc)
        owned.update(row.nodes)
    stray = set(graph.nodes) - owned - {graph.input.name}
    if stray:
        raise _bug(graph.nodes[min(stray)], "belongs to no row")
    return graph


def _check_inferred(graph: Graph, node: Node) -> None:
    """Re-derive shape, parameters and MACs from the inputs and compare."""
    if node.shape is None:
        raise _bug(node, "has no inferred shape")
    shapes = [graph.nodes[i].shape for i in node.inputs]
    if any(s is None for s in shapes):
        raise _bug(node, "an input has no shape")
    rebound = ops.bind_inputs(replace(node.attrs), shapes)  # type: ignore[arg-type]
    if rebound != node.attrs:
        raise _bug(node, f"attributes {node.attrs} do not match its inputs {shapes}")
    shape = node.attrs.infer(shapes)  # type: ignore[arg-type]
    if shape != node.shape:
        raise _bug(node, f"shape {node.shape} but its op gives {shape}")
    if node.params != ops.params_of(node.attrs) or node.macs != ops.macs_of(node.attrs, shape):
        raise _bug(node, "parameter or MAC count disagrees with its op")
