"""What both comparisons share: alternating timing, the machine, the table, the JSON."""

from __future__ import annotations

import atexit
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

#: A timed step: runs once and returns its duration in seconds.
Timer = Callable[[], float]


def import_generated(graph: Any, backend: str, options: tuple[str, ...] = ()) -> ModuleType:
    """Compile `graph` with `backend` (and its emit `options`) into a temporary directory
    and import the module the way `incept train` does (the directory lives until the
    process ends: tracebacks and torch.compile read it)."""
    from incept.backends import get_backend
    from incept.runtime.model_source import import_source

    directory = Path(tempfile.mkdtemp(prefix="incept-bench-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return import_source(
        get_backend(backend).render(graph, options), directory / f"model_{backend}.py"
    )


def alternate(generated: Timer, reference: Timer, warmup: int, repeats: int) -> dict[str, Any]:
    """Time both models in turn (gen, ref, gen, ref, ...) so that a machine that slows
    down or speeds up mid-run affects both alike; warm-up steps are not recorded."""
    for _ in range(warmup):
        generated()
        reference()
    times: dict[str, list[float]] = {"generated": [], "reference": []}
    for _ in range(repeats):
        times["generated"].append(generated())
        times["reference"].append(reference())
    return times


def row(settings: dict[str, Any], batch: int, times: dict[str, list[float]]) -> dict[str, Any]:
    """One result: each model's median step time and img/s, and their ratio."""
    out: dict[str, Any] = {**settings, "batch": batch}
    for who, ts in times.items():
        median = statistics.median(ts)
        out[who] = {"median_s": median, "img_per_s": batch / median, "times_s": ts}
    out["ratio"] = out["generated"]["img_per_s"] / out["reference"]["img_per_s"]
    label = " ".join(str(v) for v in settings.values())
    print(f"  {label}, batch {batch}: ratio {out['ratio']:.2f}", file=sys.stderr, flush=True)
    return out


def add_flops(row: dict[str, Any], graph: Any, aux: bool) -> None:
    """The work each step does, as achieved GFLOP/s (2 FLOPs per MAC, the IR's count):
    a forward pass for inference; about 3 forward passes' worth for a training step
    (the backward pass computes gradients for inputs and weights), aux heads included
    when on. Against the hardware's peak, this says how far a step is from its floor."""
    forward = 2 * graph.macs(aux=aux and row["mode"] == "train")
    flops = forward * (3 if row["mode"] == "train" else 1)
    row["flops_per_image"] = flops
    for who in ("generated", "reference"):
        row[who]["gflop_per_s"] = flops * row[who]["img_per_s"] / 1e9


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(gpu: str | None) -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpu": gpu,
        "python": platform.python_version(),
    }


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    m = report["machine"]
    console.print(
        f"{report['spec']} vs {report['vs']}  ({report['date']}; {m['cpu']}, {m['cpus']} CPUs"
        + (f", {m['gpu']}" if m["gpu"] else ", no GPU")
        + ")"
    )
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    for line in report["check"]["lines"]:
        console.print(line)
    table = Table(title="img/s, median of repeats (ratio = generated / reference)")
    for name in ("mode", "precision", "layout", "compile", "batch"):
        table.add_column(name)
    names = ("generated ms", "reference ms", "generated img/s", "reference img/s", "GFLOP/s")
    for name in (*names, "ratio"):
        table.add_column(name, justify="right")
    for r in report["results"]:
        g, ref = r["generated"], r["reference"]
        table.add_row(
            r["mode"],
            r["precision"],
            r["memory_format"],
            r["compile"],
            str(r["batch"]),
            f"{g['median_s'] * 1000:.1f}",
            f"{ref['median_s'] * 1000:.1f}",
            f"{g['img_per_s']:.1f}",
            f"{ref['img_per_s']:.1f}",
            f"{g.get('gflop_per_s', 0):.0f}",
            f"{r['ratio']:.2f}x",
        )
    console.print(table)
    for prof in report["check"].get("profiles", []):
        setting = f"{prof['mode']} {prof['precision']} {prof['memory_format']} {prof['compile']}"
        console.print(f"where the generated module's time goes ({setting}, {prof['by']}):")
        for op in prof["ops"]:
            console.print(
                f"  {op['share']:6.1%}  {op['ms_per_step']:8.2f} ms  x{op['calls']:<4} {op['op']}"
            )


def write_json(path: Path, report: dict[str, Any]) -> None:
    from incept.compiler.files import write_atomic

    write_atomic(path, json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
