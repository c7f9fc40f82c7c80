"""Wall time of `incept compile specs/googlenet.yaml --backend torch`, end to end.

Each run is a fresh process, as a user runs it. The reference, timed in the same
run the same way, is `python -c "import torch"`: what any user of the generated
module pays before the first layer runs. Prints medians and their ratio.

    python -m incept.bench.compile_time [--runs 11]   (in a checkout: it times specs/)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def user_env() -> dict[str, str]:
    """The environment a user's shell has: Python caches bytecode (.pyc). Some sandboxes
    and CI images set PYTHONDONTWRITEBYTECODE, which makes every run recompile incept's
    sources (about a third of the wall time measured here); the warm-up run writes them."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    env = user_env()
    for _ in range(runs + 1):  # the first run warms the OS file cache and is dropped
        start = time.perf_counter()
        subprocess.run(
            cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    incept = shutil.which("incept", path=os.path.dirname(sys.executable)) or "incept"
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "googlenet_torch.py")
        compile_cmd = [incept, "compile", "specs/googlenet.yaml", "--backend", "torch", "-o", out]
        ours = median_seconds(compile_cmd, args.runs)
    reference = median_seconds([sys.executable, "-c", "import torch"], args.runs)
    print(
        f"incept compile specs/googlenet.yaml --backend torch: median {ours:.3f} s over {args.runs} runs"
    )
    print(f"python -c 'import torch' (reference):             median {reference:.3f} s")
    print(f"ratio compile / import torch: {ours / reference:.2f}")


if __name__ == "__main__":
    main()
