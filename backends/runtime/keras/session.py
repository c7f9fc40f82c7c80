"""The Keras side of a training run: model, optimizer, batches, one step.

The driver (incept.runtime.driver) owns the epoch loop, as for torch. A step is one
tf.function (XLA with --compile) that computes the recipe's loss (every output,
weighted [1, aux...]), applies the recipe's optimizer and adds the batch's loss and
hits to running sums held in variables on the device; nothing is read back per
step. The model is compiled with the recipe (optimizer, schedule, loss), so a
`.keras` checkpoint holds the optimizer's variables and loads with load_model.

With `--replicas N` the model and optimizer live under a MirroredStrategy; each
replica takes `batch_size` images of a global batch of N x batch_size and divides
its mean loss by N, so the gradients the optimizer sums over replicas are those of
the global batch's mean (without the loss metrics of `model.compute_loss`, whose
lazily created variables a strategy cannot build inside a step). XLA stays off
there: the optimizer's cross-replica update cannot be compiled into one step.

Dropout masks come from each layer's SeedGenerator; Keras does not save those
states, so they are set from (seed, epoch) at every epoch's start and saved in the
checkpoint mid-epoch: a resumed run draws the masks an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from incept.compiler.files import copy_atomic

from ..errors import Code, InputError
from ..job import Job
from ..seeds import mix_seed
from . import checkpoint
from .batches import Batches
from .device import setup
from .ema import Average, from_bytes, to_bytes
from .finetune import classifier_layers, freeze
from .model import build_model, has_aux, logits_function, preflight
from .optim import CrossEntropy, compile_model

if TYPE_CHECKING:
    from ..checkpoints import Checkpoint  # a type only: checkpoints.py loads this module
    from ..weights import Weights  # a type only, as Checkpoint


def _batches(job: Job, train: bool, batch_size: int) -> Batches:
    return Batches(
        job.data.train if train else job.data.test,
        train=train,
        batch_size=batch_size,
        size=tuple(job.compiled.graph.input.shape[1:]),  # type: ignore[arg-type,index]
        mean=job.mean,
        std=job.std,
        augment=job.recipe.augment if train else None,
        seed=job.options.seed,
        workers=job.options.workers,
    )


def _seed_states(model: Any) -> list[Any]:
    return [g.state for layer in model.layers for g in getattr(layer, "_seed_generators", ())]


def reseed_dropout(model: Any, seed: int, epoch: int) -> None:
    """Set every layer's random state (Dropout's SeedGenerator) from (seed, epoch)."""
    for index, layer in enumerate(model.layers):
        for generator in getattr(layer, "_seed_generators", ()):
            state = generator.state
            value = mix_seed(seed, epoch, 2, index) & 0x7FFF_FFFF
            state.assign(np.array([value, 0], dtype=state.dtype))


class KerasSession:
    is_main, world = True, 1  # one process (--replicas are devices inside it)

    def __init__(self, job: Job) -> None:
        if job.recipe.clip_grad_norm and job.options.replicas > 1:  # before the devices split
            raise InputError(
                Code.FLAG, "--clip-grad-norm", "does not combine with --replicas: Keras clips "
                "each replica's gradients before they are summed; train on one device",
            )  # fmt: skip
        rt = setup(job.options)
        keras.utils.set_random_seed(job.options.seed)
        self.seed = job.options.seed
        self.strategy, self.replicas = rt.strategy(), rt.replicas
        with self.strategy.scope():
            model = self.model = build_model(job.compiled, job.run.path, aux=job.recipe.aux)
            preflight(model, job.compiled.graph, job.spec_path)
            freeze(model, job.compiled.graph, job.freeze)
            self.classifiers = classifier_layers(job.compiled.graph)
            self.batch_size = job.recipe.batch_size * rt.replicas  # the global batch
            self.train_batches = _batches(job, True, self.batch_size)
            self.test_batches = _batches(job, False, job.recipe.batch_size)
            self.steps = len(self.train_batches)
            heads = job.compiled.graph.aux_heads if has_aux(model) else ()
            self.loss_weights = [1.0, *(h.loss_weight or 0.0 for h in heads)]
            compile_model(
                model, job.recipe, max(self.steps, 1), self.loss_weights[1:],
                jit_compile=rt.jit_compile,
            )  # fmt: skip
            model.optimizer.build(model.trainable_variables)
            self.average = Average(model, job.recipe.ema) if job.recipe.ema else None
        self.loss = CrossEntropy(job.recipe.label_smoothing)
        self.loss_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.correct = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.seen = 0
        jit = rt.jit_compile and rt.replicas == 1
        self._step = tf.function(self._global_step, jit_compile=jit)
        self._logits = logits_function(model, rt.jit_compile)
        self.runtime = {
            "device": rt.device,
            "autocast": {"float32": "fp32", "mixed_bfloat16": "bfloat16"}.get(rt.policy, rt.policy),
            "compile": jit,
            "keras_backend": keras.backend.backend(),
            "world_size": 1,
            "replicas": rt.replicas,
        }
        self.versions = {"keras": keras.__version__, "tensorflow": tf.__version__}

    def _global_step(self, images: Any, labels: Any) -> None:
        loss_sum, hits = self.strategy.run(self._replica_step, args=(images, labels))
        self.loss_sum.assign_add(self.strategy.reduce("SUM", loss_sum, axis=None))
        self.correct.assign_add(self.strategy.reduce("SUM", hits, axis=None))
        if self.average is not None:
            self.average.update()

    def _replica_step(self, images: Any, labels: Any) -> tuple[Any, Any]:
        """One replica's share of a step: its loss and hits, summed over its images."""
        model = self.model
        with tf.GradientTape() as tape:
            out = model(images, training=True)
            outs = out if isinstance(out, list | tuple) else [out]
            per_image = sum(
                w * self.loss.call(labels, o) for w, o in zip(self.loss_weights, outs, strict=True)
            )
            loss = tf.reduce_mean(per_image) / self.replicas
            scaled = model.optimizer.scale_loss(loss)
        weights = model.trainable_variables
        model.optimizer.apply(tape.gradient(scaled, weights), weights)
        hits = tf.equal(tf.argmax(outs[0], axis=1, output_type=tf.int64), tf.cast(labels, tf.int64))
        return tf.reduce_sum(per_image), tf.reduce_sum(tf.cast(hits, tf.int64))

    def restore(self, state: Mapping[str, Any], path: Path) -> None:
        checkpoint.load_weights(self.model, path)
        if self.average is not None:  # the file's model weights are the average
            self.average.start(int(state["ema_updates"]))
            data = checkpoint.read_member(path, checkpoint.TRAINED)
            try:
                trained = from_bytes(data, len(self.average.weights))
            except ValueError as exc:  # also a damaged .npz
                raise InputError(Code.CHECKPOINT, path, f"{checkpoint.TRAINED}: {exc}") from None
            self.average.set_trained(trained)
        for variable, value in zip(
            _seed_states(self.model), state.get("dropout", ()), strict=False
        ):
            variable.assign(np.array(value, dtype=variable.dtype))
        self._restored_seeds = "partial" in state

    def init_weights(self, weights: Weights) -> None:
        aux = has_aux(self.model)
        weights.load_into(self.model, "keras", aux=aux, fresh_classifiers=True)
        self._start_average()

    def init_from(self, source: Checkpoint) -> None:
        if source.framework != "keras":
            raise InputError(
                Code.FLAG, "--init-from", f"{source.path} is a {source.framework} checkpoint; "
                "convert it first: incept convert SOURCE --to keras -o FILE.keras",
            )  # fmt: skip
        fresh = build_model(source.compiled, source.folder, aux=source.aux)
        checkpoint.load_weights(fresh, source.path)
        by_name = {w.path: w for w in fresh.weights}
        for weight in self.model.weights:
            if weight.path not in by_name:
                continue
            layer = weight.path.split("/")[0]
            if layer in self.classifiers and by_name[weight.path].shape != weight.shape:
                continue  # another class count: this classifier keeps its fresh weights
            weight.assign(by_name[weight.path])
        self._start_average()

    def _start_average(self) -> None:
        """The average starts from the weights a new run starts from."""
        if self.average is not None:
            self.average.start()

    def begin_epoch(self, epoch: int) -> None:
        if getattr(self, "_restored_seeds", False):
            self._restored_seeds = False  # a resumed epoch keeps the saved dropout states
            return
        reseed_dropout(self.model, self.seed, epoch)

    def batches(self, epoch: int, start: int) -> Iterator[Any]:
        data = self.train_batches.epoch(epoch).skip(start)
        if self.replicas > 1:
            data = self.strategy.experimental_distribute_dataset(data)
        try:
            yield from data
        except tf.errors.OpError:
            self.train_batches.raise_failed()
            raise

    def step(self, batch: tuple[Any, Any]) -> None:
        self._step(*batch)
        self.seen += self.batch_size

    def preview(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            images, labels = next(iter(self.train_batches.epoch(0)))
        except tf.errors.OpError:
            self.train_batches.raise_failed()
            raise
        return np.asarray(images[:count], dtype=np.float32), np.asarray(labels[:count])

    def sums(self) -> tuple[float, float, int]:
        return float(self.loss_sum.numpy()), float(self.correct.numpy()), self.seen

    def set_sums(self, loss_sum: float, correct: float, seen: int) -> None:
        self.loss_sum.assign(loss_sum)
        self.correct.assign(int(correct))
        self.seen = seen

    def rank_mean(self, values: Sequence[float]) -> list[float]:
        return list(values)

    def any_rank(self, flag: bool) -> bool:
        return flag

    def lr(self) -> float:
        return float(self.model.optimizer.learning_rate)

    def weights_finite(self) -> bool:
        finite = all(bool(np.isfinite(w).all()) for w in self.model.get_weights())
        return finite and (self.average is None or self.average.finite())

    def test_logits(self) -> tuple[np.ndarray, np.ndarray]:
        if self.average is None:
            return self._test_logits()
        with self.average.swapped():
            return self._test_logits()

    def _test_logits(self) -> tuple[np.ndarray, np.ndarray]:
        logits, labels = [], []
        try:
            for images, target in self.test_batches.epoch(0):
                logits.append(np.asarray(self._logits(images), np.float64))
                labels.append(np.asarray(target, np.int64))
        except tf.errors.OpError:
            self.test_batches.raise_failed()
            raise
        return np.concatenate(logits), np.concatenate(labels)

    def save(self, path: Path, state: Mapping[str, Any]) -> None:
        """With averaging, the archive's model weights are the average (what eval,
        predict, export and load_model see) and checkpoint.TRAINED holds the weights
        training continues from."""
        state = {**state, "dropout": [np.asarray(v).tolist() for v in _seed_states(self.model)]}
        if self.average is None:
            checkpoint.save(path, self.model, state)
            return
        trained = {checkpoint.TRAINED: to_bytes(self.average.trained())}
        with self.average.swapped():
            checkpoint.save(
                path, self.model, {**state, "ema_updates": int(self.average.updates.numpy())},
                trained,
            )  # fmt: skip

    def copy(self, source: Path, target: Path) -> None:
        copy_atomic(source, target)
