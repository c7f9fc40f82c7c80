"""`incept diagram`, `incept docs` and `incept schema`.

Imported by the `incept` command at start-up, so this module imports only click and
the failure guard: Graphviz, the report and pydantic's JSON Schema load inside the
commands, never on `incept compile`'s path.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..command_errors import one_line_errors
from ..options import STDIO, emit, opt_option, output_option, spec_argument
from ..options import write_file as _write


@click.command()
@spec_argument()
@output_option("FILE.svg, FILE.png or FILE.dot; - prints the DOT text.", required=True)
@click.option(
    "--collapse", is_flag=True, help="One box per row, blocks with their Table-1 columns."
)
@opt_option(": draws the optimized graph (fused 1x1s, folded norms)")
@one_line_errors
def diagram(spec: str, output: str, collapse: bool, optimize: tuple[str, ...]) -> None:
    """Draw SPEC's network with Graphviz: blocks as clusters, branches side by side."""
    from ..pipeline import build_graph
    from . import render

    path = Path(output)
    fmt = None if output == STDIO else render.output_format(path)  # before anything is built
    graph = build_graph(spec, None, optimize)
    render.require_graphviz()  # the Python package writes the DOT text, even for -o -
    from .diagram import dot_source

    if output == STDIO:  # DOT is text: no `dot` program needed
        emit(dot_source(graph, collapse), output)
        return
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
@output_option("Write the schema to FILE instead of standard output.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if -o's file is stale.")
@one_line_errors
def schema(output: str | None, check: bool) -> None:
    """Print the JSON Schema of the spec language (specs/incept.schema.json)."""
    from .schema import schema_text

    text = schema_text()
    if check:
        if output in (None, STDIO):
            raise click.UsageError("--check needs -o FILE")
        _check(Path(output), text, f"`incept schema -o {output}`")
    else:
        emit(text, output)


@click.command()
@spec_argument()
@output_option(
    "FILE.md, or - for standard output; the diagram goes beside FILE (FILE.svg), or inline for -.",
    required=True,
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
    if output != STDIO and path.suffix.lower() != ".md":
        raise render.ViewError("flag", path, "-o must name a Markdown file ending in .md or be -")
    if output == STDIO and check:
        raise click.UsageError("--check needs -o FILE.md")
    graph = build_graph(spec)
    if output == STDIO:  # the page alone, saying how to draw its picture
        emit(page(graph, None), output)
        return
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
