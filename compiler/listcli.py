"""`incept list [PATTERN]`: the models a name can reach (spec/catalog.py), each compiled
for its size: input, classes, parameters, multiply-adds and the pretrained sources whose
weights fit it (incept.runtime.pretrained's table).

Imported when the command runs (cli.LAZY_COMMANDS); imports only click at module level.
A user's spec on INCEPT_PATH that does not compile is left out with its one error line
on stderr, so one broken file does not hide the others.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .command_errors import one_line_errors

#: Where a model comes from: "shipped", or the INCEPT_PATH folder that holds it.
SHIPPED = "shipped"


def model_rows(pattern: str | None = None) -> list[dict[str, Any]]:
    """One row per model: name, where it comes from, input, classes, params, MACs and
    pretrained sources (`incept list --format json` prints them)."""
    from incept.runtime.pretrained import sources_for

    from .errors import SpecError
    from .pipeline import build_graph
    from .report import totals
    from .spec import catalog

    shipped = catalog.shipped_folder()
    rows = []
    for name, path in catalog.models(pattern).items():
        try:
            graph = build_graph(path)
        except SpecError as exc:
            click.echo(f"incept: {name} left out: {exc}", err=True)
            continue
        c, h, w = graph.input.shape  # type: ignore[misc]
        rows.append(
            {
                "name": name,
                "source": SHIPPED if path.parent == shipped else str(path.parent),
                "path": str(path),
                "input": [h, w, c],
                "num_classes": graph.num_classes,
                **totals(graph),
                "pretrained": sources_for(graph.name),
                "description": graph.description,
            }
        )
    return rows


def _render(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from .report import console_for

    table = Table(box=None, header_style="bold", pad_edge=False)
    titles = ("name", "input", "classes", "params", "with aux", "GMACs", "pretrained", "from")
    for title in titles:
        left = title in ("name", "input", "pretrained", "from")
        table.add_column(title, justify="left" if left else "right")
    for r in rows:
        h, w, c = r["input"]
        table.add_row(
            r["name"],
            f"{h}x{w}x{c}",
            str(r["num_classes"]),
            f"{r['params']:,}",
            f"{r['params_with_aux']:,}",
            f"{r['macs'] / 1e9:.2f}",
            ",".join(r["pretrained"]) or "-",
            r["source"],
        )
    console_for().print(table)


@click.command("list")
@click.argument("pattern", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["human", "json"]), default="human", show_default=True
)
@one_line_errors
def list_models(pattern: str | None, fmt: str) -> None:
    """The models a name reaches (INCEPT_PATH's folders, then the shipped specs), by name;
    PATTERN filters them: a glob (`'*fmnist*'`), or a substring."""
    rows = model_rows(pattern)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        _render(rows)
    else:
        where = f" matching {pattern!r}" if pattern else ""
        click.echo(f"incept: no models{where}", err=True)
