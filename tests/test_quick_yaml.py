"""The quick YAML reader (compiler/spec/quick.py) agrees with ruamel on everything it reads.

Whatever quick.py accepts must give exactly ruamel's data (same types) and positions,
and the same error when a scalar fails its check; anything else it must hand back
(None) for ruamel to read. Checked on every YAML file in the repository, on specs the
generator draws, and on thousands of small corruptions of the shipped specs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import given
from specgen import specs, write_spec

from incept.compiler.errors import Loc, SpecError
from incept.compiler.spec import quick, source

YAML_FILES = sorted(
    p for p in [*ROOT.glob("specs/*.yaml"), *ROOT.glob("tests/**/*.yaml")] if p.is_file()
)
SHIPPED = sorted(ROOT.glob("specs/*.yaml"))


def _typed(value: Any) -> Any:
    """`value` with the exact type of every part spelt out (True is not 1, 1.0 not 1)."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__qualname__, value)


def _outcome(read: Any) -> Any:
    try:
        found = read()
    except SpecError as err:
        return ("error", str(err))
    if found is None:
        return None
    data, positions = found
    return _typed(data), positions


def _ruamel(raw: bytes) -> Any:
    def read() -> Any:
        positions: dict[Any, Loc] = {(): Loc("s.yaml", 1, 1)}
        return source._plain(source._load(raw, "s.yaml"), (), positions, "s.yaml"), positions

    return _outcome(read)


def agree(raw: bytes) -> bool:
    """Whether quick.py read `raw` (asserting it agrees with ruamel if so)."""
    fast = _outcome(lambda: source._read_quick(raw, "s.yaml"))
    if fast is None:
        return False
    assert fast == _ruamel(raw), raw.decode("utf-8", "replace")
    return True


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_reads_as_ruamel_reads_it(path):
    agree(path.read_bytes())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_specs_take_the_quick_path(path):
    """The point of quick.py: a shipped spec never waits for ruamel."""
    assert agree(path.read_bytes())


@given(spec=specs())
def test_generated_specs_read_as_ruamel_reads_them(spec, tmp_path_factory):
    path = write_spec(spec, tmp_path_factory.mktemp("gen") / "s.yaml")
    assert agree(path.read_bytes())  # ruamel's dumper writes only the subset quick.py reads


#: Pieces spliced into specs: YAML syntax quick.py must either read right or refuse.
PIECES = [
    "",
    " ",
    "  ",
    "\n",
    "\n  ",
    "#",
    " #",
    ":",
    ": ",
    "-",
    "- ",
    ",",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "&a ",
    "*a",
    "!!str ",
    "|",
    ">",
    "?",
    "%",
    "@",
    "`",
    "~",
    "=",
    ".",
    "\t",
    "\\",
    "<<: ",
    "0",
    "00",
    "1e5",
    "0x1F",
    "0o7",
    "1_0",
    "-1",
    "+1",
    ".5",
    "1.",
    ".inf",
    "True",
    "NULL",
    "null",
    "yes",
    "2001-12-14",
    "12:30",
    "\u00a0",
    "\u2028",
    "\x01",
    "\ufeff",
    "é",
    "---\n",
    "...\n",
    "a: b",
    "[1, 2]",
    "{a: 1}",
    '"x"',
    "x\n y",
]


def test_corrupted_specs_read_as_ruamel_reads_them():
    """Deterministic corruption: a piece inserted at, or a few characters replaced at, a
    random offset of a shipped spec. Also checks that many stay on the quick path."""
    rng = random.Random(20261202)
    texts = [p.read_text() for p in SHIPPED]
    quick_ones = 0
    for _ in range(300):
        text = rng.choice(texts)
        at = rng.randrange(len(text))
        cut = rng.choice((0, 0, 1, 2))
        mutated = text[:at] + rng.choice(PIECES) + text[at + cut :]
        quick_ones += agree(mutated.encode("utf-8"))
    assert quick_ones > 100


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "a: |\n  text\n",  # block scalars
        "a: b\n  c\n",  # a multi-line plain scalar
        "a: [1,\n2]\n",  # a flow collection whose next line is not indented
        "a: [x\n  y]\n",  # a plain scalar folded over two lines
        'a: ["x\n  y"]\n',  # a quoted one
        "a: 1\na: 2\n",  # a duplicate key (ruamel words the error)
        'a: "x\\ty"\n',  # escapes
        "a: 1_000\n",  # number forms left to ruamel
        "a: 0x1F\n",
        "a: 1_a\n",
        "a: .5\n",
        "a:\n",  # an empty value
        "%YAML 1.1\n---\na: yes\n",  # a directive
        "<<: {a: 1}\nb: 2\n",  # a merge key
    ],
)
def test_what_quick_leaves_to_ruamel(text):
    assert quick.read(text) is None


def test_values_and_positions_of_a_small_spec():
    text = 'a: 1\nb:\n  - {c: x, d: [1.5, -2]}\n  - e: "q"\n    f: true\ng:\n- 1e-05\n'
    data, marks = quick.read(text)  # type: ignore[misc]
    assert data == {
        "a": 1,
        "b": [{"c": "x", "d": [1.5, -2]}, {"e": "q", "f": True}],
        "g": [1e-05],
    }
    assert marks[("b", 0, "d", 1)] == (2, 20)
    assert marks[("b", 1, "f", "<key>")] == (4, 4)
    assert marks[("b",)] == (2, 2)
    assert agree(text.encode())


def test_flow_collections_over_several_lines():
    text = "a: {b: [1,\n    2], c:\n    x}\nd: 3\n"
    data, marks = quick.read(text)  # type: ignore[misc]
    assert data == {"a": {"b": [1, 2], "c": "x"}, "d": 3}
    assert marks[("a", "b", 1)] == (1, 4)
    assert marks[("a", "c")] == (2, 4)
    assert marks[("d", "<key>")] == (3, 0)
    assert agree(text.encode())


def test_a_bad_scalar_fails_with_ruamels_error():
    """check_scalar runs on quick's data too, at the same place."""
    raw = b"name: x\nbig: 100000000000000000000\n"
    assert agree(raw)
    with pytest.raises(SpecError, match=r"s.yaml:2:6: error\[limit\]"):
        source._read_quick(raw, "s.yaml")


def test_read_source_uses_both_readers_alike(tmp_path: Path):
    spec = (ROOT / "specs" / "googlenet.yaml").read_text()
    quick_path = tmp_path / "q.yaml"
    quick_path.write_text(spec)
    slow_path = tmp_path / "s.yaml"
    slow_path.write_text(spec.replace("name: googlenet\n", "name: 'googlenet'\n"))
    assert quick.read(slow_path.read_text()) is None
    fast, slow = source.read_source(quick_path), source.read_source(slow_path)
    assert _typed(fast.data) == _typed(slow.data)
    assert {p: (loc.line, loc.col) for p, loc in fast.positions.items()} == {
        p: (loc.line, loc.col) for p, loc in slow.positions.items()
    }
