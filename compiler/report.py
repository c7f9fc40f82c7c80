"""The paper-style layer table (Table 1 of arXiv 1409.4842), recomputed from the IR.

Pure Python plus rich: the table must come out the same without torch or
tensorflow installed. Every number is recomputed from the graph; the paper's
printed params/ops, when the spec records them, sit beside it and rows that
disagree by more than `TOLERANCE` are flagged rather than hidden.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

from rich.console import Console
from rich.text import Text

from .fit import Column, Grid, print_grid
from .ir import ops, shapes
from .ir.graph import Graph, Row
from .options import emit, to_stdout
from .spec.paths import spec_label

#: Table 1's six filter-count columns, as template parameter names.
COLUMNS = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
#: Relative difference from the paper's printed value above which a row is flagged.
TOLERANCE = 0.02
#: Width used when stdout is not a terminal, so files and pipes get unwrapped lines.
FILE_WIDTH = 240

_TYPES = {
    "maxpool": "max pool",
    "avgpool": "avg pool",
    "adaptive_avgpool": "adaptive avg pool",
    "sepconv": "separable conv",
    "bn": "batch norm",
}

MAC_NOTE = (
    "ops are MACs: multiply-accumulates of convolution and linear weights, counted once per "
    "output position (one image). Not counted: biases, batch norm, LRN, pooling, ReLU, softmax. "
    "Aux heads run in training only and are excluded from the main total."
)


def _patch_stride(graph: Graph, row: Row) -> str:
    """'7x7/2' for a single conv or pool row; blocks have no single patch size."""
    if row.template is not None or len(row.nodes) != 1:
        return ""
    attrs = graph.nodes[row.nodes[0]].attrs
    if not isinstance(attrs, ops.Conv | ops.SepConv | ops.Pool):
        return ""
    (kh, kw), (sh, sw) = attrs.kernel, attrs.stride
    return f"{kh}x{kw}/{sh if sh == sw else f'{sh}x{sw}'}"


def _depth(graph: Graph, row: Row) -> int:
    """Parameterised layers (conv, linear) on the longest path through the row."""
    depth: dict[str, int] = {}
    for name in row.nodes:  # nodes are in topological order
        node = graph.nodes[name]
        before = max((depth.get(i, 0) for i in node.inputs), default=0)
        depth[name] = before + (
            1 if isinstance(node.attrs, ops.Conv | ops.SepConv | ops.Linear) else 0
        )
    return max(depth.values(), default=0)


def _number(value: float | None) -> float | int | None:
    """Paper values are stored as floats; keep whole ones as ints for clean JSON."""
    return int(value) if value is not None and float(value).is_integer() else value


def _off(recomputed: int, paper: float | None) -> bool:
    return paper is not None and paper != 0 and abs(recomputed - paper) > TOLERANCE * abs(paper)


def _row(graph: Graph, row: Row, aux: bool) -> dict[str, Any]:
    nodes = graph.row_nodes(row)
    params = sum(n.params for n in nodes)
    macs = sum(n.macs for n in nodes)
    shape = graph.nodes[row.output].shape or ()
    flags = [
        what
        for what, mine, paper in (
            ("params", params, row.paper_params),
            ("ops", macs, row.paper_ops),
        )
        if _off(mine, paper)
    ]
    return {
        "name": row.name,
        "type": (row.template or _TYPES.get(row.op, row.op))
        + (f" x{row.repeat}" if row.repeat > 1 else ""),
        "patch_stride": _patch_stride(graph, row),
        "out_shape": list(shape),
        "depth": _depth(graph, row),
        **{col: (row.args.get(col) if row.template else None) for col in COLUMNS},
        "params": params,
        "macs": macs,
        "paper_params": _number(row.paper_params),
        "paper_ops": _number(row.paper_ops),
        "flags": flags,
        "aux": aux,
        "tap": row.tap,
    }


def table_rows(graph: Graph) -> list[dict[str, Any]]:
    """One dict per row of the spec, then one per aux head (`aux: True`)."""
    return [_row(graph, r, False) for r in graph.rows] + [
        _row(graph, r, True) for r in graph.aux_heads
    ]


def totals(graph: Graph) -> dict[str, int]:
    return {
        "params": graph.params(aux=False),
        "macs": graph.macs(aux=False),
        "params_with_aux": graph.params(aux=True),
        "macs_with_aux": graph.macs(aux=True),
    }


def to_json(graph: Graph) -> dict[str, Any]:
    return {
        "spec": graph.spec_path,
        "sha256": graph.spec_sha256,
        "name": graph.name,
        "optimized": list(graph.optimized),  # the passes run (--opt), in their order
        "rows": table_rows(graph),
        "total": totals(graph),
    }


# -- human format -------------------------------------------------------------------


def _int(value: float | int | None) -> str:
    return "" if value is None else f"{round(value):,}"


def _measured(value: int, flagged: bool) -> Text:
    if not value and not flagged:
        return Text("")
    return Text(f"{value:,}!", style="bold yellow") if flagged else Text(f"{value:,}")


#: Table 1's headers: the row, what it is, then the six filter counts, then the numbers.
HEADERS = (
    Column("name"),
    Column("type"),
    Column("patch/stride"),
    Column("output size"),
    Column("depth"),
    *(
        Column(h, right=True, group=1)
        for h in ("#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj")
    ),
    *(
        Column(h, right=True, group=2)
        for h in ("params", "ops (MACs)", "paper params", "paper ops")
    ),
)


def grid(graph: Graph) -> Grid:
    """The layer table's cells; fit.print_grid splits it where the terminal is narrow."""
    rows = table_rows(graph)
    cells = []
    for r in rows:
        name = f"{r['name']} (on {r['tap']})" if r["aux"] else r["name"]
        texts = [name, r["type"], r["patch_stride"], shapes.size(r["out_shape"])]
        texts += [str(r["depth"] or "")] + [_int(r[c]) for c in COLUMNS]
        cells.append(
            [Text(c) for c in texts]
            + [
                _measured(r["params"], "params" in r["flags"]),
                _measured(r["macs"], "ops" in r["flags"]),
                Text(_int(r["paper_params"])),
                Text(_int(r["paper_ops"])),
            ]
        )
    aux = next((i for i, r in enumerate(rows) if r["aux"]), None)
    return Grid(
        f"{graph.name} ({spec_label(graph.spec_path)}{passes_note(graph)})",
        HEADERS,
        cells,
        sections=frozenset({aux} if aux else ()),
    )


