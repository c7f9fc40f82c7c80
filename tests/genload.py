"""Import generated source as a module, the way a user would import generated/*.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from incept.compiler.ir.graph import Graph
from incept.compiler.pipeline import build_graph

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def import_source(source: str, name: str, directory: Path) -> ModuleType:
    """Write `source` to `directory/name.py` and import it (tracebacks then show real lines)."""
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def torch_module(
    graph: Graph, directory: Path, name: str = "gen_torch", options: tuple[str, ...] = ()
) -> ModuleType:
    """The torch backend's module for `graph`, with its emit `options` (separable_maxpool)."""
    from incept.backends import torch as torch_backend

    return import_source(torch_backend.render(graph, options), name, directory)


def shipped(name: str) -> Graph:
    return build_graph(SPECS / name)
