"""Copy definitions out of library.py into a generated module, without importing keras."""

from __future__ import annotations

import ast
from functools import cache
from importlib import resources


@cache
def _library() -> tuple[str, dict[str, ast.ClassDef | ast.FunctionDef]]:
    text = resources.files(__package__).joinpath("library.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    defs = {s.name: s for s in tree.body if isinstance(s, ast.ClassDef | ast.FunctionDef)}
    return text, defs


def definitions(names: list[str]) -> list[str]:
    """The source of each named class or function (with its decorators), in that order."""
    text, defs = _library()
    lines = text.splitlines()
    out = []
    for name in names:
        node = defs[name]
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        out.append("\n".join(lines[start - 1 : node.end_lineno]))
    return out