def passes_note(graph: Graph) -> str:
    """After --opt, the passes that ran, for a title ("" without --opt)."""
    return f", optimized ({', '.join(graph.optimized)})" if graph.optimized else ""


def render(graph: Graph, console: Console) -> None:
    """Print the table, totals, flag footnote and MAC note to `console`.

    Off a terminal the output is captured and trailing blanks (rich pads every line
    to the table width) are stripped, so files diff cleanly.
    """
    render_captured(console, lambda c: _print(graph, c))


def render_captured(console: Console, draw: Any) -> None:
    """Run `draw(console)`; off a terminal, strip rich's trailing padding from each line."""
    if console.is_terminal:
        draw(console)
        return
    with console.capture() as captured:
        draw(console)
    console.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def _print(graph: Graph, console: Console) -> None:
    print_grid(grid(graph), console)
    t = totals(graph)
    console.print(
        Text(
            f"total without aux heads: {t['params']:,} params, {t['macs']:,} MACs "
            f"({t['macs'] / 1e9:.2f} G)\n"
            f"total with aux heads:    {t['params_with_aux']:,} params, "
            f"{t['macs_with_aux']:,} MACs ({t['macs_with_aux'] / 1e9:.2f} G)"
        )
    )
    flagged = [r["name"] for r in table_rows(graph) if r["flags"]]
    if flagged:
        console.print(
            Text(
                f"! differs from the paper's printed value by more than {TOLERANCE:.0%}: "
                + ", ".join(flagged),
                style="yellow",
            )
        )
    # Wrapped here, not by rich, so the note reads the same at every width from 100 up.
    console.print(Text(textwrap.fill(MAC_NOTE, min(100, console.width))), soft_wrap=True)


def console_for(file: Any = None) -> Console:
    """A console that never wraps the table when writing to a file or pipe, and reads no markup."""
    options: dict[str, Any] = dict(file=file, markup=False, highlight=False, emoji=False)
    console = Console(**options)
    return console if console.is_terminal else Console(**options, width=FILE_WIDTH)


def show(draw: Any, output: str | None) -> None:
    """Run `draw(console)` on the terminal (or pipe), or into the file `output`."""
    if to_stdout(output):
        draw(console_for())
        return
    text = io.StringIO()
    draw(console_for(text))
    emit(text.getvalue(), output)
