"""The IR as readable, stable text: what `incept check|compile --dump-ir STAGE` prints.

One line per node, grouped by row, in graph order:

    row inception_3a = inception(ch1x1=64, ...) <- pool2_output
      inception_3a_1x1: conv(out=64, kernel=1x1, ...) <- pool2 -> 64x28x28 params=12352 macs=9633792

Shapes are C x H x W (or F), `?` before inference. Attributes appear in their dataclass
order, floats in repr form, so two dumps of one graph are byte-identical and a diff of
two stages shows exactly what a pass changed. Locations are left out on purpose: moving
a comment in the spec does not change the dump. A conv, sepconv or bn shows `folded=`
only after fold_bn; `groups=` and a batch norm's `scale=` only when not 1 / true.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from .graph import Graph, Node, Row


def _value(value: Any) -> str:
    if isinstance(value, tuple) and all(type(v) is int for v in value):
        return "x".join(map(str, value))  # a kernel 3x3, a shape 3x224x224
    if is_dataclass(value):
        inner = ", ".join(f"{f.name}={_value(getattr(value, f.name))}" for f in _shown(value))
        return f"{type(value).__name__.lower()}({inner})"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def _shape(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else "x".join(map(str, shape))


#: Attributes shown only when they differ from their default (an optimization or a newer
#: language feature set them): dumps of graphs that do not use them stay as they were.
_OPTIONAL = ("folded", "groups", "scale")


def _shown(value: Any) -> list[Any]:
    return [
        f for f in fields(value) if f.name not in _OPTIONAL or getattr(value, f.name) != f.default
    ]


def node_line(node: Node) -> str:
    attrs = ", ".join(f"{f.name}={_value(getattr(node.attrs, f.name))}" for f in _shown(node.attrs))
    where = f" [{node.branch}]" if node.branch else ""
    line = f"{node.name}{where}: {node.op}({attrs}) <- {', '.join(node.inputs) or '-'}"
    line += f" -> {_shape(node.shape)}"
    if node.shape is not None:
        line += f" params={node.params} macs={node.macs}"
    return line


def _row_line(row: Row) -> str:
    kind = "aux" if row.tap is not None else "row"
    args = ", ".join(f"{k}={v}" for k, v in row.args.items())
    call = f"{row.op}({args})" if row.template else row.op
    extra = f" declared={_shape(row.declared)}" if row.declared else ""
    if row.tap is not None:
        extra += f" from={row.tap} loss_weight={row.loss_weight!r}"
    return f"{kind} {row.name} = {call} <- {row.input}{extra}"


def dump(graph: Graph, stage: str) -> str:
    """The whole graph after `stage` (a pass name, or "lower"), ending in a newline."""
    lines = [
        f"# IR of {graph.name} after {stage}",
        f"graph {graph.name} class={graph.class_name} num_classes={graph.num_classes} "
        f"aux_logits={_value(graph.aux_logits)} init={_value(graph.init)}",
    ]
    for t in graph.templates.values():
        lines.append(
            f"template {t.name}({', '.join(t.params)}) branches={','.join(t.branches)} "
            f"layout={t.layout}"
        )
    lines.append(node_line(graph.input))
    for row in (*graph.rows, *graph.aux_heads):
        lines.append(_row_line(row))
        lines.extend("  " + node_line(graph.nodes[n]) for n in row.nodes)
    if graph.nodes[graph.rows[-1].output].shape is not None:
        lines.append(
            f"total params={graph.params()} with_aux={graph.params(aux=True)} "
            f"macs={graph.macs()} with_aux={graph.macs(aux=True)}"
        )
    return "\n".join(lines) + "\n"
