"""The recipe's optimizer, schedule and loss as Keras objects that mean what torch's do.

- `TorchSGD` is torch.optim.SGD's update, written as a Keras optimizer: weight decay
  is L2 *coupled* to the gradient (g += wd * w before momentum, as torch's SGD
  `weight_decay`), the momentum buffer holds gradients (b = m * b + g) and the current
  learning rate multiplies the whole step (w -= lr * b, or lr * (g + m * b) with
  nesterov). Keras' own SGD folds the learning rate into the buffer and its
  `weight_decay` is decoupled (w -= lr * wd * w after the step), which trains
  differently whenever the learning rate moves or momentum is on.
- AdamW is Keras' AdamW: its decay is decoupled like torch's (w -= lr * wd * w before
  the Adam step), with torch's betas and epsilon 1e-8. One difference remains: Keras
  adds epsilon to sqrt(v) before the bias correction, torch after.
- `TFRMSProp` is TensorFlow 1's RMSPropOptimizer, the update incept.runtime.torch.optim's
  RMSProp writes for torch (epsilon inside the root, mean squares starting at 1, the
  learning rate inside the momentum buffer) with the same coupled L2 decay as TorchSGD.
  Keras' RMSprop starts its mean squares at 0.
- `clip_grad_norm` is Keras' `global_clipnorm`: every gradient scaled by
  min(1, norm / global norm), as torch's `clip_grad_norm_`.
- Either way only weights with more than one axis are decayed: biases and batch-norm
  scales/offsets are not (torch's parameter groups do the same).
- `LRSchedule` reads `schedule.lr_table`, the same pure function of the step torch's
  LambdaLR reads, so step s trains with the same learning rate in both.
- `CrossEntropy` is torch's F.cross_entropy with `label_smoothing` on integer labels:
  (1 - e) * NLL + e * mean over classes of -log p, computed in float32.

All three are registered Keras serializables (package "incept"), so a `.keras`
checkpoint loads with `keras.models.load_model` once `incept.runtime.keras` and the
run's model.py are imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from incept.compiler.spec.schema import Training

from ..schedule import lr_table


def _coupled_decay(gradient: Any, variable: Any, l2: float) -> Any:
    """g + l2 * w for weights (more than one axis); biases and norm parameters as they are."""
    if not l2 or len(variable.shape) <= 1:
        return gradient
    return ops.add(gradient, ops.multiply(variable, ops.cast(l2, variable.dtype)))


@keras.saving.register_keras_serializable(package="incept")
class TorchSGD(keras.optimizers.Optimizer):
    """torch.optim.SGD (momentum, nesterov, coupled weight decay) for Keras."""

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        l2: float = 0.0,
        name: str = "torch_sgd",
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), not {momentum}")
        self.momentum, self.nesterov, self.l2 = float(momentum), bool(nesterov), float(l2)

    def build(self, variables: Any) -> None:
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        g = _coupled_decay(ops.cast(gradient, variable.dtype), variable, self.l2)
        if self.momentum:
            m = ops.cast(self.momentum, variable.dtype)
            buf = self.momentums[self._get_variable_index(variable)]
            self.assign(buf, ops.add(ops.multiply(buf, m), g))
            g = ops.add(g, ops.multiply(buf, m)) if self.nesterov else buf
        self.assign_sub(variable, ops.multiply(g, lr))

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(momentum=self.momentum, nesterov=self.nesterov, l2=self.l2)
        return config


@keras.saving.register_keras_serializable(package="incept")
class TFRMSProp(keras.optimizers.Optimizer):
    """TensorFlow 1's RMSProp (momentum, epsilon inside the root) with coupled L2 decay."""

    def __init__(
        self,
        learning_rate: Any = 0.01,
        decay: float = 0.9,
        eps: float = 1.0,
        momentum: float = 0.9,
        l2: float = 0.0,
        name: str = "tf_rmsprop",
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.decay, self.eps = float(decay), float(eps)
        self.momentum, self.l2 = float(momentum), float(l2)

    def build(self, variables: Any) -> None:
        if self.built:
            return
        super().build(variables)
        self.square_avgs = self.add_optimizer_variables(variables, "square_avg", "ones")
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, variable.dtype)
        g = _coupled_decay(ops.cast(gradient, variable.dtype), variable, self.l2)
        ms, buf = self.square_avgs[index], self.momentums[index]
        self.assign(
            ms, ops.add(ops.multiply(ms, self.decay), ops.multiply(ops.square(g), 1 - self.decay))
        )  # noqa: E501
        step = ops.divide(ops.multiply(g, lr), ops.sqrt(ops.add(ms, self.eps)))
        self.assign(buf, ops.add(ops.multiply(buf, self.momentum), step))
        self.assign_sub(variable, buf)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(decay=self.decay, eps=self.eps, momentum=self.momentum, l2=self.l2)
        return config


