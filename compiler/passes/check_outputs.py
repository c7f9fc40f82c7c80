"""Check each row's declared `output` (Table 1's output size) against inference."""

from __future__ import annotations

from ..errors import Code, SpecError
from ..ir import shapes
from ..ir.graph import Graph


def run(graph: Graph) -> Graph:
    for row in (*graph.rows, *graph.aux_heads):
        declared, out = row.declared, graph.nodes[row.output]
        shape = out.shape or ()
        if declared is None or shape == declared:
            continue
        detail = f"inferred {shapes.size(shape)}" if len(shape) == 3 else f"inferred {list(shape)}"
        if out.op == "concat" and len(shape) == 3 and shape[1:] == declared[1:]:
            parts = " + ".join(str(graph.nodes[i].shape[0]) for i in out.inputs)  # type: ignore[index]
            detail = f"the branches give {parts} = {shape[0]} channels"
        raise SpecError(
            Code.OUTPUT,
            f"{row.name}: declared output {shapes.size(declared)} but {detail}",
            row.loc,
        )
    return graph
