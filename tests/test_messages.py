"""Every click message reads as written: no escaped control characters in any command's
help or in usage errors (click lays some out over lines; incept prints them on one)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import GOOGLENET

from incept.compiler.cli import main

#: What one_line() leaves where a newline, tab or other control character was.
ESCAPED = re.compile(r"\\[ntr]|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}")
COMMANDS = sorted(main.list_commands(None))  # type: ignore[arg-type]


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="incept")


def test_every_command_is_listed():
    assert {"compile", "check", "table", "diff", "schema", "docs", "diagram", "bench"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_escaped_characters(command):
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: incept {command} ")
    assert not ESCAPED.search(result.output), result.output


def test_bare_incept_prints_the_groups_help():
    result = run()
    assert result.exit_code == 2  # click >= 8.2: a group run without a command
    assert result.output.startswith("Usage: incept [OPTIONS] COMMAND [ARGS]...\n\n")
    assert "\n  compile  Generate BACKEND source for SPEC.\n" in result.output
    assert "error[usage]" not in result.output and not ESCAPED.search(result.output)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("compile", GOOGLENET),
            "incept compile: error[usage]: Missing option '--backend' / '-b'. Choose from: "
            "torch, keras (see 'incept compile --help')",
        ),
        (
            ("compile", GOOGLENET, "-b", "jax"),
            "incept compile: error[usage]: Invalid value for '--backend' / '-b': 'jax' is not "
            "one of 'torch', 'keras'. (see 'incept compile --help')",
        ),
        (
            ("table", GOOGLENET, "--format", "xml"),
            "incept table: error[usage]: Invalid value for '--format': 'xml' is not one of "
            "'text', 'json'. (see 'incept table --help')",
        ),
        (
            ("compil",),
            "incept: error[usage]: No such command 'compil'. Did you mean 'compile'? "
            "(see 'incept --help')",
        ),
        (
            ("check",),
            "incept check: error[usage]: Missing argument 'SPEC'. (see 'incept check --help')",
        ),
        (
            ("diff", GOOGLENET),
            "incept diff: error[usage]: Missing argument 'SPEC_B'. (see 'incept diff --help')",
        ),
        (
            ("bench", GOOGLENET, "--vs", "keras-reference", "--formats", "contiguous"),
            "incept bench: error[usage]: --formats applies to --vs torchvision or timm only "
            "(see 'incept bench --help')",
        ),
    ],
)
def test_usage_errors_are_one_plain_line(args, line):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == line + "\n"
    assert not ESCAPED.search(result.stderr)


def test_a_control_character_the_user_typed_is_still_escaped():
    result = run("compile", GOOGLENET, "-b", "to\x1brch")
    assert result.exit_code == 2
    assert "'to\\x1brch' is not one of" in result.stderr
