"""Shape inference: fill every node's output shape, parameter count and MACs."""

from __future__ import annotations

from dataclasses import replace

from .. import limits
from ..errors import Code, SpecError
from ..ir import ops
from ..ir.graph import Graph, Node, Row
from ..ir.lower import IN_CHANNELS
from ..ir.shapes import size
from ..ir.verify import verify_node


def _where(node: Node) -> str:
    if node.branch is not None:
        return f"{node.row}: layer {node.layer!r} in branch {node.branch!r}"
    if node.part is not None:
        return f"{node.row}: layer {node.layer!r} in {node.part!r}"
    return node.row


def _in_channels(node: Node, done: dict[str, Node], inputs: dict[str, str]) -> ops.Op:
    """`$in_channels`: the channels entering the node's row."""
    attrs = node.attrs
    if node.out_ref != IN_CHANNELS or not isinstance(attrs, ops.Conv | ops.SepConv):
        return attrs
    shape = done[inputs[node.row]].shape
    assert shape is not None
    if len(shape) != 3:
        raise ops.InferError("rank", f"$in_channels of flat features {list(shape)}")
    return replace(attrs, out=shape[0])


def _repeat_keeps_shape(graph: Graph, done: dict[str, Node], row: Row) -> None:
    """Instances of a repeated row are one module run N times: each keeps the shape."""
    first = row.instance(0)[-1]
    before, after = done[row.input].shape, done[first].shape
    if before != after:
        raise SpecError(
            Code.REPEAT,
            f"{row.name}: a repeated block must keep its input's shape, but it turns "
            f"{size(before)} into {size(after)}",
            row.loc,
        )


def run(graph: Graph) -> Graph:
    done: dict[str, Node] = {}
    rows = [*graph.rows, *graph.aux_heads]
    inputs = {r.name: r.input for r in rows}
    repeated = {r.instance(0)[-1]: r for r in rows if r.repeat > 1}
    for name, node in graph.nodes.items():
        shapes = [done[i].shape for i in node.inputs]
        try:
            attrs = _in_channels(node, done, inputs)
            attrs = ops.bind_inputs(attrs, shapes)  # type: ignore[arg-type]
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
        if name in repeated:
            _repeat_keeps_shape(graph, done, repeated[name])
    return replace(graph, nodes=done)
