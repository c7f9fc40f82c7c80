"""`incept train --backend torch`: build, preflight, train, checkpoint, resume.

Order of events, so that bad input never costs a half-written run folder: every
check (data fits the spec, run folder state, resume compatibility, preflight) runs
before the first file is written; then each finished epoch is checkpointed
atomically before its metrics row appears.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from incept.compiler.spec.schema import Training

from ..errors import Code, InputError
from ..job import Job, identity, run_config
from ..journal import Journal
from ..progress import EpochProgress
from ..resume import resume_state
from ..schedule import lr_factor
from . import checkpoint
from .batches import make_batches
from .device import Runtime, setup
from .loop import Step, evaluate, train_epoch
from .model import build_model, preflight


def _optimizer(model: nn.Module, recipe: Training) -> torch.optim.Optimizer:
    """Weight decay on weights only: biases and norm parameters (1-D) are not decayed."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def config(job: Job, rt: Runtime) -> dict[str, Any]:
    runtime = {
        "device": str(rt.device),
        "autocast": str(rt.dtype).removeprefix("torch.") if rt.dtype else "fp32",
        "compile": rt.compile,
        "channels_last": rt.channels_last,
        "world_size": rt.world,
    }
    return run_config(job, runtime, {"torch": torch.__version__})


def _batches(job: Job, rt: Runtime, split: str) -> Any:
    graph = job.compiled.graph
    size = tuple(graph.input.shape[1:])  # type: ignore[index]
    train = split == "train"
    return make_batches(
        job.data.train if train else job.data.test,
        train=train,
        batch_size=job.recipe.batch_size,
        device=rt.device,
        size=size,  # type: ignore[arg-type]
        mean=job.mean,
        std=job.std,
        augment=job.recipe.augment if train else None,
        seed=job.options.seed,
        rank=rt.rank if train else 0,
        world=rt.world if train else 1,
        channels_last=rt.channels_last,
        workers=job.options.workers,
    )


@dataclass(frozen=True)
class Trained:
    journal: Journal  # every finished epoch
    model: nn.Module  # the trained weights, unwrapped (no DDP, no torch.compile)


def run(job: Job) -> Trained:
    """Train (or continue) the job's run to its last epoch."""
    rt = setup(job.options)
    state = resume_state(job, checkpoint.load)
    torch.manual_seed(job.options.seed)
    model = build_model(job.compiled, job.run.path, aux=job.recipe.aux)
    preflight(model, job.compiled.graph, job.spec_path)
    model = model.to(rt.device).to(memory_format=rt.memory_format)
    optimizer = _optimizer(model, job.recipe)
    train_batches, test_batches = _batches(job, rt, "train"), _batches(job, rt, "test")
    steps = len(train_batches)
    if steps == 0:
        raise InputError(
            Code.FLAG, "--batch-size", f"{job.recipe.batch_size} is larger than the training set"
        )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(job.recipe, s, steps)
    )
    scaler = torch.amp.GradScaler(rt.device.type, enabled=rt.dtype == torch.float16)
    journal = Journal(job.run)
    start_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        checkpoint.set_rng_state(state["rng"])
        journal = Journal(job.run, state["history"])
        start_epoch = int(state["epoch"])
    if rt.is_main:
        job.run.write_config(config(job, rt))
    raw = model
    fast = cast(nn.Module, torch.compile(model)) if rt.compile else model
    trained: nn.Module = fast
    if rt.world > 1:
        trained = nn.parallel.DistributedDataParallel(
            fast, device_ids=[rt.device.index] if rt.device.type == "cuda" else None
        )
    step = Step(
        model=trained,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        aux_weights=[h.loss_weight or 0.0 for h in job.compiled.graph.aux_heads]
        if job.recipe.aux
        else [],
        label_smoothing=job.recipe.label_smoothing,
        dtype=rt.dtype,
        memory_format=rt.memory_format,
    )
    wall0 = time.perf_counter() - (journal.history[-1]["wall_s"] if journal.history else 0.0)
    progress = EpochProgress(
        job.recipe.epochs, steps, enabled=job.options.progress and rt.is_main, lines=rt.is_main
    )
    with progress:
        for epoch in range(start_epoch, job.recipe.epochs):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train = train_epoch(step, train_batches.epoch(epoch), progress.updater(epoch + 1))
            train = _rank_mean(train, rt)
            test = evaluate(fast, test_batches.epoch(0), rt.dtype, rt.memory_format)
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": train["loss"],
                "train_acc": train["acc"],
                "test_loss": test["loss"],
                "test_acc": test["acc"],
                "test_top5": test["top5"],
                "images_per_s": train["images_per_s"] * rt.world,
                "epoch_s": time.perf_counter() - t0,
                "wall_s": time.perf_counter() - wall0,
            }
            if rt.is_main:
                _save(job, raw, optimizer, scheduler, scaler, journal, row)
                progress.epoch_done(row)
    journal.close()
    return Trained(journal, raw)


def _rank_mean(metrics: dict[str, float], rt: Runtime) -> dict[str, float]:
    """Training loss and accuracy over all ranks (each saw as many images)."""
    if rt.world == 1:
        return metrics
    values = torch.tensor([metrics["loss"], metrics["acc"]], dtype=torch.float64, device=rt.device)
    torch.distributed.all_reduce(values)
    loss, acc = (values / rt.world).tolist()
    return {**metrics, "loss": loss, "acc": acc}


def _save(
    job: Job,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    journal: Journal,
    row: dict[str, float],
) -> None:
    """Checkpoint the finished epoch (last, and best when it is), then log it."""
    best = journal.best
    state = {
        "epoch": int(row["epoch"]),
        **identity(job),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": checkpoint.rng_state(),
        "history": [*journal.history, row],
    }
    checkpoint.save(job.run.last, state)
    if best is None or row["test_acc"] > best["test_acc"]:
        checkpoint.save(job.run.best, state)
    journal.record(row)
