"""`incept diagram`, `incept docs` and `incept schema`.

Imported by the `incept` command at start-up, so this module imports only click and
the one-line error handler (command_errors.py): Graphviz, the report and pydantic's JSON Schema load inside the
commands, never on `incept compile`'s path.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..command_errors import one_line_errors
from ..errors import UserError


def _write(path: Path, data: str | bytes) -> None:
    """Write atomically; an unwritable path is the user's one-line error (exit 2), not
    an internal one."""
    from ..files import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        raise UserError(f"{path}: error[io]: cannot write: {exc.strerror or exc}") from None


@click.command()
@click.argument("spec")
@click.option("-o", "--output", required=True, help="FILE.svg, FILE.png or FILE.dot")
@click.option(
    "--collapse", is_flag=True, help="One box per row, blocks with their Table-1 columns."
)
@one_line_errors
def diagram(spec: str, output: str, collapse: bool) -> None:
    """Draw SPEC's network with Graphviz: blocks as clusters, branches side by side."""
    from ..pipeline import build_graph
    from . import render

    path = Path(output)
    fmt = render.output_format(path)  # a bad -o fails before anything is built
    graph = build_graph(spec)
    render.require_graphviz()
    from .diagram import dot_source

    data = render.render(dot_source(graph, collapse), fmt)
    _write(path, data)
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
    from .schema import schema_text

    text = schema_text()
    if output is None:
        if check:
            raise click.UsageError("--check needs -o FILE")
        click.echo(text, nl=False)
    elif check:
        _check(Path(output), text, f"`incept schema -o {output}`")
    else:
        _write(Path(output), text)
        click.echo(f"wrote {output}", err=True)


@click.command()
@click.argument("spec")
@click.option(
    "-o", "--output", required=True, help="FILE.md; the diagram goes beside it (FILE.svg)."
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 if the page or diagram is stale."
)
@one_line_errors
def docs(spec: str, output: str, check: bool) -> None:
    """Write a Markdown page for SPEC: inheritance, totals, diagram, Table 1, paper deltas."""
    from ..pipeline import build_graph
    from . import render
    from .page import marker, page, stamp_svg

    path = Path(output)
    if path.suffix.lower() != ".md":
        raise render.ViewError("flag", path, "-o must name a Markdown file ending in .md")
    graph = build_graph(spec)
    render.require_graphviz()
    from .diagram import dot_source

    dot, svg_path = dot_source(graph, collapse=True), path.with_suffix(".svg")
    text = page(graph, svg_path.name)
    how = f"`incept docs {spec} -o {output}`"
    if check:  # the SVG must carry the marker of the current DOT text: no `dot` needed
        _check(path, text, how)
        svg = svg_path.read_bytes() if svg_path.is_file() else b""
        if marker(dot).encode() not in svg:
            click.echo(
                f"{svg_path}: {'stale' if svg else 'missing'}: {how} would change it", err=True
            )
            click.get_current_context().exit(1)
        return
    svg = stamp_svg(render.render(dot, "svg"), dot)  # before writing: no dot, no files
    _write(svg_path, svg)
    _write(path, text)
    click.echo(f"wrote {path} and {svg_path}", err=True)


COMMANDS = (diagram, schema, docs)
