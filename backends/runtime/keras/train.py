"""`incept train --backend keras`: build, preflight, model.fit, checkpoint, resume.

The same order of events as the torch path: every check (data fits the spec, run
folder state, resume compatibility, preflight) runs before the first file is
written; each finished epoch is checkpointed atomically (`checkpoints/last.keras`,
and `best.keras` when it is the best) before its metrics row appears.

Each epoch is one `model.fit(epochs=1)` call on that epoch's tf.data batches, so
batches, augmentation and dropout masks are functions of (seed, epoch): resuming
after epoch e reloads the weights and the optimizer's variables (step count,
momentum buffers) and trains epoch e + 1 exactly as an uninterrupted run would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..errors import Code, InputError
from ..job import Job, identity, run_config
from ..journal import Journal
from ..progress import EpochProgress
from ..resume import resume_state
from ..seeds import mix_seed
from . import checkpoint
from .batches import Batches
from .device import Runtime, setup
from .evaluate import softmax
from .model import build_model, has_aux, preflight
from .optim import compile_model


def config(job: Job, rt: Runtime) -> dict[str, Any]:
    runtime = {
        "device": rt.device,
        "autocast": {"float32": "fp32", "mixed_bfloat16": "bfloat16"}.get(rt.policy, rt.policy),
        "compile": rt.jit_compile,
        "keras_backend": keras.backend.backend(),
        "world_size": 1,
    }
    versions = {"keras": keras.__version__, "tensorflow": tf.__version__}
    return run_config(job, runtime, versions)


def _batches(job: Job, split: str) -> Batches:
    train = split == "train"
    return Batches(
        job.data.train if train else job.data.test,
        train=train,
        batch_size=job.recipe.batch_size,
        size=tuple(job.compiled.graph.input.shape[1:]),  # type: ignore[arg-type,index]
        mean=job.mean,
        std=job.std,
        augment=job.recipe.augment if train else None,
        seed=job.options.seed,
        workers=job.options.workers,
    )


def reseed_dropout(model: Any, seed: int, epoch: int) -> None:
    """Set every layer's random state (Dropout's SeedGenerator) from (seed, epoch).

    Keras does not save these states in a checkpoint; deriving them per epoch makes the
    masks of epoch e the same in a resumed run as in an uninterrupted one."""
    for index, layer in enumerate(model.layers):
        for generator in getattr(layer, "_seed_generators", ()):
            state = generator.state
            value = mix_seed(seed, epoch, 2, index) & 0x7FFF_FFFF
            state.assign(np.array([value, 0], dtype=state.dtype))


def logits_function(model: Any, jit_compile: bool = False) -> Any:
    """x -> the main output's float32 logits in inference mode (aux heads unused)."""
    main = keras.Model(model.input, model.outputs[0]) if has_aux(model) else model

    spec = tf.TensorSpec((None, *main.input.shape[1:]), tf.float32)

    @tf.function(input_signature=[spec], jit_compile=jit_compile)
    def logits(x: Any) -> Any:
        return tf.cast(main(x, training=False), tf.float32)

    return logits


def evaluate(logits: Any, batches: Any) -> dict[str, float]:
    """Test loss (no smoothing), top-1 and top-5 accuracy of one centre view."""
    loss_sum, top1, top5, seen = 0.0, 0, 0, 0
    for images, labels in batches:
        out = np.asarray(logits(images), np.float64)
        y = np.asarray(labels, np.int64)
        p = softmax(out)
        loss_sum += float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-300)).sum())
        k = min(5, out.shape[1])
        top = np.argsort(-out, axis=1, kind="stable")[:, :k]
        top1 += int((top[:, 0] == y).sum())
        top5 += int((top == y[:, None]).any(1).sum())
        seen += len(y)
    return {"loss": loss_sum / seen, "acc": top1 / seen, "top5": top5 / seen}


