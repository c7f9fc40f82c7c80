"""The `incept` click group: usage errors as one `error[usage]` line (exit 2), like every
other input error (command_errors.py), and commands imported only when run or listed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

import click

from .errors import one_line


class OneLineGroup(click.Group):
    """A click group whose usage errors are one `error[usage]` line, like every other
    input error, instead of click's usage block.

    Commands named in `lazy` (name -> "module:attribute") are imported only when run or
    listed (`--help`): `incept compile` does not pay for the modules of train, export,
    bench and the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in self.lazy:
            # An unknown name: load every command, so "did you mean" considers them all.
            for name in self.lazy:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, attribute = self.lazy[cmd_name].split(":")
            self.add_command(getattr(import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        extra.pop("standalone_mode", None)
        try:
            status = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # bare `incept`: click's own help
            err.show()
            sys.exit(err.exit_code)
        except click.UsageError as err:
            where = err.ctx.command_path if err.ctx else "incept"
            # click lays out some messages over lines ("Choose from:\n\ttorch,\n\tkeras"):
            # joined with spaces, so only what the user typed can need escaping.
            message = one_line(" ".join(err.format_message().split()))
            click.echo(f"{where}: error[usage]: {message} (see '{where} --help')", err=True)
            sys.exit(2)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)
