"""The network as a Graphviz graph, drawn from the IR.

Expanded (the default): one box per IR node, labelled with its layer name, op with
kernel/stride, and output size (Table 1's HxWxC); every block row is a cluster whose
branches are sub-clusters side by side; aux heads are dashed clusters hanging off the
row they tap. A residual add is a purple ellipse ("+ 0.17 x residual"); the edge from its
shortcut is bold purple, so the skip connection reads apart from the branches.
Collapsed: one box per row, a block showing its Table-1 columns.

The result is DOT source text (deterministic for a given graph); rendering to SVG or
PNG is views.render's job.
"""

from __future__ import annotations

from html import escape

import graphviz

from .. import report
from ..ir import ops
from ..ir.graph import Graph, Node, Row
from ..ir.shapes import size
from ..spec.paths import spec_label

#: Fill colours by op: convs blue, pools orange, linear green, the rest grey.
_FILL = {
    "input": "#ffffff",
    "conv": "#dbe9f6",
    "pool": "#fde4c8",
    "adaptive_avgpool": "#fde4c8",
    "linear": "#d9f0d3",
    "concat": "#eeeeee",
    "sepconv": "#dbe9f6",
    "add": "#e8dcf4",
}
_SHORTCUT = {"color": "#7b4ea3", "penwidth": "2"}
_OTHER = "#f4f4f4"
_AUX_FILL = "#fffbea"
#: Table 1's column headings for the template parameters in report.COLUMNS.
_HEADINGS = ("#1x1", "#3x3 red", "#3x3", "#5x5 red", "#5x5", "pool proj")


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _norm_text(a: ops.Conv | ops.SepConv) -> str:
    """' BN', or ' BN folded' where fold_bn folded a batch norm into the convolution."""
    return " BN" if a.norm else " BN folded" if a.folded else ""


def op_text(node: Node) -> str:
    """'conv 3x3/2 BN', 'max pool 3x3/1', 'linear', 'concat'."""
    a = node.attrs
    if isinstance(a, ops.Conv):
        (kh, kw), stride = a.kernel, _pair(a.stride)
        return f"conv {kh}x{kw}/{stride}" + _norm_text(a)
    if isinstance(a, ops.Pool):
        (kh, kw), stride = a.kernel, _pair(a.stride)
        return f"{a.kind} pool {kh}x{kw}/{stride}"
    if isinstance(a, ops.SepConv):
        (kh, kw), stride = a.kernel, _pair(a.stride)
        return f"sep conv {kh}x{kw}/{stride}" + _norm_text(a)
    if isinstance(a, ops.Norm) and a.folded:
        return "BN, folded into the sep conv"
    if isinstance(a, ops.Norm):
        return "BN" if a.norm.scale else "BN, no scale"
    if isinstance(a, ops.Act):
        return "ReLU"
    if isinstance(a, ops.Add):
        residual = "residual" if a.scale == 1 else f"{a.scale:g} x residual"
        return f"shortcut + {residual}" + (", ReLU" if a.act == "relu" else "")
    if isinstance(a, ops.AdaptiveAvgPool):
        return f"adaptive avg pool to {a.size[0]}x{a.size[1]}"
    if isinstance(a, ops.Dropout):
        return f"dropout {a.p:g}"
    if isinstance(a, ops.LRN):
        return f"LRN {a.size}"
    return {"input": "input"}.get(node.op, node.op)


def _node_label(node: Node) -> str:
    title, what = node.layer or node.name, op_text(node)
    middle = "" if what == title else f"<br/>{escape(what)}"
    return f'<<b>{escape(title)}</b>{middle}<br/><font color="#555555">{size(node.shape)}</font>>'


def _fill(node: Node) -> str:
    return _FILL.get(node.op, _OTHER)


def _add_node(g: graphviz.Digraph, node: Node) -> None:
    small = node.op == "concat"
    g.node(
        node.name,
        _node_label(node) if not small else f"<concat<br/>{size(node.shape)}>",
        fillcolor=_fill(node),
        shape="box" if node.op not in ("concat", "add") else "ellipse",
    )


def _cluster(row: Row, graph: Graph, aux: bool) -> graphviz.Digraph:
    """A block row (or aux head) as a cluster, its branches as sub-clusters in spec order."""
    title = f"{row.name} ({row.template})" if row.template else row.name
    if aux:
        title = f"{row.name}: aux head on {row.tap}, loss x{row.loss_weight:g} (training only)"
    c = graphviz.Digraph(name=f"cluster_{row.name}")
    c.attr(
        label=f"<<b>{escape(title)}</b>>",
        style="rounded,dashed,filled" if aux else "rounded,filled",
        fillcolor=_AUX_FILL if aux else "#fafafa",
        color="#b08800" if aux else "#888888",
    )
    branches: dict[str | None, list[Node]] = {}
    for node in graph.row_nodes(row):
        branches.setdefault(node.branch, []).append(node)
    for node in graph.row_nodes(row):
        _add_node(c, node)
    heads = [nodes[0].name for branch, nodes in branches.items() if branch is not None]
    if len(heads) > 1:  # every branch starts on one line, left to right in spec order
        with c.subgraph() as line:
            line.attr(rank="same")
            for name in heads:
                line.node(name)
            for left, right in zip(heads, heads[1:], strict=False):
                line.edge(left, right, style="invis")
    return c


