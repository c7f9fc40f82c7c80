"""Where the wall time of `incept compile SPEC --backend torch` goes, phase by phase.

Each run is a fresh interpreter that performs the steps `incept compile` performs, with
a clock read between them; the table shows each phase's median over --runs (a first run
is dropped: it warms the file cache). The interpreter's own start-up is timed apart
(`python -c pass`). A companion to bench/compile_time.py, which times the real command.

    python bench/compile_phases.py [--spec specs/googlenet.yaml] [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
from incept.compiler import plugins; plugins.disable()
import click; mark("import click")
import pydantic.main; mark("import pydantic")
import incept.compiler.cli; mark("import incept.compiler.cli (spec models, IR, commands)")
from incept.compiler.pipeline import build_graph
graph = build_graph(sys.argv[1]); mark("build_graph: read YAML, validate, lower, infer")
# ruamel loads only for YAML outside the quick reader's subset (compiler/spec/quick.py).
assert "ruamel.yaml" not in sys.modules
from incept.backends import get_backend, common
backend = get_backend("torch"); mark("import jinja2 + the torch backend")
fmt = common.format_python
spent = []
def timed(source):
    t = time.perf_counter(); out = fmt(source); spent.append(time.perf_counter() - t); return out
common.format_python = timed
text = backend.render(graph); mark("render (templates + ruff format + stamp)")
incept.compiler.files.write_atomic(__import__("pathlib").Path(sys.argv[2]), text); mark("write")
out = {name: t - marks[i][1] for i, (name, t) in enumerate(marks[1:])}
out["  of which ruff format (cached, else a subprocess)"] = sum(spent)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/googlenet.yaml")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    phases: dict[str, list[float]] = {}
    starts = []
    out = "/tmp/incept-compile-phases.py"
    for i in range(args.runs + 1):
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        startup = time.perf_counter() - begin
        result = subprocess.run(
            [sys.executable, "-c", CHILD, args.spec, out],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        if i == 0:
            continue
        starts.append(startup)
        for name, seconds in json.loads(result.stdout).items():
            phases.setdefault(name, []).append(seconds)
    print(f"{args.spec}, median of {args.runs} fresh processes:")
    print(
        f"  {'interpreter start-up (python -c pass)':58s} {statistics.median(starts) * 1e3:6.1f} ms"
    )
    for name, values in phases.items():
        print(f"  {name:58s} {statistics.median(values) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
