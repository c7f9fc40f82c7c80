"""How every `incept` command fails: one line on stderr, never a traceback.

- a UserError (bad spec, data set, checkpoint, image or flag): its one line, exit 2;
- a click usage error (unknown option, `--epochs abc`): one `error[usage]` line, exit 2
  (command_group.py);
- anything else is a bug in incept: one `error[internal]` line naming the input and
  asking for a report, exit 3; `incept --debug ...` prints the traceback first.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from .errors import UserError, one_line

#: click's ctx.meta key for `incept --debug`.
DEBUG = "incept.debug"
#: Arguments that name what a command works on, for the internal-error line.
_SUBJECTS = ("spec", "spec_a", "target", "checkpoint")


def one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command so that it fails in one line (see the module doc)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as err:
            click.echo(str(err), err=True)
            click.get_current_context().exit(err.exit_status)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # `incept table ... | head`: the reader left; stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            click.get_current_context().exit(1)
        except Exception as exc:  # a bug: one line, never a traceback unless asked
            _internal(exc, kwargs)

    return wrapper


def _internal(exc: Exception, kwargs: dict[str, Any]) -> None:
    ctx = click.get_current_context()
    if ctx.find_root().meta.get(DEBUG):
        click.echo(traceback.format_exc().rstrip("\n"), err=True)
    subject = next((str(kwargs[k]) for k in _SUBJECTS if kwargs.get(k)), "incept")
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    click.echo(
        one_line(
            f"{subject}: error[internal]: {detail} (a bug in incept: please report it with "
            "this input; `incept --debug ...` shows the traceback)"
        ),
        err=True,
    )
    ctx.exit(3)
