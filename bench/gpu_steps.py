"""What the GPU suite runs: its steps, in order, as commands a user types.

Each step is one child process. A bench step compares the generated module with its
reference in one process (`incept bench`); the training step is `incept train` as a
user runs it, the evaluation step `incept eval` of that run. On a GPU the steps use
the bench defaults there (batch 256; fp32 eager contiguous, then bf16 + channels_last
+ torch.compile, one process per mode so that a compile that runs long costs one
mode, not all three). --smoke runs the same commands on the CPU at toy sizes and
leaves out the ones that only repeat a code path at a larger size.
"""

from __future__ import annotations

from dataclasses import dataclass

#: issue 9's target for the training step: test top-1 and wall time of the whole command.
TARGET_ACCURACY = 0.955
TARGET_WALL_S = 150.0

#: The training run on a GPU: googlenet-fmnist (Table 1 from inception 3a on at 28x28,
#: 1.19 G multiply-adds, 6.0 M parameters) with a short one-cycle recipe. Not yet run on
#: a GPU: the epoch count is a guess at what fits 150 s with compilation on an H200
#: (`--epochs` changes it without editing this file).
TRAIN_SPEC = "googlenet-fmnist"
TRAIN_RECIPE = (
    "--epochs", "15", "--batch-size", "256", "--optimizer", "sgd", "--lr", "0.2",
    "--nesterov", "--weight-decay", "5e-4", "--label-smoothing", "0.1",
    "--schedule", "onecycle", "--crop-padding", "2", "--flip", "--erasing", "0",
)  # fmt: skip
#: --smoke: the half-width spec, one epoch of a few hundred images on the CPU.
SMOKE_SPEC = "googlenet-fmnist-lite"
SMOKE_RECIPE = ("--epochs", "1", "--batch-size", "32", "--limit-train", "256")

#: The bench comparisons after GoogLeNet: (spec, reference, modules it needs).
FAMILY = (
    ("inception-v3", "torchvision", ()),
    ("inception-v4", "timm", ("timm",)),
    ("inception-resnet-v2", "timm", ("timm",)),
    ("xception", "timm", ("timm",)),
)
#: GoogLeNet's comparison: the spec whose layout is torchvision's (weights shared).
GOOGLENET = "googlenet-torchvision"
#: The bench modes; in bf16 + torch.compile each runs in a process of its own.
MODES = ("infer", "train", "latency")


@dataclass(frozen=True)
class Step:
    name: str  # also the name of its log, OUT/<name>.log
    argv: tuple[str, ...]  # "incept" first stands for the incept command
    cap_s: float  # its own time limit (the suite's budget may cut it shorter)
    kind: str  # machine | bench | train | eval: how the summary reads its result
    result: str | None = None  # its result under OUT: a JSON file or a run folder
    stdout: str | None = None  # the file under OUT its standard output goes to, else the log
    needs: tuple[str, ...] = ()  # modules it needs; without them it is skipped
    after: str | None = None  # a step it reads the output of: skipped when that one was
    smoke: bool = True  # runs under --smoke


def plan(
    out: str, smoke: bool, data_dir: str | None = None, epochs: int | None = None
) -> list[Step]:
    """Every step, in the order they run (the most wanted first: a tight budget cuts the
    tail). `out` is the output folder; every path a step writes is under it."""
    return [
        Step(
            "machine", ("python", "-c", PROBE), 60, "machine", "machine.json", stdout="machine.json"
        ),
        Step("nvidia-smi", ("nvidia-smi",), 30, "text", smoke=False),
        _bench(out, GOOGLENET, "torchvision", "fp32", smoke, cap=150),
        *_training(out, "torch", smoke, data_dir, epochs),
        *(_bench(out, GOOGLENET, "torchvision", "bf16", smoke, mode, 200) for mode in MODES),
        *_training(out, "keras", smoke, data_dir, epochs),
        *(_bench(out, s, vs, "fp32", smoke, needs=n, cap=150, heavy=True) for s, vs, n in FAMILY),
        *(_bench(out, s, vs, "bf16", smoke, needs=n, cap=300, heavy=True) for s, vs, n in FAMILY),
    ]


