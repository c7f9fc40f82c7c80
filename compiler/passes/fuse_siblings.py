"""Sibling fusion: the convolutions of a block that read its input with the same kernel
become one convolution whose output channels are sliced back apart.

GoogLeNet's 1x1, 3x3 reduce and 5x5 reduce all read the block input: one convolution
with ch1x1 + ch3x3red + ch5x5red filters computes the three in one pass over that input
(one larger matrix product instead of three). Batch norm is per channel, so the fused
layer's norm over the concatenated channels equals the three norms, in training too.

Each sibling keeps its node name, branch and layer as a `Slice` of the fused node, so
everything downstream reads the same names; the fused node's parameters and MACs are
the siblings' sums. Every row of a template, and every instance of a repeated row, fuses
the same layers (backends emit one class per template), or none of them does.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ops
from ..ir.graph import Graph, Node, Row

NAME = "fuse_siblings"


def _key(conv: ops.Conv) -> tuple[object, ...]:
    """What siblings must share to become one convolution (all but the filter count)."""
    return (
        conv.kernel,
        conv.stride,
        conv.padding,
        conv.bias,
        conv.norm,
        conv.act,
        conv.folded,
        conv.groups,
    )


def _instance_input(graph: Graph, row: Row, index: int) -> str:
    """The node that feeds one instance of a row: the row's input, or the output of the
    instance before it (the one input its nodes read from outside the instance)."""
    if index == 0:
        return row.input
    inside = set(row.instance(index))
    outside = {i for n in inside for i in graph.nodes[n].inputs if i not in inside}
    (feed,) = outside  # instances chain: nothing else reaches into one
    return feed


def _groups(graph: Graph, row: Row) -> list[list[list[Node]]]:
    """Per instance of the row (one unless it repeats), the convolutions of the branches
    reading the instance's input, grouped by `_key`: groups of two or more. Shortcut
    layers are left alone."""
    instances = []
    for index in range(row.repeat):
        feed = _instance_input(graph, row, index)
        by_key: dict[tuple[object, ...], list[Node]] = {}
        for name in row.instance(index):
            node = graph.nodes[name]
            if isinstance(node.attrs, ops.Conv) and node.inputs == (feed,) and not node.part:
                by_key.setdefault(_key(node.attrs), []).append(node)
        instances.append([group for group in by_key.values() if len(group) > 1])
    return instances


def _out(node: Node) -> int:
    assert isinstance(node.attrs, ops.Conv)
    return node.attrs.out


Layout = tuple[tuple[str | None, ...], ...]  # the layers of each group of one instance


def _layouts(instances: list[list[list[Node]]]) -> set[Layout]:
    return {tuple(tuple(n.layer for n in group) for group in groups) for groups in instances}


def _fused_name(graph: Graph, member: Node, conv: ops.Conv, taken: set[str]) -> tuple[str, str]:
    """(node name, layer name): `fused_1x1`, numbered if the instance already uses it; the
    node is named like its members (`<row>_<layer>`, `<row>_<i>_<layer>` in a repeat)."""
    assert member.layer and member.name.endswith(member.layer)
    prefix = member.name[: -len(member.layer)]
    kh, kw = conv.kernel
    base, n = f"fused_{kh}x{kw}", 1
    layer = base
    while f"{prefix}{layer}" in graph.nodes or f"{prefix}{layer}" in taken:
        n += 1
        layer = f"{base}_{n}"
    return f"{prefix}{layer}", layer


def _fuse_row(graph: Graph, row: Row, groups: list[list[Node]], nodes: dict[str, Node]) -> Row:
    """Replace each group by a fused node (placed where its first member was) and slices."""
    first: dict[str, Node] = {}
    for group in groups:
        a = group[0].attrs
        assert isinstance(a, ops.Conv)
        name, layer = _fused_name(graph, group[0], a, set(nodes))
        out = sum(_out(n) for n in group)
        shape = (out, *group[0].shape[1:]) if group[0].shape else None
        fused = replace(
            group[0],
            name=name,
            attrs=replace(a, out=out),
            branch=None,
            layer=layer,
            out_ref=None,
            shape=shape,
            params=sum(n.params for n in group),
            macs=sum(n.macs for n in group),
        )
        first[group[0].name] = fused
        start = 0
        for member in group:
            size = _out(member)
            nodes[member.name] = replace(
                member, attrs=ops.Slice(start, size), inputs=(name,), params=0, macs=0
            )
            start += size
    order: list[str] = []
    for n in row.nodes:
        if n in first:
            order.append(first[n].name)
        order.append(n)
    nodes.update({f.name: f for f in first.values()})
    return replace(row, nodes=tuple(order))


def run(graph: Graph) -> Graph:
    nodes = dict(graph.nodes)
    by_template: dict[str, list[Row]] = {}
    for row in (*graph.rows, *graph.aux_heads):
        if row.template:
            by_template.setdefault(row.template, []).append(row)
    fused: dict[str, Row] = {}
    for rows in by_template.values():
        groups = [_groups(graph, r) for r in rows]
        layouts = set().union(*map(_layouts, groups))
        if len(layouts) != 1 or layouts == {()}:
            continue  # nothing to fuse, or instances that would fuse differently: keep the template
        for row, instances in zip(rows, groups, strict=True):
            row_groups = [group for groups_ in instances for group in groups_]
            fused[row.name] = _fuse_row(graph, row, row_groups, nodes)
    # The graph's order, each fused node right before the first of its slices.
    before = {
        r.nodes[i + 1]: n
        for r in fused.values()
        for i, n in enumerate(r.nodes[:-1])
        if n not in graph.nodes
    }
    order = [m for n in graph.nodes for m in ((before[n], n) if n in before else (n,))]
    return replace(
        graph,
        nodes={n: nodes[n] for n in order},
        rows=tuple(fused.get(r.name, r) for r in graph.rows),
        aux_heads=tuple(fused.get(r.name, r) for r in graph.aux_heads),
        optimized=(*graph.optimized, NAME),
    )
