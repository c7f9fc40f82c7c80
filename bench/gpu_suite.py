"""The GPU suite: every GPU measurement the issues ask for, one command, one folder.

    python -m incept.bench.gpu_suite OUT [--smoke] [--budget 450] [--only NAMES]
        [--skip NAMES] [--data-dir DIR] [--epochs N]
    bench/gpu_suite.sh OUT [...]   (on a bare GPU machine: installs what
                                    bench/gpu_carry.sh put in carry/, then this)

The steps (gpu_steps.py) run in order as child processes, each logging to
OUT/<step>.log: the machine, the bench comparisons (generated module vs torchvision or
timm in one process), `incept train` on Fashion-MNIST into OUT/runs/, `incept eval` of
that run, then the Keras run where Keras and TensorFlow import. A step that fails or
runs past its time is recorded and the next one runs. Each step's limit is the smaller
of its own cap and what is left of --budget (seconds for the whole suite); a step
stopped at its limit gets SIGTERM (`incept train` then saves its place), then SIGKILL
after GRACE_S. A step that would start with under MIN_START_S left is skipped. At the
end OUT/summary.json and OUT/summary.md hold each step's status, wall time and key
figures; the exit status is 1 when a step failed or ran out of time.

--only / --skip take comma-separated step names or patterns (`bench-*-bf16*`).
--smoke: the same commands on the CPU at toy sizes (batch 2, one timed step, one
epoch of 256 images), the heavy ones skipped: every code path in about a minute.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import bench_common, gpu_summary
from .gpu_steps import Step, plan

GRACE_S = 20.0  # after SIGTERM: time for `incept train` to write its checkpoint
MIN_START_S = 20.0  # a step is not started with less than this left of the budget


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m incept.bench.gpu_suite", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU")
    parser.add_argument("--budget", type=float, help="seconds [default: 450; --smoke 600]")
    parser.add_argument("--only", type=_patterns, help="run only these steps")
    parser.add_argument("--skip", type=_patterns, default=(), help="skip these steps")
    parser.add_argument("--data-dir", help="Fashion-MNIST IDX folder [incept's default]")
    parser.add_argument("--epochs", type=int, help="training epochs [default: gpu_steps.py]")
    parser.add_argument("--install-log", type=Path, help=argparse.SUPPRESS)  # gpu_suite.sh's
    return parser


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def incept_command() -> list[str]:
    """The `incept` beside this interpreter (as a user's shell finds it in an activated
    environment), else the same entry point through this interpreter."""
    script = Path(sys.executable).with_name("incept")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from incept.compiler.cli import main; main(prog_name='incept')"]


def skip_reason(step: Step, args: argparse.Namespace, done: dict[str, dict[str, Any]]) -> str:
    """Why `step` does not run ('' when it does)."""
    if args.only is not None and not any(fnmatch.fnmatch(step.name, p) for p in args.only):
        return "not selected (--only)"
    if any(fnmatch.fnmatch(step.name, p) for p in args.skip):
        return "not selected (--skip)"
    if args.smoke and not step.smoke:
        return "--smoke (a larger size of a path another step runs)"
    missing = [m for m in step.needs if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not importable"
    if step.argv[0] not in ("incept", "python") and shutil.which(step.argv[0]) is None:
        return f"no {step.argv[0]} on PATH"
    if step.after and done.get(step.after, {}).get("status") == "skipped":
        return f"{step.after} was skipped"
    return ""


def run_step(step: Step, out: Path, limit: float, env: dict[str, str]) -> dict[str, Any]:
    """Run `step` with a time limit: its output to OUT/<name>.log (standard output to
    step.stdout when set); its status, exit code and wall time."""
    head = {"incept": incept_command(), "python": [sys.executable]}.get(step.argv[0])
    argv = [*head, *step.argv[1:]] if head else list(step.argv)
    log_path = out / f"{step.name}.log"
    with log_path.open("w") as log:
        log.write(f"$ {shlex.join(step.argv)}\n")
        log.flush()
        stdout = (out / step.stdout).open("w") if step.stdout else log
        start = time.monotonic()
        try:
            child = subprocess.Popen(
                argv, stdout=stdout, stderr=log, cwd=out, env=env, start_new_session=True
            )
            code, timed_out = _wait(child, limit)
        finally:
            if stdout is not log:
                stdout.close()
        wall = time.monotonic() - start
        status = "timeout" if timed_out else ("ok" if code == 0 else "failed")
        log.write(f"\n[suite] {step.name}: {status} (exit {code}) after {wall:.1f} s\n")
    return {"status": status, "exit": code, "wall_s": round(wall, 2), "limit_s": round(limit)}


def _wait(child: subprocess.Popen, limit: float) -> tuple[int, bool]:
    """The child's exit code, and whether it ran past `limit` (then it and its children
    get SIGTERM, and SIGKILL after GRACE_S)."""
    try:
        return child.wait(timeout=limit), False
    except subprocess.TimeoutExpired:
        pass
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            return child.wait(timeout=wait), True
        except subprocess.TimeoutExpired:
            continue
    return child.wait(), True


def run_suite(args: argparse.Namespace) -> int:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    budget = args.budget or (600.0 if args.smoke else 450.0)
    started, clock = bench_common.utc_now(), time.monotonic()
    deadline = clock + budget
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    steps = plan(str(out), args.smoke, args.data_dir, args.epochs)
    done: dict[str, dict[str, Any]] = {}
    for step in steps:
        record: dict[str, Any] = {"name": step.name, "command": shlex.join(step.argv)}
        reason = skip_reason(step, args, done)
        left = deadline - time.monotonic() - GRACE_S
        if not reason and left < MIN_START_S:
            reason = f"the suite's budget ({budget:.0f} s) is spent"
        if reason:
            record |= {"status": "skipped", "reason": reason}
            (out / f"{step.name}.log").write_text(f"$ {record['command']}\nskipped: {reason}\n")
        else:
            record |= run_step(step, out, min(step.cap_s, left), env)
        record["log"] = f"{step.name}.log"
        done[step.name] = record
        print(f"[suite] {step.name}: {_said(record)}", flush=True)
    report = {
        "smoke": args.smoke,
        "started": started,
        "finished": bench_common.utc_now(),
        "budget_s": budget,
        "wall_s": round(time.monotonic() - clock, 1),
        "install": gpu_summary.install_record(args.install_log),
    }
    summary = gpu_summary.write(out, steps, done, report)
    print(f"[suite] wrote {out / 'summary.md'} and {out / 'summary.json'}", flush=True)
    return 1 if summary["failed"] else 0


def _said(record: dict[str, Any]) -> str:
    if record["status"] == "skipped":
        return f"skipped: {record['reason']}"
    return f"{record['status']} (exit {record['exit']}) in {record['wall_s']:.1f} s"


def main(argv: list[str] | None = None) -> int:
    return run_suite(_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
