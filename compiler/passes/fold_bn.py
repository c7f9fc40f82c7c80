"""Batch-norm folding, for inference and export: each convolution followed by a batch
norm becomes one convolution with a bias.

In eval mode a batch norm is a fixed per-channel affine map, y = (x - mean) * g / sqrt(var
+ eps) + b, so it folds into the convolution before it: weights scaled by g / sqrt(var +
eps) per output channel, bias b - mean * g / sqrt(var + eps). The folded layer keeps the
norm's attributes (`Conv.folded`) so a backend can fold a trained model's checkpoint when
it loads it. The result trains without batch norm: it is for inference only.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ops
from ..ir.graph import Graph, Node

NAME = "fold_bn"


def _fold(node: Node) -> Node:
    a = node.attrs
    if not isinstance(a, ops.Conv) or a.norm is None or not a.norm.scale:
        return node  # a norm without a learned scale stays (checkpoints hold no gamma to fold)
    attrs = replace(a, norm=None, bias=True, folded=a.norm)
    return replace(node, attrs=attrs, params=ops.params_of(attrs))


def run(graph: Graph) -> Graph:
    nodes = {name: _fold(node) for name, node in graph.nodes.items()}
    return replace(graph, nodes=nodes, optimized=(*graph.optimized, NAME))
