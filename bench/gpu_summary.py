"""The GPU suite's summary: OUT/summary.json and OUT/summary.md, from each step's record
(status, exit code, wall time) and what it wrote (a bench JSON, a run folder, an eval
JSON, the machine's versions)."""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incept.compiler.files import write_atomic

from .gpu_steps import TARGET_ACCURACY, TARGET_WALL_S, Step

#: The line bench/gpu_suite.sh appends to its install log.
INSTALL_LINE = re.compile(r"\[suite\] install: exit (\d+) after (\d+) s")


def install_record(log: Path | None) -> dict[str, Any] | None:
    """gpu_suite.sh's install step (pip from carry/), read from its log; None without one."""
    if log is None or not log.is_file():
        return None
    found = INSTALL_LINE.findall(log.read_text(errors="replace"))
    if not found:
        return {"name": "install", "status": "failed", "reason": "no exit line", "log": str(log)}
    code, seconds = (int(v) for v in found[-1])
    record = {"name": "install", "status": "ok" if code == 0 else "failed", "exit": code}
    return record | {"wall_s": seconds, "log": str(log), "reason": INSTALLED.get(code, "")}


#: What gpu_suite.sh's install exit codes mean.
INSTALLED = {
    0: "incept with the train extra",
    1: "incept's core only: the train extra's requirements are neither here nor carried",
    2: "incept not installed",
}


