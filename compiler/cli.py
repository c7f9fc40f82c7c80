"""The `incept` command: check, table and compile a spec.

Every spec problem is a `SpecError`, printed as one `path:line:col: error[code]: message`
line on stderr with exit status 2 and nothing written. Any other exception is a bug in
incept: one `path: error[internal]: ...` line and exit status 3 (`incept --debug` also
prints the traceback). None of the commands imports
torch or tensorflow: the compiler is pure Python, and a backend (which only emits
source text) is imported inside `compile`, after the spec has been checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from . import plugins

plugins.disable()  # before pydantic loads (plugins.py says why)

import click  # noqa: E402

from . import stamp  # noqa: E402
from .command_errors import DEBUG, one_line_errors  # noqa: E402
from .command_group import OneLineGroup  # noqa: E402
from .files import write_atomic  # noqa: E402  (also incept.compiler.cli.write_atomic)
from .ir.dump import dump  # noqa: E402
from .ir.graph import Graph  # noqa: E402
from .options import STDIO, emit, format_option, opt_option, output_option, spec_argument  # noqa: E402
from .passes import parse_optimizations, pass_names, stage_names  # noqa: E402
from .pipeline import build_graph  # noqa: E402

#: Kept here rather than read from incept.backends, which must not load before `compile`.
BACKENDS = ("torch", "keras")


def _build(spec: str, dump_ir: str | None = None, optimize: tuple[str, ...] = ()) -> Graph:
    # The path goes in as typed, so errors show it the way the user wrote it. A missing
    # file is the compiler's own `io` error, not click's exists=True check.
    def show(stage: str, graph: Graph) -> None:
        if stage == dump_ir:  # printed as soon as the stage is verified, before later passes
            click.echo(dump(graph, stage), nl=False)

    if dump_ir and dump_ir not in stage_names(optimize):
        raise click.BadParameter(
            f"{dump_ir!r} runs only when asked for: add --opt {dump_ir}", param_hint="'--dump-ir'"
        )
    return build_graph(spec, show if dump_ir else None, optimize)


def _stage(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--dump-ir NAME`: a stage of the pipeline, checked when the command runs, so the
    names are the pass list's own."""
    names = stage_names()
    if value is not None and value not in names:
        raise click.BadParameter(f"unknown pass {value!r} (passes: {', '.join(names)})")
    return value


dump_ir_option = click.option(
    "--dump-ir",
    metavar="PASS",
    callback=_stage,
    help="Print the IR after PASS (lower, or a pass name) to stdout: for writing passes.",
)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="incept", prog_name="incept")
@click.option("--debug", is_flag=True, help="Print the traceback of an internal error.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show the frameworks' start-up logs (TensorFlow's)."
)
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Compile declarative Inception architecture specs (YAML) to PyTorch or Keras."""
    ctx.meta[DEBUG] = debug
    if verbose:
        import os

        os.environ["INCEPT_VERBOSE"] = "1"  # read where the frameworks load (runtime)


@main.command()
@spec_argument()
@opt_option()
@dump_ir_option
@one_line_errors
def check(spec: str, optimize: tuple[str, ...], dump_ir: str | None) -> None:
    """Validate SPEC and infer every shape; print a one-line summary."""
    graph = _build(spec, dump_ir, optimize)
    from . import report  # rich is only needed here and in `table`

    t = report.totals(graph)
    click.echo(
        f"{graph.name}: ok, {t['params']:,} params ({t['params_with_aux']:,} with aux heads), "
        f"{t['macs'] / 1e9:.2f} GMACs"
    )


@main.command()
@spec_argument()
@format_option
@output_option("Write the table to FILE instead of standard output.")
@opt_option(": the optimized graph's params and MACs")
@one_line_errors
def table(spec: str, fmt: str, output: str | None, optimize: tuple[str, ...]) -> None:
    """Print SPEC's layer table (paper Table 1 style) with recomputed params and MACs."""
    from . import report

    graph = _build(spec, optimize=optimize)
    if fmt == "json":
        emit(json.dumps(report.to_json(graph), indent=2) + "\n", output)
    else:
        report.show(lambda console: report.render(graph, console), output)


@main.command()
@spec_argument("spec_a")
@spec_argument("spec_b")
@format_option
@output_option("Write the comparison to FILE instead of standard output.")
@opt_option(", applied to both specs")
@one_line_errors
def diff(spec_a: str, spec_b: str, fmt: str, output: str | None, optimize: tuple[str, ...]) -> None:
    """Compare two specs row by row: output shape, params and MACs, and their difference."""
    from . import diff as differ
    from .report import show, totals

    if spec_a == spec_b == "-":
        raise click.UsageError("only one of SPEC_A and SPEC_B can be - (standard input)")
    a, b = _build(spec_a, optimize=optimize), _build(spec_b, optimize=optimize)
    if fmt == "json":
        data: dict[str, object] = {"a": spec_a, "b": spec_b, "rows": differ.diff_rows(a, b)}
        data |= {"total_a": totals(a), "total_b": totals(b)}
        emit(json.dumps(data, indent=2) + "\n", output)
    else:
        show(lambda console: differ.render(a, b, console), output)


