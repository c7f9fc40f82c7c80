"""A Keras command from start to exit: incept's loading order against the one before 0.3.3.

TensorFlow must not load before triton (torch's kernel compiler): the other order
segfaults. incept 0.3.2 made sure of it by importing torch and torch._dynamo (which
loads triton) before TensorFlow in every Keras command; 0.3.3 imports triton alone.
The reference, timed in the same run, is the command with torch and torch._dynamo
imported first, as 0.3.2 did; the two alternate, each in a new process.

    python -m incept.bench.keras_startup [--repeats 5] -- ARGS...

ARGS is an incept command line, e.g. `eval RUN_DIR --device cpu --json` for a Keras run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CURRENT = "from incept.compiler.cli import main; main()"
REFERENCE = "import torch, torch._dynamo; " + CURRENT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m incept.bench.keras_startup")
    parser.add_argument("--repeats", type=_positive, default=5, help="runs of each (default 5)")
    parser.add_argument("args", nargs="+", metavar="ARGS", help="the incept command line")
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a positive count")
    return int(value)


def _seconds(code: str, args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"incept {' '.join(args)}: exit status {done.returncode}: {tail}")
    return seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = _parser().parse_args(argv)
    times: dict[str, list[float]] = {"triton first": [], "torch first": []}
    for i in range(args.repeats):  # alternate which goes first
        runs = [("triton first", CURRENT), ("torch first", REFERENCE)]
        for label, code in runs if i % 2 == 0 else runs[::-1]:
            times[label].append(_seconds(code, args.args))
    medians = {label: statistics.median(values) for label, values in times.items()}
    ratio = medians["torch first"] / medians["triton first"]
    print(f"incept {' '.join(args.args)}: median of {args.repeats} runs each")
    for label, values in times.items():
        print(f"  {label:12s} {medians[label]:7.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"  speed-up     {ratio:7.2f}x")
    return {**medians, "ratio": ratio}


if __name__ == "__main__":
    main()
