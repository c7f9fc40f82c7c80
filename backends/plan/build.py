"""IR graph -> ModulePlan: rows grouped by template, channels kept symbolic, comments chosen."""

from __future__ import annotations

from collections.abc import Sequence

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node, Row
from incept.compiler.ir.lower import IN_CHANNELS as IN_CHANNELS_REF
from incept.compiler.ir.shapes import Dim

from .model import (
    IN_CHANNELS,
    BlockPlan,
    Chan,
    Column,
    ConvUnit,
    Layout,
    ModulePlan,
    Param,
    RowPlan,
    unit_key,
)


def build_plan(graph: Graph) -> ModulePlan:
    plan = ModulePlan(graph, units={}, blocks=[], rows=[], aux=[])
    by_template: dict[str, list[Row]] = {}
    for row in (*graph.rows, *graph.aux_heads):
        if row.template:
            by_template.setdefault(row.template, []).append(row)
    blocks = {t: _block(plan, t, rows) for t, rows in by_template.items()}
    plan.blocks = list(blocks.values())
    taps: dict[str, list[Row]] = {}
    for head in graph.aux_heads:
        taps.setdefault(head.tap or "", []).append(head)
    plan.rows = [_row(plan, blocks, r, tuple(taps.get(r.name, ()))) for r in graph.rows]
    plan.aux = [_row(plan, blocks, r, ()) for r in graph.aux_heads]
    return plan


def _add_unit(plan: ModulePlan, node: Node) -> None:
    if isinstance(node.attrs, ops.Conv):
        key = unit_key(node.attrs)
        plan.units.setdefault(key, ConvUnit(*key, node.attrs.norm or node.attrs.folded))


def _global(plan: ModulePlan, name: str) -> None:
    if name not in plan.globals:
        plan.globals.append(name)


def _block(plan: ModulePlan, template: str, rows: list[Row]) -> BlockPlan:
    """One block for all rows of a template: channel counts symbolic where a parameter set them."""
    g = plan.graph
    tpl = g.templates[template]
    insts = [[g.nodes[n] for n in r.instance(0)] for r in rows]  # a repeat: its first
    params = [Param(p, "arg") for p in tpl.params]
    index = {n.name: i for i, n in enumerate(insts[0])}
    chans: list[Chan | None] = []
    columns: list[Column] = []
    slices = _slices(insts[0])
    for i, node in enumerate(insts[0]):
        ins = [chans[index[n]] if n in index else Chan((IN_CHANNELS,)) for n in node.inputs]
        out = _out_chan(node, ins, slices.get(node.name, ()))
        if node.out_ref and node.out_ref not in (*tpl.params, IN_CHANNELS_REF):
            _global(plan, node.out_ref)
            if all(p.name != node.out_ref for p in params):
                params.append(Param(node.out_ref, "global"))
        chans.append(out)
        column_nodes = tuple(inst[i] for inst in insts)
        shape = comment_shape(column_nodes, out, global_=node.out_ref in plan.globals)
        columns.append(Column(i, column_nodes, ins[0], out, shape))
        _add_unit(plan, node)
    layout: Layout = "flat" if tpl.layout == "flat" else "branches"
    if layout == "branches" and len(tpl.branches) == 1 and not (tpl.after or tpl.residual):
        layout = "sequence"
    return BlockPlan(tpl, layout, tuple(rows), tuple(columns), params)


def _slices(nodes: Sequence[Node]) -> dict[str, list[Node]]:
    """A fused convolution's name -> the slices that read it (fuse_siblings), in order."""
    out: dict[str, list[Node]] = {}
    for node in nodes:
        if isinstance(node.attrs, ops.Slice):
            out.setdefault(node.inputs[0], []).append(node)
    return out


def _out_chan(node: Node, ins: Sequence[Chan | None], slices: Sequence[Node] = ()) -> Chan | None:
    """The node's channel count as code spells it; a fused convolution's is the sum of its
    slices' (`ch1x1 + ch3x3red + ch5x5red`)."""
    a = node.attrs
    if slices:
        terms = [t for s in slices for t in (_out_chan(s, ins) or Chan(())).terms]
        return Chan(tuple(terms))
    if isinstance(a, ops.Slice):
        return Chan((node.out_ref,)) if node.out_ref else Chan((a.size,))
    if node.out_ref == IN_CHANNELS_REF:
        return Chan((IN_CHANNELS,))
    if isinstance(a, ops.Conv | ops.SepConv | ops.Linear):
        return Chan((node.out_ref,)) if node.out_ref else Chan((a.out,))
    if isinstance(a, ops.Add):  # the shortcut's channels
        return ins[1]
    if isinstance(a, ops.Flatten):
        return None
    if isinstance(a, ops.Concat):
        parts = [c for c in ins if c is not None]
        return Chan(tuple(t for c in parts for t in c.terms)) if len(parts) == len(ins) else None
    return ins[0]


def comment_shape(
    nodes: Sequence[Node], chan: Chan | None, global_: bool
) -> tuple[Dim, ...] | None:
    """The shape every row agrees on; else channels by their parameter if only they differ.
    A count set by a model argument (num_classes) is always named, never the spec's default."""
    shapes = {n.shape for n in nodes}
    first = nodes[0].shape
    symbol = chan.symbol if chan else None
    if first is None or None in shapes:
        return None
    if symbol and (global_ or len(shapes) > 1) and len({s[1:] for s in shapes if s}) == 1:
        return (symbol, *first[1:])
    return first if len(shapes) == 1 else None


def _row(
    plan: ModulePlan, blocks: dict[str, BlockPlan], row: Row, taps: tuple[Row, ...]
) -> RowPlan:
    g = plan.graph
    node = g.nodes[row.output]
    in_shape = g.nodes[row.input].shape
    cin = Chan((in_shape[0],)) if in_shape else None
    block = blocks.get(row.template or "")
    if block is None:
        _add_unit(plan, node)
        own = node.out_ref == IN_CHANNELS_REF and node.shape  # `$in_channels`: its value here
        cout = Chan((node.shape[0],)) if own and node.shape else _out_chan(node, [cin])
        global_ = node.out_ref is not None and node.out_ref != IN_CHANNELS_REF
        if global_:
            _global(plan, node.out_ref or "")
        shape = comment_shape([node], cout, global_=global_)
        return RowPlan(row, node, None, 0, cin, cout, shape, taps)
    last = block.columns[-1] if block.columns else None
    global_ = last is not None and last.cout is not None and last.cout.symbol in plan.globals
    cout = last.cout if global_ and last is not None else None
    shape = comment_shape([node], cout, global_=global_)
    return RowPlan(row, node, block, block.rows.index(row), cin, cout, shape, taps)
