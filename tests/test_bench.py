"""`incept bench`: the harness end to end on a tiny configuration, its references, its flags.

Nothing here asserts a time or a ratio: only that every figure was measured (positive),
that the references are the networks they claim to be, and that bad flags fail in one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner
from conftest import ROOT, SPECS

from incept.compiler.cli import main
from incept.compiler.pipeline import build_graph

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


def small_spec(directory, size: int):
    """specs/googlenet-torchvision.yaml at size x size (the declared 224x224 outputs dropped),
    beside its base googlenet.yaml resized alike."""
    for name in ("googlenet.yaml", "googlenet-torchvision.yaml"):
        text = (SPECS / name).read_text()
        text = re.sub(r", output: \d+x\d+x\d+", "", text.replace("size: 224", f"size: {size}"))
        (directory / name).write_text(text)
    return directory / "googlenet-torchvision.yaml"


def _bench(*args: str):
    return CliRunner().invoke(main, ["bench", *args], prog_name="incept")


def _assert_report(report: dict, vs: str, rows: int, repeats: int) -> None:
    assert report["vs"] == vs and report["schema"] == 1
    assert set(report) >= {"date", "finished", "argv", "machine", "versions", "settings", "check"}
    assert report["machine"]["cpus"] >= 1 and report["machine"]["cpu"]
    assert len(report["results"]) == rows
    for row in report["results"]:
        assert set(row) >= {"mode", "precision", "memory_format", "compile", "batch", "ratio"}
        assert row["batch"] == (1 if row["mode"] == "latency" else 2)
        for who in ("generated", "reference"):
            assert len(row[who]["times_s"]) == repeats
            assert row[who]["median_s"] > 0 and row[who]["img_per_s"] > 0
        assert row["ratio"] > 0


def test_torchvision_end_to_end(tmp_path):
    out = tmp_path / "torch.json"
    result = _bench(
        str(small_spec(tmp_path, 64)), "--vs", "torchvision", "--batch", "2", "--repeats", "2",
        "--warmup", "0", "--profile", "--opt", "all", "--format", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    # CPU defaults: fp32, eager; every mode in both memory formats
    _assert_report(report, "torchvision", rows=3 * 2, repeats=2)
    assert {r["memory_format"] for r in report["results"]} == {"contiguous", "channels_last"}
    assert report["check"]["shared_weights"] is True
    assert report["check"]["rel_diff"] <= 1e-5
    assert report["check"]["params_generated"] == report["check"]["params_reference"]
    assert report["check"]["params_generated"] == 13_004_888  # aux heads on for training
    # --opt all: every pass for inference, the training-safe ones for training steps;
    # both loaded from the unoptimized weights.
    assert report["settings"]["optimized"] == {
        "infer": ["fuse_siblings", "fold_bn", "separable_maxpool"],
        "train": ["fuse_siblings", "separable_maxpool"],
    }
    assert report["check"]["train"]["rel_diff"] <= 1e-5
    # --profile: the operators of the last config of each mode, convolutions among them
    profiles = report["check"]["profiles"]
    assert [p["mode"] for p in profiles] == ["infer", "train", "latency"]
    for p in profiles:
        assert 0 < sum(op["share"] for op in p["ops"]) <= 1.0 + 1e-9
        assert any("conv" in op["op"] for op in p["ops"])
    assert "where the generated module's time goes" in result.output
    # Achieved GFLOP/s from the IR's MACs: 2 per MAC, x3 for a training step (aux on).
    graph = build_graph(small_spec(tmp_path, 64))
    for row in report["results"]:
        macs = graph.macs(aux=row["mode"] == "train")
        assert row["flops_per_image"] == 2 * macs * (3 if row["mode"] == "train" else 1)
        want = row["flops_per_image"] * row["generated"]["img_per_s"] / 1e9
        assert row["generated"]["gflop_per_s"] == pytest.approx(want)
    assert report["versions"]["torchvision"]
    assert "img/s" in result.output and "ratio" in result.output


def test_keras_reference_end_to_end(tmp_path):
    out = tmp_path / "keras.json"
    # 96: the smallest size at which the reference's 5x5/3 aux pools fit. No aux heads
    # and no warm-up: tracing the Keras graphs is most of this test's time.
    result = _bench(
        str(small_spec(tmp_path, 96)), "--vs", "keras-reference", "--batch", "2", "--repeats", "1",
        "--warmup", "0", "--no-aux", "--json", str(out),  # the old spelling still works
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    _assert_report(report, "keras-reference", rows=3, repeats=1)
    assert report["check"]["profile"] == "torchvision"
    assert report["check"]["params_generated"] == report["check"]["params_reference"]
    assert report["check"]["params_generated"] == 6_624_904
    assert report["versions"]["keras"] and report["settings"]["aux"] is False
    # No --opt: the module `incept compile` writes by default (docs/cli.md)
    assert report["settings"]["optimized"] == {"infer": [], "train": []}


@pytest.mark.parametrize(
    ("args", "json_path"),
    [
        ((), None),
        (("--format", "json"), "-"),
        (("--format", "json", "-o", "r.json"), "r.json"),
        (("--json", "r.json"), "r.json"),  # the old spelling, kept for one release
    ],
)
def test_format_and_output_name_the_json_report(args, json_path):
    from incept.compiler import benchcli

    ctx = benchcli.bench.make_context("bench", ["s.yaml", "--vs", "torchvision", *args])
    options = {k: v for k, v in ctx.params.items() if k in ("fmt", "output", "json_path")}
    benchcli._output(options)
    assert options == {"json_path": json_path}


def test_torchvision_pair_shares_weights_and_catches_a_difference():
    from incept.bench import bench_torch

    graph = build_graph(SPECS / "googlenet-torchvision.yaml")
    generated, reference, check = bench_torch.pair(graph, aux=False, seed=1)
    assert check["shared_weights"] is True and check["rel_diff"] <= 1e-5
    assert check["params_generated"] == check["params_reference"] == 6_624_904
    with torch.no_grad():
        reference.inception4c.branch2[1].conv.weight.mul_(1.5)  # one layer off
    with pytest.raises(RuntimeError, match="logits differ"):
        bench_torch._agreement(graph, generated, reference, seed=1)


def test_an_optimized_module_is_loaded_from_the_shared_weights_and_checked():
    from incept.bench import bench_torch

    graph = build_graph(SPECS / "googlenet-torchvision.yaml")
    optimized = build_graph(SPECS / "googlenet-torchvision.yaml", optimize=["all"])
    generated, reference, check = bench_torch.pair(
        graph, aux=False, seed=1, optimized=optimized, emit=("separable_maxpool",)
    )
    assert check["shared_weights"] is True and check["rel_diff"] <= 1e-5
    assert sum(p.numel() for p in generated.parameters()) == 6_617_624  # norms folded
    assert type(generated.maxpool1).__name__ == "SeparableMaxPool2d"
    with torch.no_grad():
        generated.inception4c.fused_1x1.conv.bias[0] += 1.0  # one channel off
    with pytest.raises(RuntimeError, match="logits differ"):
        bench_torch._agreement(graph, generated, reference, seed=1)


def test_a_caffe_spec_does_not_share_weights_with_torchvision():
    from incept.bench import bench_torch

    graph = build_graph(SPECS / "googlenet.yaml")
    _, _, check = bench_torch.pair(graph, aux=True, seed=0)
    assert check["shared_weights"] is False and "state_dict" in check["reason"]
    assert check["params_generated"] == 13_378_280
    assert check["params_reference"] == 13_004_888


def test_caffe_reference_lrn_is_caffes_and_caffe_nolrn_has_none():
    import keras

    from incept.bench import keras_reference

    x = torch.randn(2, 12, 5, 5, generator=torch.Generator().manual_seed(0)) * 30
    want = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)(x)
    got = keras_reference.caffe_lrn(x.permute(0, 2, 3, 1).numpy())
    got = torch.from_numpy(keras.ops.convert_to_numpy(got)).permute(0, 3, 1, 2)
    assert float((got - want).norm() / want.norm()) < 1e-6
    assert float((x - want).norm() / x.norm()) > 1e-3  # the LRN did something

    def lambdas(profile: str) -> int:
        model = keras_reference.build(profile, aux_logits=False)
        return sum(type(layer).__name__ == "Lambda" for layer in model.layers)

    assert (lambdas("caffe"), lambdas("caffe-nolrn")) == (2, 0)


@pytest.mark.parametrize(
    ("spec", "profile", "params"),
    [
        ("googlenet.yaml", "caffe", (6_998_552, 13_378_280)),
        ("googlenet.yaml", "caffe-nolrn", (6_998_552, 13_378_280)),
        ("googlenet-bn.yaml", "bn", (7_005_832, 13_385_816)),
        ("googlenet-torchvision.yaml", "torchvision", (6_624_904, 13_004_888)),
    ],
)
def test_keras_reference_matches_each_profile(spec, profile, params):
    from incept.bench import bench_keras, keras_reference

    graph = build_graph(SPECS / spec)
    assert keras_reference.profile_for(graph) == profile.removesuffix("-nolrn")
    for aux, expected in zip((False, True), params, strict=True):
        model = keras_reference.build(profile, aux_logits=aux)
        assert bench_keras.trainable(model) == expected == graph.params(aux=aux)
        assert len(model.outputs) == 1 + 2 * aux
        assert tuple(model.outputs[0].shape) == (None, 1000)
        # the plain style: every convolution and pool pads "same"
        pads = {layer.padding for layer in model.layers if hasattr(layer, "padding")}
        assert pads == ({"same", "valid"} if aux else {"same"})  # "valid": the aux 5x5/3 pools


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--vs", "torchvision", "--modes", "infer,fly"],
            "incept bench: error[usage]: Invalid value for '--modes': 'infer,fly': expected a "
            "comma-separated subset of infer,train,latency (see 'incept bench --help')",
        ),
        (
            ["--vs", "keras-reference", "--formats", "channels_last"],
            "incept bench: error[usage]: --formats applies to --vs torchvision or timm only "
            "(see 'incept bench --help')",
        ),
        (
            ["--vs", "onnx"],
            "incept bench: error[usage]: Invalid value for '--vs': 'onnx' is not one of "
            "'torchvision', 'timm', 'keras-reference', 'keras-applications'. (see 'incept bench --help')",
        ),
        (
            ["--vs", "torchvision", "--batch", "0"],
            "incept bench: error[usage]: Invalid value for '--batch': 0 is not in the range x>=1."
            " (see 'incept bench --help')",
        ),
        (
            ["--vs", "torchvision", "--reference-profile", "caffe"],
            "incept bench: error[usage]: --reference-profile applies to --vs keras-reference "
            "only (see 'incept bench --help')",
        ),
        (
            ["--vs", "torchvision", "--opt", "fuse"],
            "incept bench: error[usage]: Invalid value for '--opt': unknown optimization 'fuse' "
            "(choose from all, fuse_siblings, fold_bn, separable_maxpool) "
            "(see 'incept bench --help')",
        ),
    ],
)
def test_bad_flags_are_one_line(args, message):
    result = _bench(str(SPECS / "googlenet.yaml"), *args)
    assert result.exit_code == 2
    assert result.output == message + "\n"


def test_a_bad_spec_fails_before_any_framework_loads(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\n")
    result = _bench(str(spec), "--vs", "torchvision")
    assert result.exit_code == 2
    assert result.output.startswith(f"{spec}:") and "error[" in result.output
    assert result.output.count("\n") == 1


def test_an_input_torchvision_cannot_take_is_one_line():
    """googlenet-fmnist-lite takes 1x28x28 images; torchvision's GoogLeNet takes 3 channels."""
    result = _bench(str(SPECS / "googlenet-fmnist-lite.yaml"), "--vs", "torchvision")
    assert result.exit_code == 2
    assert result.output.startswith(
        "incept bench: error[reference]: torchvision googlenet cannot take 1x28x28 inputs ("
    )
    assert result.output.count("\n") == 1


