"""Generated module vs its reference, in one process, on the same input.

    incept bench SPEC --vs torchvision|timm [--batch N] [--modes infer,train,latency]
        [--precisions fp32,bf16] [--formats contiguous,channels_last] [--compile off,on]
        [--repeats 10] [--warmup 3] [--json FILE]
    incept bench SPEC --vs keras-reference [--batch 8] [--modes ...] [--json FILE]

(`python -m incept.bench.bench ...` is the same command.) torch: the spec compiled with the
torch backend vs torchvision's GoogLeNet / Inception-v3 or timm's model of the same
network (bench_torch.py, torch_references.py); Keras: the spec compiled
with the Keras backend vs the hand-written GoogLeNet in keras_reference.py
(bench_keras.py). Prints a table of img/s and ratios (generated / reference: above 1 means
the generated module is faster) and writes the settings, machine, versions and every
timing as JSON. Timings exclude warm-up steps; each figure is the median of --repeats.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import bench_common


def run(spec: str, graph: Any, vs: str, options: dict[str, Any]) -> dict[str, Any]:
    """Measure, print the table, write --json; return the report."""
    options = {**options, "vs": vs}
    if vs in ("torchvision", "timm"):
        from . import bench_torch as harness
    else:
        from . import bench_keras as harness  # type: ignore[no-redef]
    started = bench_common.utc_now()
    settings, check, rows, extra = harness.measure(graph, options)
    for row in rows:
        bench_common.add_flops(row, graph, aux=bool(settings.get("aux")))
    report = {
        "schema": 1,
        "spec": spec,
        "model": graph.name,
        "vs": vs,
        "date": started,
        "finished": bench_common.utc_now(),
        "argv": sys.argv,
        "machine": bench_common.machine(extra.get("gpu")),
        "versions": extra["versions"],
        "settings": settings,
        "check": check,
        "results": rows,
    }
    bench_common.print_report(report)
    if options.get("json_path"):
        bench_common.write_json(Path(options["json_path"]), report)
    return report


if __name__ == "__main__":
    from incept.compiler.cli import main

    main(["bench", *sys.argv[1:]], prog_name="incept")
