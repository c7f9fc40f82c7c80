"""Specs built to exhaust the machine are refused fast and small: each runs in a child
process under a 128 MiB address-space cap and a 5 s CPU cap (`resource`), and must end
with its one error line in well under a second."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from incept.compiler.limits import MAX_DEPTH
from incept.compiler.spec.plain import check_flow_depth

MEMORY_CAP = 128 * 2**20
CHILD = """
import json, sys, time
from incept.compiler.errors import SpecError
from incept.compiler.pipeline import build_graph
start = time.perf_counter()
try:
    build_graph(sys.argv[1])
    line = "ok"
except SpecError as err:
    line = str(err)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter keeps the forking parent's (pytest's) high-water mark.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
peak = int(hwm.split()[1]) * 1024
print(json.dumps({"line": line, "seconds": seconds, "peak": peak}))
"""


def _caps() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (5, 5))


def build_capped(path: Path | str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        preexec_fn=_caps,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def billion_laughs(levels: int = 9) -> str:
    rows = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        rows.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(rows) + "\n"  # 10**10 strings once expanded


CASES = {
    "alias-bomb": (billion_laughs, "bomb.yaml:4:45: error[limit]: the spec has more than 10,000 YAML nodes"),
    "deep-flow": (lambda: "a: " + "[" * 100_000 + "]" * 100_000 + "\n", "deep-flow.yaml:1:36: error[limit]: the spec nests deeper than 32 levels"),
    "deep-block": (lambda: "- " * 100_000 + "x\n", "deep-block.yaml:1:65: error[limit]: the spec nests deeper than 32 levels"),
    "oversized": (lambda: "- {op: flatten}\n" * 1_300_000, "oversized.yaml:1:1: error[limit]: the spec file is larger than 256 KiB"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_fast_and_small(tmp_path, case):
    make, expected = CASES[case]
    name = "bomb.yaml" if case == "alias-bomb" else f"{case}.yaml"
    (tmp_path / name).write_text(make())
    result = build_capped(tmp_path / name)
    assert result["line"].startswith(str(tmp_path / expected))
    assert result["seconds"] < 0.25
    assert result["peak"] < 100 * 2**20


def test_endless_file_is_read_no_further_than_the_limit():
    result = build_capped("/dev/zero")
    assert result["line"] == "/dev/zero:1:1: error[limit]: the spec file is larger than 256 KiB"
    assert result["seconds"] < 0.25


def test_the_caps_leave_room_for_a_real_spec():
    """The control: the largest shipped spec builds under the same caps."""
    specs = Path(__file__).resolve().parent.parent / "specs"
    result = build_capped(specs / "inception-v3.yaml")
    assert result["line"] == "ok"
    assert result["peak"] < 100 * 2**20


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        (b"a: " + b"[" * (MAX_DEPTH + 1), 3 + MAX_DEPTH),
        (b"a: " + b"[]" * 1000, None),  # wide, not deep
        (b'a: "' + b"[" * 100 + b'"', None),  # inside double quotes
        (b"a: '" + b"{" * 100 + b"'", None),  # inside single quotes
        (b"a: 'it''s " + b"{" * 100 + b"'", None),  # '' does not end single quotes
        (b'a: "\\"' + b"[" * 100 + b'"', None),  # an escaped quote does not end the string
        (b"a: 1 # " + b"[" * 100 + b"\nb: " + b"[" * 40, 11 + 100 + MAX_DEPTH),  # comment skipped
        (b"a: don't [" + b"[" * MAX_DEPTH, 9 + MAX_DEPTH),  # an apostrophe is not a quote
    ],
)
def test_flow_depth_prescan(text, offset):
    assert check_flow_depth(text) == offset
