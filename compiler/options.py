"""The words every incept command uses for one idea (docs/cli.md).

- `SPEC`: a spec file, or `-` for standard input;
- `-o/--output FILE`: the file a command writes, `-` for standard output where the output
  is one stream of text;
- `--format text|json`: what is printed (`json` is machine-readable; with `-o FILE` it goes
  to FILE instead of standard output);
- `--opt NAMES`: optimization passes, default none in every command.

Old spellings still parse for one release, hidden from `--help` (`Aliased`,
`AliasedChoice`). This module imports only click: every command's module imports it at
start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

#: `-` as a file name: standard input for a spec, standard output for -o.
STDIO = "-"


class Aliased(click.Option):
    """An option whose old spellings (`aliases`) still parse but are not shown: help
    and error messages name the current ones only."""

    def __init__(
        self, param_decls: Sequence[str], aliases: Sequence[str] = (), **attrs: Any
    ) -> None:
        super().__init__([*param_decls, *aliases], **attrs)
        self.aliases = tuple(aliases)

    def _shown(self) -> list[str]:
        return [name for name in self.opts if name not in self.aliases]

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        opts, self.opts = self.opts, self._shown()
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return " / ".join(f"'{name}'" for name in self._shown())


class AliasedChoice(click.Choice):  # type: ignore[type-arg]
    """A choice whose old values (`aliases`: old -> new) are accepted, not listed."""

    def __init__(self, choices: Sequence[str], aliases: Mapping[str, str]) -> None:
        super().__init__(choices)
        self.aliases = dict(aliases)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(self.aliases.get(value, value), param, ctx)


def spec_argument(name: str = "spec") -> Callable[..., Any]:
    """SPEC: a file or `-` (stdin). Click checks nothing: a missing file or a folder is
    the compiler's own located `error[io]` line, like every other spec problem."""
    return click.argument(name, type=click.Path(allow_dash=True), shell_complete=complete_spec)


def complete_spec(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of a SPEC: the model names starting with what is typed (`incept
    list`), and the shell's own file names. Imported when a shell asks, not at start-up."""
    from click.shell_completion import CompletionItem

    from .spec import catalog

    names = [name for name in catalog.models() if name.startswith(incomplete)]
    return [*map(CompletionItem, names), CompletionItem(incomplete, type="file")]


def output_option(
    help: str, *, required: bool = False, dash: bool = True, aliases: Sequence[str] = ()
) -> Callable[..., Any]:
    """-o/--output FILE (`-`: standard output, where `dash`)."""
    return click.option(
        "-o",
        "--output",
        "output",
        cls=Aliased,
        aliases=aliases,
        type=click.Path(dir_okay=False, allow_dash=dash),
        required=required,
        metavar="FILE",
        help=help,
    )


format_option = click.option(
    "--format",
    "fmt",
    type=AliasedChoice(["text", "json"], {"human": "text"}),
    default="text",
    show_default=True,
    help="text for people, json for programs (to -o FILE if given).",
)


def to_stdout(output: str | None) -> bool:
    return output is None or output == STDIO


def emit(text: str, output: str | None) -> None:
    """Print `text`, or write it atomically to `output` and say so on stderr."""
    if to_stdout(output):
        click.echo(text, nl=False)
        return
    write_file(Path(str(output)), text)
    click.echo(f"wrote {output}", err=True)


def write_file(path: Path, data: str | bytes) -> None:
    """Write atomically; an unwritable path is the user's one-line error (exit 2)."""
    from .errors import UserError
    from .files import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        raise UserError(f"{path}: error[io]: cannot write: {exc.strerror or exc}") from None


def _optimizations(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from .passes import parse_optimizations  # the pass list, checked when the command runs

    try:
        return parse_optimizations(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def opt_option(help: str = "") -> Callable[..., Any]:
    """--opt NAMES: optimization pass names, comma-separated, `all` or `none`; default
    none everywhere (docs/cli.md says why)."""
    return click.option(
        "--opt",
        "optimize",
        metavar="NAMES",
        callback=_optimizations,
        help="Optimizations, comma-separated: fuse_siblings, fold_bn (inference only), "
        f"separable_maxpool, all or none [default: none]{help} (docs/passes.md).",
    )