def _base(graph: Graph, collapse: bool) -> graphviz.Digraph:
    g = graphviz.Digraph(name=graph.name)
    view = "one box per row" if collapse else "one box per layer"
    if graph.optimized:  # --opt: the picture is of the optimized graph, and says so
        view += f", optimized ({', '.join(graph.optimized)})"
    g.attr(
        label=f"<<b>{escape(graph.name)}</b> ({escape(spec_label(graph.spec_path))}): {view}>",
        labelloc="t",
        fontname="Helvetica",
        rankdir="TB",
        nodesep="0.15",
        ranksep="0.25",
        newrank="true",
        ordering="out",  # a block's branches left to right in spec order
    )
    g.attr("node", fontname="Helvetica", fontsize="10", style="filled,rounded", shape="box")
    g.attr("edge", color="#666666", arrowsize="0.6")
    return g


def expanded(graph: Graph) -> graphviz.Digraph:
    g = _base(graph, collapse=False)
    aux_rows = {r.name for r in graph.aux_heads}
    _add_node(g, graph.input)
    for row in (*graph.rows, *graph.aux_heads):
        if row.template is not None or row.name in aux_rows:
            g.subgraph(_cluster(row, graph, row.name in aux_rows))
        else:
            for node in graph.row_nodes(row):
                _add_node(g, node)
    for node in graph.nodes.values():
        dashed = node.row in aux_rows and graph.nodes[node.inputs[0]].row not in aux_rows
        for i, src in enumerate(node.inputs):
            style = {"style": "dashed"} if dashed else {}
            shortcut = _SHORTCUT if node.op == "add" and i == 1 else {}
            g.edge(src, node.name, **style, **shortcut)
    return g


# -- collapsed: one box per row ---------------------------------------------------------


def _cells(values: list[tuple[str, str]]) -> str:
    """Two table rows: headings over values."""
    heads = "".join(f'<td><font point-size="8">{escape(h)}</font></td>' for h, _ in values)
    cells = "".join(f"<td>{escape(v)}</td>" for _, v in values)
    return f"<tr>{heads}</tr><tr>{cells}</tr>"


def _row_label(graph: Graph, row: Row, entry: dict[str, object]) -> str:
    """An HTML table: name and type; the block's Table-1 columns (or other arguments);
    output size, params and MACs."""
    kind = str(entry["type"]) + (f" {entry['patch_stride']}" if entry["patch_stride"] else "")
    if row.template is None and len(row.nodes) == 1:
        kind = op_text(graph.nodes[row.nodes[0]])
    if row.tap:
        kind = f"aux head on {row.tap}"
    params, macs = int(entry["params"]), int(entry["macs"])  # type: ignore[call-overload]
    totals = [size(entry["out_shape"])]  # type: ignore[arg-type]
    totals += [f"{params:,} params"] if params else []
    totals += [f"{macs / 1e6:,.1f}M MACs"] if macs else []
    args: list[tuple[str, str]] = []
    if row.template is not None:
        if set(report.COLUMNS) <= set(row.args):
            args = [(h, str(row.args[c])) for h, c in zip(_HEADINGS, report.COLUMNS, strict=True)]
        else:
            args = [(k, str(v)) for k, v in row.args.items()]
    span = max(len(args), 1)
    title = escape(row.name) if kind == row.name else f"{escape(row.name)}  {escape(kind)}"
    table = [f'<tr><td colspan="{span}"><b>{title}</b></td></tr>']
    table += [_cells(args)] if args else []
    table.append(f'<tr><td colspan="{span}">{escape(" · ".join(totals))}</td></tr>')
    return (
        '<<table border="0" cellborder="0" cellspacing="0" cellpadding="2">'
        + "".join(table)
        + "</table>>"
    )


def collapsed(graph: Graph) -> graphviz.Digraph:
    g = _base(graph, collapse=True)
    g.attr("node", shape="box", style="filled,rounded")
    owner = {n: row.name for row in (*graph.rows, *graph.aux_heads) for n in row.nodes}
    owner[graph.input.name] = graph.input.name
    _add_node(g, graph.input)
    entries = {str(e["name"]): e for e in report.table_rows(graph)}
    aux = {r.name for r in graph.aux_heads}
    for row in (*graph.rows, *graph.aux_heads):
        first = graph.nodes[row.nodes[0]]
        fill = _AUX_FILL if row.name in aux else "#eef3fb" if row.template else _fill(first)
        style = "filled,rounded,dashed" if row.name in aux else "filled,rounded"
        g.node(row.name, _row_label(graph, row, entries[row.name]), fillcolor=fill, style=style)
        edge = {"style": "dashed"} if row.name in aux else {"weight": "10"}  # a straight spine
        g.edge(owner[row.input], row.name, **edge)
    return g


def build(graph: Graph, collapse: bool = False) -> graphviz.Digraph:
    return collapsed(graph) if collapse else expanded(graph)


def dot_source(graph: Graph, collapse: bool = False) -> str:
    """The DOT text of the diagram: the same graph gives the same text."""
    return build(graph, collapse).source
