"""The invalid-spec corpus: every file under tests/data/invalid/ is a bad spec whose
first line says how it must fail:

    # expect: <code> <file>:<line>:<col> <message fragment>

`<file>` is the spec itself or, for errors found in a base, the base (bases/ holds the
bases; they are not specs of the corpus). Each spec is compiled for both backends: one
located line, exit status 2, no traceback, nothing written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from incept.compiler.cli import main
from incept.compiler.errors import Code

CORPUS = Path(__file__).parent / "data" / "invalid"
SPECS = sorted(p.name for p in CORPUS.glob("*.yaml"))
EXPECT = re.compile(rb"^# expect: ([a-z-]+) (\S+):(\d+):(\d+) (.+)\n")


def expectation(name: str) -> tuple[str, str, str]:
    """(code, "file:line:col", fragment) from the spec's first line."""
    found = EXPECT.match((CORPUS / name).read_bytes())
    assert found, f"{name}: first line must be '# expect: <code> <file>:<line>:<col> <text>'"
    code, file, line, col, fragment = (g.decode() for g in found.groups())
    return code, f"{file}:{line}:{col}", fragment


def test_corpus_size_and_coverage():
    assert len(SPECS) >= 80
    codes = {expectation(name)[0] for name in SPECS}
    # Every code a spec can cause (io needs a missing file, internal a compiler bug).
    assert codes == {c.value for c in Code} - {"io", "internal"}


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", SPECS)
def test_invalid_spec_fails_as_expected(name, backend, tmp_path, monkeypatch):
    code, where, fragment = expectation(name)
    monkeypatch.chdir(CORPUS)
    out = tmp_path / "out.py"
    result = CliRunner().invoke(main, ["compile", name, "--backend", backend, "-o", str(out)])
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    line = result.stderr
    assert line.endswith("\n") and line.count("\n") == 1, line
    assert line.startswith(f"{where}: error[{code}]: "), line
    assert fragment in line, line
    assert not out.exists() and list(tmp_path.iterdir()) == []


#: pydantic's own phrasings: none may reach the user (compiler/spec/messages.py words them).
PYDANTIC_WORDING = (
    "input should",
    "field required",
    "extra inputs are not permitted",
    "validation error",
    "after validation",
    "valid dictionary",
    "instance of",
    "should have at",
    "value error",
    "string should",
    "list should",
    "tuple should",
    "[type=",
    "errors.pydantic.dev",
)


def test_no_pydantic_wording_in_any_error(monkeypatch):
    """Every spec of the corpus fails in incept's own words."""
    monkeypatch.chdir(CORPUS)
    lines = [CliRunner().invoke(main, ["check", name]).stderr for name in SPECS]
    assert all(line.count("\n") == 1 for line in lines)
    leaks = [line for line in lines for words in PYDANTIC_WORDING if words in line.lower()]
    assert leaks == []
    # The schema's errors are among them: range, length, choice, type and key errors.
    assert sum("error[value]" in line or "error[type]" in line for line in lines) >= 30
