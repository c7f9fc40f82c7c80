"""What every backend shares: the template environment, ruff, headers, names."""

from __future__ import annotations

import keyword
import os
import subprocess
from pathlib import PurePath

from jinja2 import Environment, PackageLoader, StrictUndefined
from ruff.__main__ import find_ruff_bin

from incept.compiler.ir.graph import Graph


def environment(package: str) -> Environment:
    """A jinja2 environment that fails on any undefined name instead of printing ''."""
    return Environment(
        loader=PackageLoader(package, "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def format_python(source: str) -> str:
    """Format with ruff, isolated from any project config so output never depends on cwd."""
    result = subprocess.run(
        [find_ruff_bin(), "format", "--isolated", "--line-length", "100", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # The template produced invalid Python: a backend bug, shown with the source.
        raise RuntimeError(f"ruff could not format generated code:\n{result.stderr}\n{source}")
    return result.stdout


def spec_label(graph: Graph) -> str:
    """The spec path for headers: relative and with forward slashes, so output is
    the same bytes on every machine that compiles the same file from the same place."""
    path = graph.spec_path
    if os.path.isabs(path):
        try:
            path = os.path.relpath(path)
        except ValueError:
            path = os.path.basename(path)
    return PurePath(os.path.normpath(path)).as_posix()


def pair_literal(pair: tuple[int, int]) -> str:
    """A kernel/stride/padding argument: `3` when square, `(1, 7)` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def float_literal(value: float) -> str:
    return repr(float(value))


def shape_comment(shape: tuple[int, ...] | None) -> str:
    return "N x " + " x ".join(str(d) for d in shape) if shape else ""


class Namespace:
    """Hands out legal, unique Python identifiers that avoid reserved names."""

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.taken = set(reserved)

    def __call__(self, want: str, prefix: str = "layer_") -> str:
        name = want if want.isidentifier() else prefix + want
        if not name.isidentifier() or keyword.iskeyword(name):
            name = prefix + "".join(ch if ch.isalnum() else "_" for ch in want)
        base, n = name, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name
