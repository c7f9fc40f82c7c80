"""The GPU suite (bench/gpu_suite.py): its --smoke run end to end on the CPU, on toy
Fashion-MNIST files, and its runner's failure, timeout and budget handling."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from toydata import write_toy_fashion

from incept.bench import gpu_suite
from incept.bench.gpu_steps import Step, plan

SMOKE_RUNS = ("machine", "bench-googlenet-fp32", "train-torch", "eval-torch")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    pytest.importorskip("torchvision")
    toy = write_toy_fashion(tmp_path_factory.mktemp("toy"), train=256, test=100)
    out = tmp_path_factory.mktemp("suite") / "out"
    argv = ["--smoke", "--data-dir", str(toy), "--skip", "*keras*"]
    done = subprocess.run(
        [sys.executable, "-m", "incept.bench.gpu_suite", str(out), *argv],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, json.loads((out / "summary.json").read_text())


def _steps(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {record["name"]: record for record in summary["steps"]}


def test_smoke_records_every_step_in_order_with_its_log(smoke) -> None:
    out, summary = smoke
    names = [s.name for s in plan(str(out), smoke=True)]
    assert [r["name"] for r in summary["steps"]] == names
    assert len(names) == 18 and summary["smoke"] is True and summary["failed"] == []
    steps = _steps(summary)
    for name in (*SMOKE_RUNS, "bench-googlenet-bf16-latency"):
        assert steps[name]["status"] == "ok", name
    assert steps["train-keras"]["reason"] == "not selected (--skip)"
    heavy = [n for n in names if n.startswith(("bench-inception", "bench-xception"))]
    assert len(heavy) == 8
    for name in (*heavy, "nvidia-smi", "bench-googlenet-bf16-infer", "bench-googlenet-bf16-train"):
        assert steps[name]["status"] == "skipped" and steps[name]["reason"].startswith("--smoke")
    for name in names:
        assert (out / f"{name}.log").read_text().startswith("$ "), name
    markdown = (out / "summary.md").read_text()
    assert markdown.startswith("# incept GPU suite: smoke run on the CPU")
    assert all(f"| {name} |" in markdown for name in names)


def test_smoke_bench_steps_compare_googlenet_with_shared_weights(smoke) -> None:
    out, summary = smoke
    steps = _steps(summary)
    fp32 = steps["bench-googlenet-fp32"]["figures"]
    assert fp32["reference"] == "torchvision googlenet" and fp32["shared_weights"] is True
    rows = [(r["mode"], r["precision"], r["memory_format"], r["batch"]) for r in fp32["rows"]]
    assert rows == [
        ("infer", "fp32", "contiguous", 2),
        ("train", "fp32", "contiguous", 2),
        ("latency", "fp32", "contiguous", 1),
    ]
    (latency,) = steps["bench-googlenet-bf16-latency"]["figures"]["rows"]
    assert (latency["precision"], latency["memory_format"], latency["batch"]) == (
        "bf16",
        "channels_last",
        1,
    )
    report = json.loads((out / "bench-googlenet-fp32.json").read_text())
    assert report["spec"] == "googlenet-torchvision" and report["settings"]["device"] == "cpu"
    assert report["settings"]["optimized"]["infer"] == [
        "fuse_siblings",
        "fold_bn",
        "separable_maxpool",
    ]
    assert all(r["ratio"] > 0 for r in fp32["rows"])


def test_smoke_trains_then_evaluates_the_run(smoke) -> None:
    out, summary = smoke
    steps = _steps(summary)
    train, evaluation = steps["train-torch"]["figures"], steps["eval-torch"]["figures"]
    assert train["epochs"] == 1 and train["curves"] == "runs/fmnist-torch/curves.png"
    assert (out / train["curves"]).read_bytes()[:8] == PNG
    assert evaluation["count"] == 100
    assert evaluation["top1"] == pytest.approx(train["test_acc"], abs=1e-9)
    assert evaluation["checkpoint"] == str(out / "runs/fmnist-torch/checkpoints/last.pt")
    machine = summary["machine"]
    assert machine["torch"] == metadata.version("torch") and machine["python"]


def _fake_plan(*steps: Step):
    return lambda out, smoke, data_dir=None, epochs=None: list(steps)


def _python(name: str, code: str, cap: float = 60) -> Step:
    return Step(name, ("python", "-c", code), cap, "text")


def test_a_failed_or_timed_out_step_is_recorded_and_the_next_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(gpu_suite, "GRACE_S", 2.0)
    monkeypatch.setattr(gpu_suite, "MIN_START_S", 0.5)
    steps = (
        _python("fails", "import sys; print('out'); sys.exit(3)"),
        _python("hangs", "import time; time.sleep(60)", cap=1.0),
        _python("works", "print('fine')"),
    )
    monkeypatch.setattr(gpu_suite, "plan", _fake_plan(*steps))
    assert gpu_suite.main([str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    got = {r["name"]: (r["status"], r["exit"]) for r in summary["steps"]}
    assert got["fails"] == ("failed", 3) and got["works"] == ("ok", 0)
    assert got["hangs"][0] == "timeout"
    assert summary["failed"] == ["fails", "hangs"]
    assert "fine" in (tmp_path / "works.log").read_text()
    assert "[suite] hangs: timeout" in (tmp_path / "hangs.log").read_text()


def test_a_step_is_skipped_when_the_budget_is_spent(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(gpu_suite, "GRACE_S", 0.5)
    monkeypatch.setattr(gpu_suite, "MIN_START_S", 5.0)
    steps = (_python("hangs", "import time; time.sleep(60)", cap=1.0), _python("later", "pass"))
    monkeypatch.setattr(gpu_suite, "plan", _fake_plan(*steps))
    assert gpu_suite.main([str(tmp_path), "--budget", "6"]) == 1
    later = json.loads((tmp_path / "summary.json").read_text())["steps"][1]
    assert later["status"] == "skipped" and "budget (6 s) is spent" in later["reason"]


def test_the_install_line_of_gpu_suite_sh_is_read(tmp_path) -> None:
    from incept.bench.gpu_summary import install_record

    log = tmp_path / "install.log"
    log.write_text("Processing ./carry/wheels/x.whl\n[suite] install: exit 1 after 12 s\n")
    record = install_record(log)
    assert record is not None
    assert (record["status"], record["exit"], record["wall_s"]) == ("failed", 1, 12)
    assert record["reason"].startswith("incept's core only")
    assert install_record(tmp_path / "none.log") is None