#: What a wheel is built from (pyproject's package-dir, the readme it names).
_SOURCES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "MANIFEST.in",
    "compiler",
    "backends",
    "bench",
    "specs",
)

_FROM_THE_WHEEL = """
import json, sys
from incept.compiler.cli import main
try:
    main(["bench", sys.argv[1], "--vs", "torchvision"], prog_name="incept")
except SystemExit as exit:
    code = exit.code
files = {n: m.__file__ for n, m in sys.modules.items() if n.startswith("incept.") and m.__file__}
print(json.dumps({"code": code, "files": files}))
"""


def test_incept_bench_runs_from_the_wheel_alone(tmp_path):
    """bench/ ships in the wheel as incept.bench and `incept bench` loads its harness from
    there: run outside the checkout with only the unpacked wheel's incept on sys.path."""
    source = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in _SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("incept-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    shipped = {f"incept/bench/{p.name}" for p in (ROOT / "bench").glob("*.py")}
    assert {"incept/bench/__init__.py", "incept/bench/bench.py"} <= shipped <= names
    assert "incept/bench/train_defaults.py" in names

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    spec = SPECS / "googlenet-fmnist-lite.yaml"  # torchvision cannot take it: fails in the harness
    result = subprocess.run(
        [sys.executable, "-c", _FROM_THE_WHEEL, str(spec)],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == 2
    assert "torchvision googlenet cannot take 1x28x28 inputs" in result.stderr
    assert result.stderr.count("\n") == 1
    files = report["files"]
    # the harness ran (bench_torch raised the error) and every incept module came from the wheel
    assert {"incept.bench.bench", "incept.bench.bench_torch", "incept.compiler.benchcli"} <= set(
        files
    )
    assert all(f.startswith(str(site)) for f in files.values()), files


def test_train_defaults_times_each_configuration_against_the_runtime_default(tmp_path):
    """bench/train_defaults.py: one torch.compile configuration beside the runtime's default
    (contiguous, eager, torch's thread count), Keras without and with XLA. On the one-conv
    spec: inductor compiles a C++ kernel per fused op, cold on a fresh machine (tiny.yaml's
    two blocks and aux head took 44 s more than eager, this one 9 s)."""
    from incept.bench import train_defaults

    out = tmp_path / "defaults.json"
    spec = str(ROOT / "tests" / "data" / "train" / "micro.yaml")
    train_defaults.main(
        ["--spec", spec, "--steps", "1", "--repeats", "2", "--warmup", "1",
         "--formats", "channels_last", "--compile", "compile", "--threads", "1", "-o", str(out)]
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["schema"] == 1 and report["machine"]["cpus"] >= 1
    assert report["settings"] == {"steps": 1, "repeats": 2, "warmup": 1, "seed": 0}
    (entry,) = report["specs"]
    assert entry["spec"] == spec
    assert (entry["model"], entry["batch"], entry["aux"]) == ("micro", 16, False)
    default = torch.get_num_threads()
    torch_rows = entry["torch"]["results"]
    assert entry["torch"]["default_threads"] == default
    assert entry["torch"]["reference"] == {
        "memory_format": "contiguous",
        "compile": "eager",
        "threads": default,
    }
    configs = [(r["memory_format"], r["compile"], r["threads"]) for r in torch_rows]
    assert configs == [("contiguous", "eager", default), ("channels_last", "compile", 1)]
    keras_rows = entry["keras"]["results"]
    assert [r["jit_compile"] for r in keras_rows] == [False, True]
    assert entry["keras"]["backend"] == "tensorflow"
    for rows in (torch_rows, keras_rows):
        assert rows[0]["ratio"] == 1.0  # the reference against itself
        for row in rows:
            assert len(row["step_s"]) == 2 and min(row["step_s"]) > 0
            assert row["img_per_s"] > 0 and row["ratio"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "argument --threads: '0': expected thread counts like 1,2"),
        (["--compile", "jit"], "argument --compile: 'jit': expected a subset of eager,compile"),
    ],
)
def test_train_defaults_bad_flags_are_one_line(args, message, capsys):
    from incept.bench import train_defaults

    with pytest.raises(SystemExit) as exit:
        train_defaults.main(args)
    assert exit.value.code == 2
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == f"python -m incept.bench.train_defaults: error: {message}"
    )


