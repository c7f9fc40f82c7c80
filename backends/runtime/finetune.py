"""Fine-tuning, framework-free and a leaf module (no checkpoints, no frameworks): which
architecture a new run may start from (`--init-from`, checked in checkpoints.py), which
tensors it replaces (the classifiers, when the class count differs) and which rows
`--freeze` keeps fixed. The sessions apply them (torch/finetune.py, keras/finetune.py).
"""

from __future__ import annotations

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph

from .errors import Code, InputError

#: `--freeze all-but-head`: every main-path row but the final classifier.
ALL_BUT_HEAD = "all-but-head"


def same_body(a: Graph, b: Graph) -> bool:
    """Whether two graphs compute the same up to their classifiers' outputs (the class
    count): the same nodes, attributes, inputs and shapes, the classifiers' inputs alike."""
    heads = classifier_nodes(a)
    if a.nodes.keys() != b.nodes.keys() or heads != classifier_nodes(b):
        return False
    for name, node in a.nodes.items():
        other = b.nodes[name]
        if name in heads:
            x, y = node.attrs, other.attrs
            assert isinstance(x, ops.Linear) and isinstance(y, ops.Linear)
            same = (x.in_features, x.bias, x.act) == (y.in_features, y.bias, y.act)
        else:
            same = (node.attrs, node.inputs, node.shape) == (other.attrs, other.inputs, other.shape)
        if not same:
            return False
    return True


def classifier_nodes(graph: Graph) -> tuple[str, ...]:
    """The last linear layer of the main path and of each aux head: what a new class count
    replaces."""
    nodes = graph.nodes
    out = []
    for row in (graph.rows[-1], *graph.aux_heads):
        linear = [n for n in row.nodes if isinstance(nodes[n].attrs, ops.Linear)]
        if linear:
            out.append(linear[-1])
    return tuple(out)


def frozen_rows(value: str | None, graph: Graph, where: str) -> tuple[str, ...]:
    """`--freeze`'s rows: a comma list of the spec's main-path row names, or all-but-head."""
    if not value:
        return ()
    names = [r.name for r in graph.rows]
    if value.strip() == ALL_BUT_HEAD:
        head = {r.name for r in graph.rows if set(r.nodes) & set(classifier_nodes(graph))}
        return tuple(n for n in names if n not in head)
    rows = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
    for row in rows:
        if row not in names:
            raise InputError(
                Code.FLAG,
                "--freeze",
                f"{where} has no row {row!r} (rows: {', '.join(names)}; or {ALL_BUT_HEAD})",
            )
    return rows


def frozen_nodes(graph: Graph, rows: tuple[str, ...]) -> set[str]:
    return {n for r in graph.rows if r.name in rows for n in r.nodes}
