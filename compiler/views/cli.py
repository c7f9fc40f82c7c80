"""`incept diagram`, `incept docs` and `incept schema`.

Imported by the `incept` command at start-up, so this module imports only click and
the failure guard: Graphviz, the report and pydantic's JSON Schema load inside the
commands, never on `incept compile`'s path.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..guard import one_line_errors


@click.command()
@click.argument("spec")
@click.option("-o", "--output", required=True, help="FILE.svg, FILE.png or FILE.dot")
@click.option("--collapse", is_flag=True, help="One box per row, blocks with their Table-1 columns.")
@one_line_errors
def diagram(spec: str, output: str, collapse: bool) -> None:
    """Draw SPEC's network with Graphviz: blocks as clusters, branches side by side."""
    from ..cli import write_atomic
    from ..pipeline import build_graph
    from . import render

    path = Path(output)
    fmt = render.output_format(path)  # a bad -o fails before anything is built
    graph = build_graph(spec)
    render.require_graphviz()
    from .diagram import dot_source

    data = render.render(dot_source(graph, collapse), fmt)
    write_atomic(path, data)
    click.echo(f"wrote {path}", err=True)


def _check(path: Path, text: str | bytes, how: str) -> None:
    """--check: exit 1 with one line unless `path` holds exactly `text`."""
    want = text.encode("utf-8") if isinstance(text, str) else text
    try:
        current: bytes | None = path.read_bytes()
    except OSError:
        current = None
    if current != want:
        state = "missing" if current is None else "stale"
        click.echo(f"{path}: {state}: {how} would change it", err=True)
        click.get_current_context().exit(1)


@click.command()
@click.option("-o", "--output", help="Write the schema to this file instead of stdout.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if -o's file is stale.")
@one_line_errors
def schema(output: str | None, check: bool) -> None:
    """Print the JSON Schema of the spec language (specs/incept.schema.json)."""
    from ..cli import write_atomic
    from .schema import schema_text

    text = schema_text()
    if output is None:
        if check:
            raise click.UsageError("--check needs -o FILE")
        click.echo(text, nl=False)
    elif check:
        _check(Path(output), text, f"`incept schema -o {output}`")
    else:
        write_atomic(Path(output), text)
        click.echo(f"wrote {output}", err=True)


COMMANDS = (diagram, schema)
