"""What every backend shares: the template environment, ruff, headers, names."""

from __future__ import annotations

import keyword
import re
import subprocess
import unicodedata

from jinja2 import Environment, PackageLoader, StrictUndefined
from ruff.__main__ import find_ruff_bin

from incept.compiler import stamp
from incept.compiler.ir.graph import Graph
from incept.compiler.spec import paths


def environment(package: str) -> Environment:
    """A jinja2 environment that fails on any undefined name instead of printing ''."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["checksum_line"] = stamp.LINE
    return env


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
        # The template produced invalid Python: a backend bug (the CLI reports it as internal).
        detail = " ".join(result.stderr.split())[:200]
        raise RuntimeError(f"ruff could not format generated code: {detail}")
    return result.stdout


def finish(source: str) -> str:
    """Rendered template -> the file: formatted by ruff, then stamped with its own hash."""
    return stamp.stamp(format_python(source))


def py_text(text: str) -> str:
    """Free text as the inside of a "..." or \"\"\"...\"\"\" literal: the one way text from a
    spec (a description, a template's doc, the spec's path) reaches generated code.

    Backslashes and double quotes are escaped and every non-printable character becomes
    its escape (\\n, \\x00, \\u202e), so the text can neither end the literal nor start a
    line of code, and at run time the string holds the text unchanged.
    """
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)


def spec_label(graph: Graph) -> str:
    """The spec path for headers, escaped for a literal: relative to the spec's project
    root and with forward slashes, so output does not depend on cwd or machine."""
    return py_text(paths.spec_label(graph.spec_path))


def pair_literal(pair: tuple[int, int]) -> str:
    """A kernel/stride/padding argument: `3` when square, `(1, 7)` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def float_literal(value: float) -> str:
    return repr(float(value))


class Namespace:
    """Hands out legal, unique Python identifiers that avoid reserved names."""

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.taken = set(reserved)

    def __call__(self, want: str, prefix: str = "layer_") -> str:
        # Python compares identifiers NFKC-normalised: hand out (and compare) that form.
        want = unicodedata.normalize("NFKC", want)
        name = want if want.isidentifier() else prefix + want
        if not name.isidentifier() or keyword.iskeyword(name):
            name = prefix + "".join(ch if ch.isalnum() else "_" for ch in want)
        base, n = name, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def snake_case(name: str) -> str:
    """`AuxLogits` -> `aux_logits`: local variables read as Python's, whatever the spec's case."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