def module_name(name: str, backend: str, optimized: bool = False) -> str:
    """The generated module's name: <spec name, lower case>_<backend>[_opt]. The spec's
    `name` is letters, digits and underscores; one starting with a digit gets `model_`
    before it, so the file always imports (`from generated.googlenet_torch import build`)."""
    stem = name.lower()
    stem = f"model_{stem}" if stem[:1].isdigit() else stem
    return f"{stem}_{backend}{'_opt' * optimized}"


def default_output(graph: Graph, backend: str, optimized: bool = False) -> Path:
    """generated/<module_name>.py"""
    return Path("generated") / f"{module_name(graph.name, backend, optimized)}.py"


def _clash(path: Path, current: str | None, graph: Graph) -> str | None:
    """Another spec's module already at the default path (two specs, one `name`)."""
    from .spec.paths import spec_label

    theirs = stamp.source_of(current or "")
    mine = spec_label(graph.spec_path)
    if theirs is None or theirs == mine or mine == "<stdin>":
        return None
    return (
        f"incept: {path} holds the module of {theirs}, which has the same name "
        f"({graph.name!r}) as {mine}; rename one spec or give -o FILE"
    )


def _read_text(path: Path) -> str | None:
    """The current output file, or None where there is none to read."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


@main.command()
@spec_argument()
@click.option("--backend", "-b", type=click.Choice(BACKENDS), required=True)
@output_option("Output file, - for standard output [default: generated/<name>_<backend>.py].")
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 if the output is missing or stale."
)
@click.option("--force", is_flag=True, help="Overwrite the output even if it was edited by hand.")
@click.option(
    "--opt",
    "optimize",
    metavar="NAMES",
    help="Optimizations, comma-separated: fuse_siblings, fold_bn, all or none; torch also "
    "separable_maxpool (eager CPU inference). [default: none] (with one: "
    "generated/<name>_<backend>_opt.py; docs/passes.md)",
)
@dump_ir_option
@one_line_errors
def compile(  # noqa: A001
    spec: str,
    backend: str,
    output: str | None,
    check: bool,
    force: bool,
    optimize: str | None,
    dump_ir: str | None,
) -> None:
    """Generate BACKEND source for SPEC."""
    # Without --opt the backend loads after the spec is checked: a bad spec never loads it.
    module = _backend(backend) if optimize is not None else None
    try:
        names = parse_optimizations(optimize, module.OPTIONS if module else ())
    except ValueError as exc:
        ctx = click.get_current_context()
        raise click.BadParameter(str(exc), ctx, param_hint="'--opt'") from None
    passes = pass_names(names)
    graph = _build(spec, dump_ir, passes)
    module = module or _backend(backend)
    text = module.render(graph, tuple(n for n in names if n not in passes))
    if output == STDIO:
        if check:
            raise click.UsageError("--check needs an output file, not -")
        click.echo(text, nl=False)
        return
    path = Path(output) if output else default_output(graph, backend, bool(names))
    current = _read_text(path)
    clash = None if output or force else _clash(path, current, graph)
    if clash:
        click.echo(f"{clash} (--force overwrites it)", err=True)
        click.get_current_context().exit(2)
    if check:
        if current != text:
            if current is None:
                state = f"missing: compiling {spec} would create it"
            else:
                edited = "edited by hand (its checksum does not match); " * stamp.edited(current)
                state = f"stale: {edited}regenerating it from {spec} would change it"
            click.echo(f"{path}: {state}", err=True)
            click.get_current_context().exit(1)
        return
    if current is not None and stamp.edited(current) and not force:
        click.echo(
            f"incept: {path} was edited by hand (its checksum does not match); "
            "not overwritten (--force overwrites it)",
            err=True,
        )
        click.get_current_context().exit(1)
    try:
        write_atomic(path, text)
    except OSError as exc:
        click.echo(f"incept: cannot write {path}: {exc.strerror or exc}", err=True)
        click.get_current_context().exit(1)
    click.echo(f"wrote {path} ({len(text.splitlines())} lines)", err=True)


def _backend(name: str) -> ModuleType:
    """The backend's module; one line and exit 1 where it is not written or not installed."""
    try:
        from incept.backends import get_backend

        return get_backend(name)
    except ImportError as exc:
        if not (exc.name or "").startswith("incept.backends"):
            raise
        click.echo(f"incept: the {name} backend is not available ({exc})", err=True)
        click.get_current_context().exit(1)


#: The commands defined beside the compiler: train / eval / predict / convert / export
#: (incept.runtime), diagram / docs / schema (views) and bench, imported when run or listed
#: (command_group.OneLineGroup). Their modules import only click; frameworks, Graphviz and
#: pydantic's JSON Schema load inside the commands.
LAZY_COMMANDS = {
    "train": "incept.runtime.cli:train",
    "eval": "incept.runtime.cli:evaluate",
    "predict": "incept.runtime.cli:predict",
    "convert": "incept.runtime.cli:convert",
    "export": "incept.runtime.export.cli:export",
    "diagram": "incept.compiler.views.cli:diagram",
    "schema": "incept.compiler.views.cli:schema",
    "docs": "incept.compiler.views.cli:docs",
    "bench": "incept.compiler.benchcli:bench",
    "list": "incept.compiler.listcli:list_models",
}
main.lazy.update(LAZY_COMMANDS)  # type: ignore[attr-defined]