@keras.saving.register_keras_serializable(package="incept")
class LRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The recipe's learning rate at each optimizer step (the last value after the end)."""

    def __init__(self, recipe: Mapping[str, Any], steps_per_epoch: int) -> None:
        self.recipe = dict(recipe)
        self.steps_per_epoch = int(steps_per_epoch)
        self.table = lr_table(Training.model_validate(self.recipe), self.steps_per_epoch)

    def __call__(self, step: Any) -> Any:
        table = ops.convert_to_tensor(self.table, dtype="float32")
        index = ops.minimum(ops.cast(step, "int32"), len(self.table) - 1)
        return ops.take(table, index)

    def get_config(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "steps_per_epoch": self.steps_per_epoch}


@keras.saving.register_keras_serializable(package="incept")
class CrossEntropy(keras.losses.Loss):
    """Sparse categorical cross-entropy on logits with torch's label smoothing."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "cross_entropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1, 1))
        nll = -ops.squeeze(ops.take_along_axis(logp, labels, axis=-1), axis=-1)
        if not self.label_smoothing:
            return nll
        e = self.label_smoothing
        return (1.0 - e) * nll - e * ops.mean(logp, axis=-1)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(label_smoothing=self.label_smoothing)
        return config


def make_optimizer(recipe: Training, steps_per_epoch: int, model: Any) -> keras.Optimizer:
    """The recipe's optimizer with its schedule, decaying `model`'s weights only."""
    schedule = LRSchedule(recipe.model_dump(mode="json"), steps_per_epoch)
    clip: dict[str, Any] = (
        {"global_clipnorm": recipe.clip_grad_norm} if recipe.clip_grad_norm else {}
    )
    if recipe.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(
            learning_rate=schedule,
            weight_decay=recipe.weight_decay,
            beta_1=0.9,
            beta_2=0.999,
            epsilon=1e-8,
            **clip,
        )
        flat = [v for v in model.trainable_variables if len(v.shape) <= 1]
        optimizer.exclude_from_weight_decay(var_list=flat)
        return optimizer
    if recipe.optimizer == "rmsprop":
        return TFRMSProp(
            learning_rate=schedule, decay=recipe.rms_decay, eps=recipe.rms_eps,
            momentum=recipe.momentum, l2=recipe.weight_decay, **clip,
        )  # fmt: skip
    return TorchSGD(
        learning_rate=schedule,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        l2=recipe.weight_decay,
        **clip,
    )


def compile_model(
    model: Any,
    recipe: Training,
    steps_per_epoch: int,
    aux_weights: list[float],
    *,
    jit_compile: bool,
) -> None:
    """model.compile with the recipe: loss on every output weighted [1, aux...], accuracy
    on the main output only."""
    loss = CrossEntropy(recipe.label_smoothing)
    outputs = len(model.outputs)
    if outputs != 1 + len(aux_weights):
        raise RuntimeError(f"model has {outputs} outputs, expected 1 + {len(aux_weights)} aux")
    metrics: list[list[Any]] = [[keras.metrics.SparseCategoricalAccuracy(name="acc")]]
    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch, model),
        loss=[loss] * outputs if outputs > 1 else loss,
        loss_weights=[1.0, *aux_weights] if outputs > 1 else None,
        metrics=metrics + [[] for _ in aux_weights] if outputs > 1 else metrics[0],
        jit_compile=jit_compile,
    )
