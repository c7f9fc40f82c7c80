"""`make typecheck` sees the backends' IR types: mypy, run on the installed layout (see
docs/architecture.md), rejects a backend that misuses a Graph field."""

from __future__ import annotations

import subprocess
import sys

import pytest
from genload import ROOT

pytest.importorskip("mypy")

BAD = """
from incept.compiler.ir.graph import Graph


def label(graph: Graph) -> str:
    return graph.spec_sha256 + graph.num_classes  # str + int
"""


def test_mypy_rejects_a_backend_misusing_the_ir(tmp_path):
    package = tmp_path / "incept"
    (package / "backends").mkdir(parents=True)
    (package / "compiler").symlink_to(ROOT / "compiler")
    (package / "backends" / "__init__.py").write_text("")
    (package / "backends" / "bad.py").write_text(BAD)
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    command += ["--cache-dir", str(tmp_path / "cache"), "-m", "incept.backends.bad"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stdout
    assert 'bad.py:6: error: Unsupported operand types for + ("str" and "int")' in result.stdout