def _bench(
    out: str,
    spec: str,
    vs: str,
    precision: str,
    smoke: bool,
    mode: str | None = None,
    cap: float = 150,
    needs: tuple[str, ...] = (),
    heavy: bool = False,
) -> Step:
    """fp32: eager, contiguous, every mode in one process; bf16: channels_last and
    torch.compile (eager under --smoke: inductor takes minutes on a CPU)."""
    short = "googlenet" if spec == GOOGLENET else spec
    name = f"bench-{short}-{precision}" + (f"-{mode}" if mode else "")
    fast = precision == "bf16"
    where: tuple[str, ...] = ("--device", "cuda", "--batch", "256")
    if smoke:
        where = ("--device", "cpu", "--batch", "2", "--repeats", "1", "--warmup", "0")
    compiled = "on" if fast and not smoke else "off"
    argv = (
        "incept", "bench", spec, "--vs", vs, "--opt", "all", *where,
        "--precisions", precision, "--formats", "channels_last" if fast else "contiguous",
        "--compile", compiled, *(("--modes", mode) if mode else ()),
        "--format", "json", "-o", f"{out}/{name}.json",
    )  # fmt: skip
    # under --smoke one bf16 step (latency, the cheapest) stands for the three
    runs_in_smoke = not heavy and mode in (None, "latency")
    return Step(name, argv, cap, "bench", f"{name}.json", needs=needs, smoke=runs_in_smoke)


def _training(
    out: str, backend: str, smoke: bool, data_dir: str | None, epochs: int | None
) -> list[Step]:
    """`incept train` on Fashion-MNIST into OUT/runs/fmnist-<backend>, then `incept eval`."""
    run = f"runs/fmnist-{backend}"
    needs = ("keras", "tensorflow") if backend == "keras" else ()
    recipe: tuple[str, ...] = SMOKE_RECIPE if smoke else TRAIN_RECIPE
    spec = SMOKE_SPEC if smoke else TRAIN_SPEC
    if epochs is not None:
        at = recipe.index("--epochs")
        recipe = (*recipe[:at], "--epochs", str(epochs), *recipe[at + 2 :])
    device = ("--device", "cpu") if smoke else (("--device", "cuda") if backend == "torch" else ())
    data = ("--data", "fashion-mnist", *(("--data-dir", data_dir) if data_dir else ()))
    train = (
        "incept", "train", spec, "--backend", backend, *data, "--run-dir", f"{out}/{run}",
        *recipe, *device, *(("--no-compile", "--limit-test", "100") if smoke else ()),
        "--no-progress",
    )  # fmt: skip
    evaluate = (
        "incept", "eval", f"{out}/{run}", *device, *(("--limit-test", "100") if smoke else ()),
        "--format", "json",
    )  # fmt: skip
    name = f"eval-{backend}"
    return [
        Step(f"train-{backend}", train, 300, "train", run, needs=needs),
        Step(
            name,
            evaluate,
            120,
            "eval",
            f"{name}.json",
            stdout=f"{name}.json",
            needs=needs,
            after=f"train-{backend}",
        ),
    ]


#: The machine step: bench's machine record (CPU, load, Python) with the versions and the
#: GPU, as JSON (TensorFlow's version is read from its metadata, not by importing it).
PROBE = """
import json
from importlib import metadata
from incept.bench.bench_common import machine
info = machine(None)
for name in ("torch", "torchvision", "timm", "keras", "tensorflow", "numpy", "incept"):
    try:
        info[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        info[name] = None
import torch
info["cuda"] = torch.version.cuda
info["cuda_available"] = torch.cuda.is_available()
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    info["gpu"] = props.name
    info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    info["gpu_count"] = torch.cuda.device_count()
    info["cudnn"] = torch.backends.cudnn.version()
print(json.dumps(info, indent=2))
"""
