"""A Markdown page for one spec: what `incept docs SPEC -o FILE.md` writes.

The page holds the inheritance chain, the totals, the diagram (an SVG file next to
the page, drawn collapsed: one box per row with its Table-1 columns), the Table-1
report and the rows whose recomputed params or MACs differ from the paper's printed
values. Everything comes from the IR and the spec files, so the same spec gives the
same page; docs/specs/ holds one per shipped spec (make regen, make check-generated).
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import report
from ..ir.graph import Graph
from ..ir.shapes import size
from ..spec.inherit import base_file
from ..spec.paths import spec_label
from ..spec.source import read_source

_HEAD = (
    "name",
    "type",
    "patch/stride",
    "output size",
    "depth",
    "#1x1",
    "#3x3 reduce",
    "#3x3",
    "#5x5 reduce",
    "#5x5",
    "pool proj",
    "params",
    "ops (MACs)",
    "paper params",
    "paper ops",
)


def chain(spec: str) -> list[tuple[str, str, int]]:
    """(path, name, patch edits) for the spec and each base it extends, nearest first.

    Called after the spec compiled, so every base exists and the chain ends."""
    out, path = [], spec
    while True:
        data = read_source(path).data
        out.append((spec_label(path), str(data.get("name", "")), len(data.get("patch") or [])))
        if "extends" not in data:
            return out
        path = base_file(path, str(data["extends"])) or ""


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def _int(value: float | int | None) -> str:
    return "" if value is None else f"{round(value):,}"


def _table(rows: list[list[str]], right_from: int) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(rows[0]))]
    return ["| " + " | ".join(map(_cell, r)) + " |" for r in (rows[0], align, *rows[1:])]


def table1(graph: Graph) -> list[str]:
    """report.table_rows as a Markdown table; aux heads last, marked with their tap."""
    rows = [list(_HEAD)]
    for r in report.table_rows(graph):
        mark = "!" if r["flags"] else ""
        rows.append(
            [
                f"{r['name']} (aux, on {r['tap']})" if r["aux"] else r["name"],
                r["type"],
                r["patch_stride"],
                size(r["out_shape"]),
                str(r["depth"] or ""),
                *(_int(r[c]) for c in report.COLUMNS),
                f"{r['params']:,}" + mark * ("params" in r["flags"]) if r["params"] else "",
                f"{r['macs']:,}" + mark * ("ops" in r["flags"]) if r["macs"] else "",
                _int(r["paper_params"]),
                _int(r["paper_ops"]),
            ]
        )
    return _table(rows, right_from=5)


def _delta(mine: int, paper: float | None) -> str:
    if paper is None:
        return ""
    return f"{(mine - paper) / paper:+.1%}" if paper else "n/a"


def deltas(graph: Graph) -> list[str]:
    """Rows that record the paper's values: paper, recomputed and the relative delta."""
    head = ["row", "paper params", "params", "delta", "paper ops", "ops (MACs)", "delta"]
    rows = [head]
    for r in report.table_rows(graph):
        if r["paper_params"] is None and r["paper_ops"] is None:
            continue
        rows.append(
            [
                r["name"] + (" !" if r["flags"] else ""),
                _int(r["paper_params"]),
                f"{r['params']:,}",
                _delta(r["params"], r["paper_params"]),
                _int(r["paper_ops"]),
                f"{r['macs']:,}",
                _delta(r["macs"], r["paper_ops"]),
            ]
        )
    if len(rows) == 1:
        return ["The spec records no paper values (`paper:`) to compare with."]
    note = (
        f"`!`: more than {report.TOLERANCE:.0%} off the paper's printed value. "
        "The paper prints rounded numbers (K params, M ops)."
    )
    return [*_table(rows, right_from=1), "", note]


def _totals(graph: Graph) -> list[str]:
    t = report.totals(graph)
    rows = [
        ["", "params", "ops (MACs)"],
        ["without aux heads", f"{t['params']:,}", f"{t['macs']:,} ({t['macs'] / 1e9:.2f} G)"],
        [
            "with aux heads (training)",
            f"{t['params_with_aux']:,}",
            f"{t['macs_with_aux']:,} ({t['macs_with_aux'] / 1e9:.2f} G)",
        ],
    ]
    return _table(rows, right_from=1)


def _inheritance(spec: str) -> list[str]:
    links = chain(spec)
    spec = links[0][0]  # as the project names it
    if len(links) == 1:
        return [f"`{spec}` extends no other spec: every row is written out in it."]
    lines = [f"`{spec}` is built from {len(links) - 1} base spec(s), nearest first:", ""]
    for i, (path, name, edits) in enumerate(links):
        role = "this spec" if i == 0 else "base"
        edit_note = f", {edits} patch edit(s)" if edits else ""
        lines.append(f"{i + 1}. `{path}` ({role}: `{name}`{edit_note})")
    return lines


def page(graph: Graph, svg_name: str | None) -> str:
    """The whole page as Markdown text (without a picture: how to draw it)."""
    label = spec_label(graph.spec_path)
    picture = (
        f"![{graph.name}, one box per row]({svg_name})"
        if svg_name
        else f"One box per row: `incept diagram {label} --collapse -o {graph.name}.svg`."
    )
    lines = [
        f"# {graph.name}",
        "",
        f"Generated by `incept docs {label}` from the spec (sha256 "
        f"`{graph.spec_sha256[:16]}`); do not edit it: edit the spec and run that again.",
        "",
    ]
    if graph.description.strip():
        lines += ["> " + line if line else ">" for line in graph.description.strip().splitlines()]
        lines.append("")
    lines += ["## Inheritance", "", *_inheritance(graph.spec_path), ""]
    lines += ["## Totals", "", *_totals(graph), "", report.MAC_NOTE, ""]
    lines += [
        "## Diagram",
        "",
        picture,
        "",
        f"Layer by layer: `incept diagram {label} -o {graph.name}.svg`.",
        "",
    ]
    lines += ["## Table 1, recomputed", "", *table1(graph), ""]
    lines += ["## Paper vs recomputed", "", *deltas(graph), ""]
    return "\n".join(lines)


# -- the SVG beside the page ----------------------------------------------------------


def marker(dot: str) -> str:
    """The comment that ties an SVG to the DOT text it was drawn from, so staleness is
    checked without the `dot` program and across Graphviz versions."""
    return f"<!-- incept: drawn from DOT sha256 {hashlib.sha256(dot.encode()).hexdigest()} -->"


def stamp_svg(svg: bytes, dot: str) -> bytes:
    """`svg` with marker(dot) after its XML declaration."""
    head, sep, rest = svg.partition(b"?>\n")
    mark = marker(dot).encode() + b"\n"
    return head + sep + mark + rest if sep else mark + svg
