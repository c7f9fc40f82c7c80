"""The generated torch module vs torchvision's or timm's network, same input, same weights.

The reference is chosen in torch_references.py. Both models get one set of random weights (He-uniform, so activations stay O(1): the
specs' std-0.01 init would shrink them towards denormals, which time differently on a
CPU). Where the generated state_dict maps onto the reference's (by name: the
torchvision-profile specs, timm's Inception-ResNet-v2 and Xception; by position: timm's
inception_v4) it is loaded, and the eval-mode logits are compared on the CPU before
anything is timed; a mismatch stops the run. Otherwise each model keeps its own
weights and the report says the two networks differ.

Training steps: SGD (lr 0.01, momentum 0.9), cross-entropy on the logits plus 0.3 x each
aux head's, zero_grad(set_to_none) + forward + backward + step. Inference: eval mode
under torch.inference_mode. Latency: inference at batch 1. bf16 means torch.autocast.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from typing import Any

import torch
import torchvision
from torch import nn

from incept.compiler.errors import UserError

from . import bench_common, torch_references

TOLERANCE = 1e-5  # ||generated - torchvision|| / ||torchvision||, fp32 on the CPU


def _defaults(options: dict[str, Any], device: torch.device) -> dict[str, Any]:
    gpu = device.type == "cuda"
    return {
        "device": str(device),
        "batch": options["batch"] or (256 if gpu else 8),
        "latency_batch": 1,
        "modes": list(options["modes"] or ("infer", "train", "latency")),
        "precisions": list(options["precisions"] or (("fp32", "bf16") if gpu else ("fp32",))),
        "memory_formats": list(options["formats"] or ("contiguous", "channels_last")),
        "compile": list(options["compile_"] or (("off", "on") if gpu else ("off",))),
        "compile_mode": options["compile_mode"],
        "repeats": options["repeats"],
        "warmup": options["warmup"],
        "aux": options["aux"] and options.get("vs") != "timm",  # timm's models have no aux
        "seed": options["seed"],
        "threads": torch.get_num_threads(),
        "timing": "torch.cuda.Event per step" if gpu else "time.perf_counter per step",
        "optimizer": "SGD(lr=0.01, momentum=0.9)",
    }


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("incept bench: error[device]: --device cuda, but torch sees no CUDA GPU")
    return torch.device(name)


def randomize(model: nn.Module, seed: int) -> None:
    """He-uniform weights, small random biases and non-trivial batch-norm statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                bound = (6.0 / module.weight[0].numel()) ** 0.5
                module.weight.copy_(
                    (torch.rand(module.weight.shape, generator=gen) * 2 - 1) * bound
                )
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pair(
    graph: Any,
    aux: bool,
    seed: int,
    optimized: Any = None,
    emit: tuple[str, ...] = (),
    vs: str = "torchvision",
) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """(generated, reference) on the CPU with shared weights where the layouts allow,
    and the check: parameter counts, and the logits compared when the weights are shared.
    `optimized` (a graph compiled with --opt, emitted with the backend options `emit`) is
    then built and loaded from the unoptimized module's state_dict, through its load-time
    mapping, and compared in its place."""
    generated = bench_common.import_generated(graph, "torch").build(aux_logits=aux)
    reference, label = torch_references.reference(vs, graph, aux)
    _probe(reference, graph.input.shape, label)
    randomize(generated, seed)
    randomize(reference, seed)
    check: dict[str, Any] = {"reference": label, "params_generated": _params(generated)}
    check["params_reference"] = _params(reference)
    lines = [
        f"parameters: generated {check['params_generated']:,}, "
        f"{label} {check['params_reference']:,}"
        + (" (same)" if check["params_generated"] == check["params_reference"] else " (differ)")
    ]
    state, how = torch_references.shared_state(generated, reference)
    if state is None:
        check |= {"shared_weights": False, "reason": f"the state_dict layouts differ: {how}"}
        lines.append("weights NOT shared (the state_dict layouts differ): the two networks differ")
    else:
        reference.load_state_dict(state, strict=True)
        if optimized is not None and (optimized.optimized or emit):
            base = generated
            module = bench_common.import_generated(optimized, "torch", emit)
            generated = module.build(aux_logits=aux)
            generated.load_state_dict(base.state_dict())
        check |= {"shared_weights": True, **_agreement(graph, generated, reference, seed, label)}
        lines.append(
            f"same weights loaded into both ({how}); eval logits agree: rel. diff "
            f"{check['rel_diff']:.1e} (max abs {check['max_abs_diff']:.1e}, tolerance {TOLERANCE:g})"
        )
    check["lines"] = lines
    return generated, reference, check


def _probe(reference: nn.Module, shape: tuple[int, ...], label: str) -> None:
    """A reference takes inputs down to some size (torchvision's GoogLeNet about 33x33,
    the Inceptions 75x75): say so in one line rather than fail in the timings."""
    try:
        with torch.inference_mode():
            reference.eval()(torch.zeros(1, *shape))
    except RuntimeError as exc:
        size = "x".join(map(str, shape))
        raise UserError(
            f"incept bench: error[reference]: {label} cannot take {size} "
            f"inputs ({str(exc).splitlines()[0][:160]})"
        ) from None


