"""Where a spec lives: its project folder, and the name generated headers give it.

The project of a spec is the nearest folder at or above the spec's own that holds
`.git` or `pyproject.toml`; a spec outside any project is its own folder's. Bases
named by `extends:` must lie inside it, and headers name the spec relative to it, so
the bytes of generated code depend neither on the working directory nor on the
machine (symbolic links are resolved first).
"""

from __future__ import annotations

import os
from pathlib import PurePath

from .plain import STDIN

MARKERS = (".git", "pyproject.toml")


def project_root(spec_path: str) -> str:
    """The real path of the folder whose tree a spec and its bases must stay inside."""
    folder = os.path.dirname(os.path.realpath(spec_path))
    here = folder
    while True:
        if any(os.path.exists(os.path.join(here, m)) for m in MARKERS):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return folder
        here = parent


def spec_label(spec_path: str) -> str:
    """The spec's path relative to its project root, with forward slashes (standard
    input keeps its name, `<stdin>`)."""
    if spec_path == STDIN:
        return spec_path
    real = os.path.realpath(spec_path)
    return PurePath(os.path.relpath(real, project_root(spec_path))).as_posix()


def inside(root: str, path: str) -> bool:
    """Whether real path `path` is `root` or below it."""
    return os.path.commonpath([root, path]) == root