def test_train_defaults_bad_spec_is_one_line(tmp_path, capsys):
    from incept.bench import train_defaults

    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\n")
    with pytest.raises(SystemExit) as exit:
        train_defaults.main(["--spec", str(spec)])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:") and "error[" in err and err.count("\n") == 1


def test_keras_startup_times_the_command_both_ways(capsys):
    from incept.bench import keras_startup

    result = keras_startup.main(["--repeats", "1", "--", "--version"])
    assert set(result) == {"triton first", "torch first", "ratio"}
    assert min(result.values()) > 0
    assert result["ratio"] == result["torch first"] / result["triton first"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "incept --version: median of 1 runs each"
    assert lines[-1].startswith("  speed-up ") and lines[-1].endswith("x")


def test_keras_startup_stops_at_a_failing_command(tmp_path):
    from incept.bench import keras_startup

    missing = tmp_path / "missing.yaml"
    with pytest.raises(SystemExit) as stopped:
        keras_startup.main(["--repeats", "1", "--", "check", str(missing)])
    assert str(stopped.value).startswith(f"incept check {missing}: exit status 2: ")


def test_ema_cost_times_a_step_with_and_without_the_average(capsys):
    """bench/ema_cost.py: both backends' steps, the same model and batch with and
    without the average's update; the update itself is checked in tests/test_ema.py."""
    from incept.bench import ema_cost

    report = ema_cost.main(["--spec", "tests/data/train/micro.yaml", "--batch-size", "4",
                            "--repeats", "2", "--warmup", "1"])  # fmt: skip
    assert [r["backend"] for r in report["rows"]] == ["torch", "keras"]
    for row in report["rows"]:
        assert row["batch"] == 4 and len(row["generated"]["times_s"]) == 2
        assert row["ratio"] == row["generated"]["img_per_s"] / row["reference"]["img_per_s"]
    assert json.loads(capsys.readouterr().out) == report


def test_ema_cost_bad_flags_are_one_line(capsys):
    from incept.bench import ema_cost

    with pytest.raises(SystemExit) as exit:
        ema_cost.main(["--backends", "jax"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("--backends torch,keras")
