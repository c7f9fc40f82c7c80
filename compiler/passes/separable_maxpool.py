"""Separable max pooling: each max pool is marked for a faster eval-mode CPU forward.

A k x k max is the max over k columns of the max over k rows, and max is exact, so the
values are the pool's to the bit. torch's CPU kernel for channels-first max pooling
(`max_pool2d_with_indices`) is many times slower than 2(k - 1) elementwise maxima of
shifted views (15.6 vs 0.5 ms for GoogLeNet's 3x3/1 pool at 8x192x28x28); in GoogLeNet
it is about half of a channels-first CPU forward pass. Stride-1 pools take the separable
maxima (also twice as fast as the channels-last kernel); strided ones (where strided
views are slow) run torch's channels-last kernel, converting a channels-first input
(4.7 vs 20.7 ms at 8x64x112x112). Training and other devices keep torch's pooling, whose
gradient sends a tie to one input (elementwise maxima would split it). Backends without
the problem (TensorFlow's pools) emit their usual pooling.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ops
from ..ir.graph import Graph, Node

NAME = "separable_maxpool"


def _mark(node: Node) -> Node:
    a = node.attrs
    if isinstance(a, ops.Pool) and a.kind == "max":
        return replace(node, attrs=replace(a, separable=True))
    return node


def run(graph: Graph) -> Graph:
    nodes = {name: _mark(node) for name, node in graph.nodes.items()}
    return replace(graph, nodes=nodes, optimized=(*graph.optimized, NAME))