def figures(step: Step, record: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """The key figures of a step that ran, read from its result ({} when it wrote none)."""
    readers = {"bench": _bench, "train": _train, "eval": _eval, "machine": _json}
    read = readers.get(step.kind)
    if record["status"] == "skipped" or read is None or step.result is None:
        return {}
    try:
        return read(out / step.result, record)
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _json(path: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _eval(path: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    report = json.loads(path.read_text())
    return {k: report[k] for k in ("checkpoint", "count", "top1", "top5", "loss", "per_class")}


def _bench(path: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    report = json.loads(path.read_text())
    rows = [
        {
            "mode": r["mode"],
            "precision": r["precision"],
            "memory_format": r["memory_format"],
            "compile": r["compile"],
            "batch": r["batch"],
            "generated_img_s": round(r["generated"]["img_per_s"], 1),
            "reference_img_s": round(r["reference"]["img_per_s"], 1),
            "ratio": round(r["ratio"], 3),
        }
        for r in report["results"]
    ]
    check = report["check"]
    return {
        "reference": check["reference"],
        "shared_weights": check["shared_weights"],
        "rows": rows,
    }


def _train(folder: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    with (folder / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    accuracy = float(rows[-1]["test_acc"])
    wall = float(record["wall_s"])
    met = accuracy >= TARGET_ACCURACY and wall <= TARGET_WALL_S and record["status"] == "ok"
    return {
        "epochs": int(rows[-1]["epoch"]),
        "test_acc": accuracy,
        "best_test_acc": max(float(r["test_acc"]) for r in rows),
        "mean_train_img_s": round(statistics.mean(float(r["images_per_s"]) for r in rows), 1),
        "curves": str((folder / "curves.png").relative_to(folder.parent.parent)),
        "target": {"test_acc": TARGET_ACCURACY, "wall_s": TARGET_WALL_S, "met": met},
    }


def one_line(step: Step, record: Mapping[str, Any], smoke: bool = False) -> str:
    """The figures of one step as a table cell."""
    if record["status"] == "skipped":
        return str(record["reason"])
    f = record.get("figures") or {}
    if not f:
        return "" if step.kind == "text" else "no result written"
    if step.kind == "bench":
        return ", ".join(f"{r['mode']} {r['ratio']:.2f}x" for r in f["rows"])
    if step.kind == "train":
        target = f"; ≥{TARGET_ACCURACY:.1%} in ≤{TARGET_WALL_S:.0f} s: "
        return (
            f"test top-1 {f['test_acc']:.2%} after {f['epochs']} epochs (best "
            f"{f['best_test_acc']:.2%}), {f['mean_train_img_s']:,.0f} train img/s"
            + ("" if smoke else target + ("met" if f["target"]["met"] else "not met"))
        )
    if step.kind == "eval":
        return (
            f"top-1 {f['top1']:.2%}, top-5 {f['top5']:.2%}, loss {f['loss']:.4f} "
            f"on {f['count']:,} test images"
        )
    return _machine_line(f)


def _machine_line(m: Mapping[str, Any]) -> str:
    gpu = f"{m['gpu']} ({m['gpu_memory_gib']} GiB)" if m.get("gpu") else "no GPU"
    parts = [gpu, f"Python {m.get('python')}", f"torch {m.get('torch')}", f"CUDA {m.get('cuda')}"]
    parts += [f"{k} {m[k]}" for k in ("cudnn", "torchvision", "timm", "keras") if m.get(k)]
    return ", ".join(parts)


def write(
    out: Path, steps: Sequence[Step], done: Mapping[str, dict[str, Any]], report: dict[str, Any]
) -> dict[str, Any]:
    """Write OUT/summary.json and OUT/summary.md; return the summary."""
    for step in steps:
        done[step.name]["figures"] = figures(step, done[step.name], out)
    records = [done[s.name] for s in steps]
    install = report.get("install")
    failed = [
        r["name"] for r in [*records, install or {}] if r.get("status") in ("failed", "timeout")
    ]
    smi = out / "nvidia-smi.log"
    ran_smi = done.get("nvidia-smi", {}).get("status") in ("ok", "failed", "timeout")
    summary = {
        **report,
        "machine": done.get("machine", {}).get("figures", {}),
        "nvidia_smi": smi.read_text() if ran_smi else None,
        "steps": records,
        "failed": failed,
    }
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "summary.md", _markdown(steps, summary))
    return summary


def _markdown(steps: Sequence[Step], summary: Mapping[str, Any]) -> str:
    smoke = ": smoke run on the CPU (toy sizes: not measurements)" if summary["smoke"] else ""
    lines = [
        f"# incept GPU suite{smoke}",
        "",
        f"{summary['started']} to {summary['finished']}, {summary['wall_s']} s of a "
        f"{summary['budget_s']:.0f} s budget; "
        + (f"failed: {', '.join(summary['failed'])}" if summary["failed"] else "no step failed"),
        "",
        f"Machine: {_machine_line(summary['machine']) if summary['machine'] else 'unknown'}",
        "",
        "| step | status | wall s | figures |",
        "|---|---|---|---|",
    ]
    if summary.get("install"):
        i = summary["install"]
        said = f"{i['reason']} ({i['log']})"
        lines.append(f"| install | {i['status']} | {i.get('wall_s', '')} | {said} |")
    for step, record in zip(steps, summary["steps"], strict=True):
        wall = record.get("wall_s", "")
        lines.append(
            f"| {step.name} | {record['status']} | {wall} | {one_line(step, record, summary['smoke'])} |"
        )
    lines += _bench_table(steps, summary["steps"])
    if summary["nvidia_smi"]:
        lines += ["", "## nvidia-smi", "", "```", summary["nvidia_smi"].rstrip(), "```"]
    lines += ["", "Each step's command and output: OUT/<step>.log (summary.json has every figure)."]
    return "\n".join(lines) + "\n"


def _bench_table(steps: Sequence[Step], records: Sequence[Mapping[str, Any]]) -> list[str]:
    head = "| step | reference | mode | precision | layout | compile | batch | generated img/s | reference img/s | ratio |"
    lines = ["", "## Generated module vs reference (img/s, median of repeats)", "", head]
    lines.append("|" + "---|" * 10)
    count = 0
    for step, record in zip(steps, records, strict=True):
        f = record.get("figures") or {}
        for r in f.get("rows", []) if step.kind == "bench" else []:
            count += 1
            lines.append(
                f"| {step.name} | {f['reference']} | {r['mode']} | {r['precision']} | "
                f"{r['memory_format']} | {r['compile']} | {r['batch']} | "
                f"{r['generated_img_s']:,.1f} | {r['reference_img_s']:,.1f} | {r['ratio']:.2f}x |"
            )
    return lines if count else []