def _agreement(
    graph: Any, generated: nn.Module, reference: nn.Module, seed: int, label: str = "reference"
) -> dict:
    x = torch.randn(2, *graph.input.shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        a, b = generated.eval()(x), reference.eval()(x)
    rel = float((a - b).norm() / b.norm().clamp_min(1e-12))
    if not rel <= TOLERANCE:
        raise RuntimeError(f"generated and {label} logits differ: rel. diff {rel:.2e}")
    return {"rel_diff": rel, "max_abs_diff": float((a - b).abs().max())}


def _timer(device: torch.device) -> Callable[[Callable[[], Any]], bench_common.Timer]:
    def timed(step: Callable[[], Any]) -> bench_common.Timer:
        def run() -> float:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                step()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / 1000
            begin = time.perf_counter()
            step()
            return time.perf_counter() - begin

        return run

    return timed


def _loss(out: Any, y: torch.Tensor) -> torch.Tensor:
    if isinstance(out, tuple):  # (logits, aux...): the generated and torchvision orders differ
        logits, *aux = out
        return nn.functional.cross_entropy(logits, y) + 0.3 * sum(
            nn.functional.cross_entropy(a, y) for a in aux
        )
    return nn.functional.cross_entropy(out, y)


def _step(model: nn.Module, mode: str, x: torch.Tensor, y: torch.Tensor, autocast) -> Callable:
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train() -> None:
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = _loss(model(x), y)
            loss.backward()
            opt.step()

        return train
    model.eval()

    def infer() -> None:
        with torch.inference_mode(), autocast():
            model(x)

    return infer


def _configs(settings: dict[str, Any]):
    """Every (precision, memory format, compile, mode) the settings select."""
    for precision in settings["precisions"]:
        for fmt in settings["memory_formats"]:
            for compiled in settings["compile"]:
                for mode in settings["modes"]:
                    yield {
                        "mode": mode,
                        "precision": precision,
                        "memory_format": fmt,
                        "compile": "torch.compile" if compiled == "on" else "eager",
                    }


def _prepared(model, config, x, y, settings, device):
    """A fresh copy of `model` in the config's layout (and compiled), and its step."""
    batch = 1 if config["mode"] == "latency" else settings["batch"]
    channels_last = config["memory_format"] == "channels_last"
    memory = torch.channels_last if channels_last else torch.contiguous_format
    xs = x[:batch].to(device).contiguous(memory_format=memory)
    ys = y[:batch].to(device)

    def autocast():
        if config["precision"] == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    model = copy.deepcopy(model).to(device, memory_format=memory)
    if config["compile"] == "torch.compile":
        model = torch.compile(model, mode=settings["compile_mode"])
    return _step(model, config["mode"], xs, ys, autocast)


def profile(model, config, x, y, settings, device, top: int = 12) -> dict[str, Any]:
    """The operators that take the most time in a few steps of `model` (self time: device
    time on a GPU), after warm-up: where a step's time goes."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step = _prepared(model, config, x, y, settings, device)
    gpu = device.type == "cuda"
    for _ in range(max(settings["warmup"], 2)):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with torch_profile(activities=activities) as prof:
        for _ in range(3):
            step()
        if gpu:
            torch.cuda.synchronize(device)
    key = "self_device_time_total" if gpu else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, key) > 0]
    total = sum(getattr(e, key) for e in events) or 1.0
    events.sort(key=lambda e: getattr(e, key), reverse=True)
    ops = [
        {
            "op": e.key,
            "calls": e.count // 3,
            "ms_per_step": getattr(e, key) / 3000,
            "share": getattr(e, key) / total,
        }
        for e in events[:top]
    ]
    return {**config, "by": key, "ops": ops}


def _time_config(models, config, x, y, settings, device) -> dict[str, Any]:
    """Fresh copies of both models in the config's layout (and compiled), timed in turn."""
    batch = 1 if config["mode"] == "latency" else settings["batch"]
    ours, theirs = (_timer(device)(_prepared(m, config, x, y, settings, device)) for m in models)
    times = bench_common.alternate(ours, theirs, settings["warmup"], settings["repeats"])
    return bench_common.row(config, batch, times)


def _timm_version(vs: str | None) -> dict[str, str]:
    if vs != "timm":
        return {}
    import timm

    return {"timm": timm.__version__}


def measure(graph: Any, options: dict[str, Any]) -> tuple[dict, dict, list, dict]:
    device = _device(options["device"])
    settings = _defaults(options, device)
    torch.manual_seed(settings["seed"])
    aux = settings["aux"] and graph.aux_logits
    graphs = options.get("graphs") or {"infer": graph, "train": graph}
    emit = tuple(options.get("emit") or ())  # torch backend options (separable_maxpool)
    settings["optimized"] = {kind: [*g.optimized, *emit] for kind, g in graphs.items()}
    models, checks = {}, {}
    for kind, optimized in graphs.items():  # inference and training may differ in --opt
        generated, reference, checks[kind] = pair(
            graph, aux, settings["seed"], optimized, emit, options.get("vs", "torchvision")
        )
        models[kind] = (generated, reference)
    check = {**checks["infer"], "train": checks["train"]}
    opts = {kind: ",".join(settings["optimized"][kind]) or "none" for kind in graphs}
    first, *_ = checks["infer"]["lines"]  # the parameter counts, before --opt
    check["lines"] = [
        f"{first}, before --opt",
        *(f"{kind} module (--opt {opts[kind]}): {checks[kind]['lines'][-1]}" for kind in graphs),
    ]
    gen = torch.Generator().manual_seed(settings["seed"])
    x = torch.randn(settings["batch"], *graph.input.shape, generator=gen)
    y = torch.randint(graph.num_classes, (settings["batch"],), generator=gen)
    rows = [
        _time_config(
            models["train" if config["mode"] == "train" else "infer"],
            config,
            x,
            y,
            settings,
            device,
        )
        for config in _configs(settings)
    ]
    if options.get("profile"):
        last = {c["mode"]: c for c in _configs(settings)}  # the fastest settings come last
        check["profiles"] = [
            profile(models["train" if mode == "train" else "infer"][0], c, x, y, settings, device)
            for mode, c in last.items()
        ]
    extra = {
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            **_timm_version(options.get("vs")),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        },
    }
    return settings, check, rows, extra
