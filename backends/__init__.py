"""incept.backends: IR graph -> framework source.

Each backend is a module with `render(graph) -> str`; it builds a view-model
from the IR, renders jinja2 templates that only print that view-model, and
formats the result with ruff. Backends are imported lazily so that compiling
for one framework never imports the other.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

BACKENDS = ("torch", "keras")


def get_backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    return import_module(f"incept.backends.{name}")
