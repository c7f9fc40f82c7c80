"""Copy definitions out of a backend's library.py (real, linted, typed code) into a
generated module, by name, with `ast`: the library is read as text, never imported, so
compiling imports neither torch nor keras and generated files import only their framework."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from importlib import resources


@cache
def _library(package: str) -> tuple[list[str], dict[str, ast.ClassDef | ast.FunctionDef]]:
    text = resources.files(package).joinpath("library.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    defs = {s.name: s for s in tree.body if isinstance(s, ast.ClassDef | ast.FunctionDef)}
    return text.splitlines(), defs


def definitions(package: str, names: Iterable[str]) -> list[str]:
    """The source of each named class or function (with its decorators) of `package`'s
    library.py, in the order of `names`."""
    lines, defs = _library(package)
    out = []
    for name in names:
        node = defs[name]
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        out.append("\n".join(lines[start - 1 : node.end_lineno]))
    return out
