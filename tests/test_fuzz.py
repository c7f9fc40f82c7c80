"""Mutation fuzzing: valid specs, damaged, never crash the compiler.

Each example takes a valid spec (a small one with a block and an aux head, the shipped
googlenet.yaml, or a child extending the small one), applies a few mutations (keys dropped,
values swapped, types changed, list items dropped or repeated, unicode and control
characters put into keys and values, YAML text cut, repeated or sprinkled with YAML
punctuation) and compiles it for both backends. The answer must be exit status 0 (and
then the output is Python that parses) or 2 with one located line: never a traceback,
never another status.

Examples per run: FUZZ_EXAMPLES below, per hypothesis profile (HYPOTHESIS_PROFILE: "ci",
fixed seed, the default; "thorough" for local runs).
"""

from __future__ import annotations

import ast
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import specgen  # noqa: F401  (registers and loads the hypothesis profiles)
from click.testing import CliRunner
from conftest import SPECS
from hypothesis import event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_invalid_corpus import PYDANTIC_WORDING

from incept.compiler.cli import main

FUZZ_EXAMPLES = {"ci": 300, "thorough": 4000}[os.environ.get("HYPOTHESIS_PROFILE", "ci")]

SMALL = """\
name: small
description: A small spec.
input: {channels: 3, size: 16}
num_classes: 10
defaults: {conv: {norm: bn}}
blocks:
  mix:
    doc: Two branches.
    params: [a, b]
    branches:
      left:
        - {op: conv, name: c1, out: $a, kernel: 1}
      right:
        - {op: conv, name: c3, out: $b, kernel: 3, padding: 1}
        - {op: maxpool, kernel: 3, stride: 1, padding: 1}
layers:
  - {name: stem, op: conv, out: 8, kernel: 3, padding: 1, output: 16x16x8}
  - {name: pool, op: maxpool, kernel: 2, stride: 2}
  - {name: mix1, op: mix, a: 4, b: 6, output: 8x8x10}
  - {name: norm, op: lrn, size: 5, alpha: 0.0001, beta: 0.75}
  - {name: gap, op: adaptive_avgpool}
  - {op: flatten}
  - {op: dropout, p: 0.4}
  - {name: fc, op: linear, out: $num_classes}
aux_heads:
  - {name: aux, from: mix1, op: mix, a: 2, b: 2, loss_weight: 0.3}
"""
CHILD = """\
extends: base.yaml
name: child
width_multiplier: 0.5
patch:
  - {row: norm, delete: true}
  - {row: '*', unset: [output]}
"""
SEEDS = {
    "small": SMALL,
    "googlenet": (SPECS / "googlenet.yaml").read_text(),
    "child": CHILD,
}
#: Characters that have broken parsers, escapers and terminals before.
NASTY = [
    "\x00", "\x07", "\x1b[2J", "\r", "\t", "\n", "\x85", "\u2028", "\u202e", "\ufb01",
    "\uff42", "\u2168", "é", "\U0001f600", '"', "'", "\\", '"""', "{{", "{%", "$", "#",
    ":", "- ", "&a", "*a", "!!python/object:os.system", "<<", "~", "",
]  # fmt: skip
#: Values of every YAML type, the odd and the huge included.
VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 3, 7, 2**31, 2**53, 2**60, 10**30, 0.5, -0.0, 1e-300,
    1e300, float("inf"), float("-inf"), float("nan"), "", "x", "conv", "inception",
    "$a", "$num_classes", "28x28x256", "../../../etc/passwd", [], [1], [1, 2, 3], {},
    {"op": "flatten"}, {"row": "*", "unset": ["output"]},
]  # fmt: skip
PUNCTUATION = ":-[]{}&*!|>#'\"%@`,?\t\n "

_yaml = YAML(typ="safe", pure=True)
_yaml.allow_unicode = True


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in `data` (keys and indices)."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _set(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(data, path[:-1])[path[-1]] = value
    return data


def mutate_data(draw: Any, data: Any) -> Any:
    """One structural mutation of loaded spec data."""
    paths = _paths(data)
    path = draw(st.sampled_from(paths))
    parent = _get(data, path[:-1]) if path else None
    kind = draw(st.sampled_from(["drop", "swap", "retype", "text", "key", "repeat"]))
    if kind == "drop" and path:
        del parent[path[-1]]
    elif kind == "swap":
        other = draw(st.sampled_from(paths))
        a, b = _get(data, path), _get(data, other)
        if path[: len(other)] != other and other[: len(path)] != path:  # neither inside
            data = _set(_set(data, path, b), other, a)
    elif kind == "retype":
        data = _set(data, path, draw(st.sampled_from(VALUES)))
    elif kind == "text":
        value = _get(data, path)
        text = value if isinstance(value, str) else str(value)
        at = draw(st.integers(0, len(text)))
        data = _set(data, path, text[:at] + draw(st.sampled_from(NASTY)) + text[at:])
    elif kind == "key" and isinstance(parent, dict):
        key = path[-1]
        new = str(key) + draw(st.sampled_from(NASTY))
        parent[new] = parent.pop(key)
    elif kind == "repeat" and isinstance(parent, list):
        parent.insert(path[-1], parent[path[-1]])
    return data


def mutate_text(draw: Any, text: str) -> str:
    """One textual mutation: YAML damaged where structure lives."""
    kind = draw(st.sampled_from(["cut", "insert", "line", "swap"]))
    at = draw(st.integers(0, len(text)))
    if kind == "cut":
        return text[:at] + text[at + draw(st.integers(1, 40)) :]
    if kind == "insert":
        pieces = st.sampled_from(list(PUNCTUATION)) | st.sampled_from(NASTY)
        junk = "".join(draw(st.lists(pieces, min_size=1, max_size=4)))
        return text[:at] + junk + text[at:]
    lines = text.splitlines(keepends=True)
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    if kind == "line":
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


@st.composite
def mutated(draw: Any) -> tuple[str, str]:
    """(seed name, mutated text of the file that is compiled)."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    text = SEEDS[name]
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        if draw(st.integers(0, 3)):  # structure 3 times in 4: text damage mostly ends it
            data = _yaml.load(text)
            data = mutate_data(draw, data)
            out = io.StringIO()
            try:
                _yaml.dump(data, out)
            except Exception:  # a value our dumper cannot write (not the compiler's job)
                continue
            text = out.getvalue()
        else:
            text = mutate_text(draw, text)
        try:  # stop mutating data once the text no longer loads as YAML
            _yaml.load(text)
        except Exception:
            break
    return name, text


def _compile(spec: Path, backend: str, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compile", str(spec), "-b", backend, "-o", str(out)])
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    return result.exit_code, result.stderr


LINE = re.compile(r"^[^\n]+:\d+:\d+: error\[[a-z-]+\]: [^\n]+\n$")


@settings(max_examples=FUZZ_EXAMPLES)
@given(case=mutated())
def test_mutated_specs_never_crash(case):
    seed, text = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pyproject.toml").touch()
        (folder / "base.yaml").write_text(SMALL)
        spec = folder / "spec.yaml"
        spec.write_bytes(text.encode("utf-8", "surrogatepass"))
        for backend in ("torch", "keras"):
            out = folder / f"out_{backend}.py"
            status, stderr = _compile(spec, backend, out)
            assert status in (0, 2), (status, stderr)
            event(f"{seed}: " + (stderr.split("error[")[1].split("]")[0] if status else "compiled"))
            if status == 2:
                assert LINE.match(stderr), stderr
                assert not any(words in stderr.lower() for words in PYDANTIC_WORDING), stderr
                assert not out.exists()
            else:
                ast.parse(out.read_text())
