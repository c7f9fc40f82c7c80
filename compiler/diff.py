"""`incept diff A B`: two specs side by side, row by row, with the difference.

Rows are matched by name (aux heads too). Rows that only one spec has are shown
against blanks, in the order they appear: A's order, with B's extra rows placed
after the last row they follow in B.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from .fit import Column, Grid, print_grid
from .ir import shapes
from .ir.graph import Graph
from .report import passes_note, render_captured, table_rows, totals
from .spec.paths import spec_label

Row = dict[str, Any]


def aligned(a: Graph, b: Graph) -> list[tuple[str, Row | None, Row | None]]:
    """(name, row of A or None, row of B or None), in a merged order."""
    rows_a = {r["name"]: r for r in table_rows(a)}
    rows_b = {r["name"]: r for r in table_rows(b)}
    order = list(rows_a)
    last = -1
    for name in rows_b:
        if name in rows_a:
            last = order.index(name)
        else:
            last += 1
            order.insert(last, name)
    return [(n, rows_a.get(n), rows_b.get(n)) for n in order]


def diff_rows(a: Graph, b: Graph) -> list[dict[str, Any]]:
    out = []
    for name, ra, rb in aligned(a, b):
        pa, pb = (ra or {}).get("params", 0), (rb or {}).get("params", 0)
        ma, mb = (ra or {}).get("macs", 0), (rb or {}).get("macs", 0)
        out.append(
            {
                "name": name,
                "out_shape_a": ra["out_shape"] if ra else None,
                "out_shape_b": rb["out_shape"] if rb else None,
                "params_a": pa if ra else None,
                "params_b": pb if rb else None,
                "params_delta": pb - pa,
                "macs_a": ma if ra else None,
                "macs_b": mb if rb else None,
                "macs_delta": mb - ma,
            }
        )
    return out


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _delta(value: int) -> Text:
    if value == 0:
        return Text("")
    return Text(f"{value:+,}", style="green" if value < 0 else "red")


def _pct(a: int, b: int) -> str:
    return f"{(b - a) / a:+.1%}" if a else ""


HEADERS = (
    Column("row"),
    Column("output A"),
    Column("output B"),
    *(Column(h, right=True, group=1) for h in ("params A", "params B", "Δ params")),
    *(Column(h, right=True, group=2) for h in ("MACs A", "MACs B", "Δ MACs")),
)


def grid(a: Graph, b: Graph) -> Grid:
    rows: list[list[Text]] = []
    for r in diff_rows(a, b):
        rows.append(
            [
                Text(r["name"]),
                Text(shapes.size(r["out_shape_a"])),
                Text(shapes.size(r["out_shape_b"])),
                Text(_n(r["params_a"])),
                Text(_n(r["params_b"])),
                _delta(r["params_delta"]),
                Text(_n(r["macs_a"])),
                Text(_n(r["macs_b"])),
                _delta(r["macs_delta"]),
            ]
        )
    ta, tb = totals(a), totals(b)
    section = len(rows)
    for label, suffix in (("total", ""), ("total with aux", "_with_aux")):
        pa, pb = ta["params" + suffix], tb["params" + suffix]
        ma, mb = ta["macs" + suffix], tb["macs" + suffix]
        rows.append(
            [Text(label), Text(""), Text("")]
            + [Text(_n(pa)), Text(_n(pb)), Text(f"{pb - pa:+,} ({_pct(pa, pb)})")]
            + [Text(_n(ma)), Text(_n(mb)), Text(f"{mb - ma:+,} ({_pct(ma, mb)})")]
        )
    # never an absolute path; --opt runs the same passes on both
    title = f"{spec_label(a.spec_path)} (A) vs {spec_label(b.spec_path)} (B){passes_note(a)}"
    return Grid(title, HEADERS, rows, sections=frozenset({section}))


def render(a: Graph, b: Graph, console: Console) -> None:
    render_captured(console, lambda c: print_grid(grid(a, b), c))
