"""The committed generated modules pass ruff with annotation rules (ANN): every function,
method and argument of generated torch and Keras code is typed."""

from __future__ import annotations

import subprocess

from genload import ROOT
from ruff.__main__ import find_ruff_bin

RULES = "E,F,W,I,B,UP,ANN"


def test_generated_files_pass_ruff_with_annotations():
    files = sorted((ROOT / "generated").glob("*.py"))
    shipped = sorted((ROOT / "specs").glob("*.yaml"))
    assert len(shipped) == 18
    assert len(files) == 2 * len(shipped)  # one module per shipped spec and backend
    result = subprocess.run(
        [find_ruff_bin(), "check", "--isolated", "--target-version", "py311"]
        + ["--select", RULES, "--ignore", "E501", "--output-format", "concise", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
