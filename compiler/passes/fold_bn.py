"""Batch-norm folding, for inference and export: each convolution followed by a batch
norm becomes one convolution with a bias.

In eval mode a batch norm is a fixed per-channel affine map, y = (x - mean) * g / sqrt(var
+ eps) + b, so it folds into the convolution before it: weights scaled by g / sqrt(var +
eps) per output channel, bias b - mean * g / sqrt(var + eps); a norm that learns no scale
(keras.applications' `scale=False`) has g = 1. The folded layer keeps the
norm's attributes (`Conv.folded`) so a backend can fold a trained model's checkpoint when
it loads it. The result trains without batch norm: it is for inference only.

A `bn` layer of its own that reads a separable convolution (Xception) folds the same way
into that convolution's pointwise 1x1 (`SepConv.folded`), when nothing else reads the
convolution (another reader needs its unnormalized output) and both are in one row
instance or both are rows of their own (a block's class is shared by all its rows, so a
fold must not depend on the row after a block). The `bn` node stays, as an identity
(`Norm.folded`): it keeps the row's structure and its name for checkpoint mapping.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ops
from ..ir.graph import Graph, Node, Row

NAME = "fold_bn"


def _fold(node: Node) -> Node:
    a = node.attrs
    if not isinstance(a, ops.Conv) or a.norm is None:
        return node
    attrs = replace(a, norm=None, bias=True, folded=a.norm)
    return replace(node, attrs=attrs, params=ops.params_of(attrs))


def _instances(graph: Graph) -> dict[str, tuple[Row, int]]:
    """Each node of a row -> (its row, the index of its instance in a repeated row)."""
    out: dict[str, tuple[Row, int]] = {}
    for row in (*graph.rows, *graph.aux_heads):
        for index in range(row.repeat):
            out.update({name: (row, index) for name in row.instance(index)})
    return out


def _foldable(node: Node, graph: Graph, readers: dict[str, list[Node]]) -> bool:
    """A `bn` right after a plain separable convolution (no norm or activation of its own)
    that nothing else reads."""
    if not isinstance(node.attrs, ops.Norm):
        return False
    (source,) = node.inputs
    conv = graph.nodes[source].attrs
    plain = isinstance(conv, ops.SepConv) and conv.norm is None and conv.act == "none"
    return plain and len(readers[source]) == 1


def _together(first: str, second: str, where: dict[str, tuple[Row, int]]) -> bool:
    """Both nodes in one instance of one row, or each a row of its own (no template)."""
    (row_a, index_a), (row_b, index_b) = where[first], where[second]
    if row_a.template is None and row_b.template is None:
        return True
    return row_a.name == row_b.name and index_a == index_b


def _sepconv_norms(graph: Graph) -> list[Node]:
    """The `bn` nodes that fold into the separable convolution they read. Every row of a
    template folds the same layers: from outside an instance only its output is read, and
    a convolution that its `bn` reads inside the instance is not that output."""
    readers = graph.readers()
    where = _instances(graph)
    return [
        n
        for n in graph.nodes.values()
        if _foldable(n, graph, readers) and _together(n.inputs[0], n.name, where)
    ]


def _fold_norms(graph: Graph, nodes: dict[str, Node]) -> None:
    """Fold each chosen `bn` into its separable convolution, in `nodes`."""
    for norm in _sepconv_norms(graph):
        assert isinstance(norm.attrs, ops.Norm)
        conv = nodes[norm.inputs[0]]
        assert isinstance(conv.attrs, ops.SepConv)
        conv_attrs = replace(conv.attrs, bias=True, folded=norm.attrs.norm)
        nodes[conv.name] = replace(conv, attrs=conv_attrs, params=ops.params_of(conv_attrs))
        norm_attrs = replace(norm.attrs, folded=True)
        nodes[norm.name] = replace(norm, attrs=norm_attrs, params=ops.params_of(norm_attrs))


def run(graph: Graph) -> Graph:
    nodes = {name: _fold(node) for name, node in graph.nodes.items()}
    _fold_norms(graph, nodes)
    return replace(graph, nodes=nodes, optimized=(*graph.optimized, NAME))
