"""Shape inference: fill every node's output shape, parameter count and MACs."""

from __future__ import annotations

from dataclasses import replace

from .. import limits
from ..errors import Code, SpecError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..ir.verify import verify_node


def _where(node: Node) -> str:
    if node.branch is not None:
        return f"{node.row}: layer {node.layer!r} in branch {node.branch!r}"
    return node.row


def run(graph: Graph) -> Graph:
    done: dict[str, Node] = {}
    for name, node in graph.nodes.items():
        shapes = [done[i].shape for i in node.inputs]
        try:
            attrs = ops.bind_inputs(node.attrs, shapes)  # type: ignore[arg-type]
            shape = attrs.infer(shapes)  # type: ignore[arg-type]
        except ops.InferError as exc:
            raise SpecError(Code(exc.code), f"{_where(node)}: {exc.message}", node.loc) from None
        if shape[0] > limits.MAX_FEATURES:  # a concat or flatten adds up what each row allows
            raise SpecError(
                Code.LIMIT,
                f"{_where(node)}: {shape[0]:,} channels or features, "
                f"more than {limits.MAX_FEATURES:,}",
                node.loc,
            )
        done[name] = replace(
            node,
            attrs=attrs,
            shape=shape,
            params=ops.params_of(attrs),
            macs=ops.macs_of(attrs, shape),
        )
        verify_node(done, done[name], after="infer")  # a wrong rule stops at its first node
    return replace(graph, nodes=done)