class _Progress(keras.callbacks.Callback):
    """Feeds the shared progress bar and measures images/s of the epoch."""

    def __init__(self, update: Any, batch_size: int, enabled: bool) -> None:
        super().__init__()
        self.update, self.batch_size, self.enabled = update, batch_size, enabled
        self.start = time.perf_counter()
        self.seen = 0
        self.end: float | None = None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.start, self.seen, self.end = time.perf_counter(), 0, None

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.end = time.perf_counter()  # training only: the test pass comes after

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.seen += self.batch_size
        if self.enabled and batch % 10 == 9 and logs:
            self.update(batch + 1, self._metrics(logs))

    def images_per_s(self) -> float:
        end = self.end if self.end is not None else time.perf_counter()
        return self.seen / max(end - self.start, 1e-9)

    def _metrics(self, logs: Any) -> dict[str, float]:
        acc = next((float(v) for k, v in logs.items() if k.endswith("acc")), float("nan"))
        return {"loss": float(logs["loss"]), "acc": acc, "images_per_s": self.images_per_s()}


@dataclass(frozen=True)
class Trained:
    journal: Journal  # every finished epoch
    model: Any  # the trained keras.Model (with its aux outputs, if trained with them)


def run(job: Job) -> Trained:
    """Train (or continue) the job's run to its last epoch."""
    rt = setup(job.options)
    state = resume_state(job, checkpoint.read_state)
    keras.utils.set_random_seed(job.options.seed)
    model = build_model(job.compiled, job.run.path, aux=job.recipe.aux)
    preflight(model, job.compiled.graph, job.spec_path)
    train_batches, test_batches = _batches(job, "train"), _batches(job, "test")
    steps = len(train_batches)
    if steps == 0:
        raise InputError(
            Code.FLAG, "--batch-size", f"{job.recipe.batch_size} is larger than the training set"
        )
    heads = job.compiled.graph.aux_heads if has_aux(model) else ()
    aux_weights = [h.loss_weight or 0.0 for h in heads]
    compile_model(model, job.recipe, steps, aux_weights, jit_compile=rt.jit_compile)
    model.optimizer.build(model.trainable_variables)
    journal = Journal(job.run)
    start_epoch = 0
    if state is not None:
        checkpoint.load_weights(model, job.run.last)
        journal = Journal(job.run, state["history"])
        start_epoch = int(state["epoch"])
    job.run.write_config(config(job, rt))
    logits = logits_function(model, rt.jit_compile)
    outputs = len(model.outputs)
    wall0 = time.perf_counter() - (journal.history[-1]["wall_s"] if journal.history else 0.0)
    progress = EpochProgress(job.recipe.epochs, steps, enabled=job.options.progress)
    with progress:
        for epoch in range(start_epoch, job.recipe.epochs):
            t0 = time.perf_counter()
            reseed_dropout(model, job.options.seed, epoch)
            lr = float(model.optimizer.learning_rate)
            callback = _Progress(
                progress.updater(epoch + 1), job.recipe.batch_size, job.options.progress
            )
            data = train_batches.epoch(epoch)
            if outputs > 1:
                data = data.map(lambda x, y: (x, (y,) * outputs))
            try:
                history = model.fit(
                    data, epochs=1, verbose=0, shuffle=False, callbacks=[callback]
                ).history
                test = evaluate(logits, test_batches.epoch(0))
            except tf.errors.OpError:
                train_batches.raise_failed()
                test_batches.raise_failed()
                raise
            acc_key = next(k for k in history if k.endswith("acc"))
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": float(history["loss"][-1]),
                "train_acc": float(history[acc_key][-1]),
                "test_loss": test["loss"],
                "test_acc": test["acc"],
                "test_top5": test["top5"],
                "images_per_s": callback.images_per_s(),
                "epoch_s": time.perf_counter() - t0,
                "wall_s": time.perf_counter() - wall0,
            }
            done = {k: row[f"train_{k}"] for k in ("loss", "acc")}
            callback.update(-1, {**done, "images_per_s": row["images_per_s"]})
            _save(job, model, journal, row)
            progress.epoch_done(row)
    journal.close()
    return Trained(journal, model)


def _save(job: Job, model: Any, journal: Journal, row: dict[str, float]) -> None:
    """Checkpoint the finished epoch (last, and best when it is), then log it."""
    best = journal.best
    state = {"epoch": int(row["epoch"]), **identity(job), "history": [*journal.history, row]}
    checkpoint.save(job.run.last, model, state)
    if best is None or row["test_acc"] > best["test_acc"]:
        checkpoint.copy(job.run.last, job.run.best)
    journal.record(row)
