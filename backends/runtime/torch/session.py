"""The torch side of a training run: model, optimizer, schedule, batches, one step.

The driver (incept.runtime.driver) owns the epoch loop; a Session builds everything
it drives, before anything is written: the model (preflighted against the IR), the
optimizer with its parameter groups, the per-step schedule, the gradient scaler,
DDP under torchrun, and the batches. Running sums stay on the device and are read
only when the driver asks (every few steps), so a GPU is never stalled per step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from ..errors import Code, InputError
from ..job import Job
from ..schedule import lr_factor
from . import checkpoint
from .batches import make_batches
from .device import Runtime, setup
from .ema import Average
from .evaluate import test_logits
from .finetune import freeze, with_fresh_classifiers
from .loss import training_loss
from .model import build_model, load_weights, preflight
from .optim import make_optimizer

if TYPE_CHECKING:
    from ..checkpoints import Checkpoint  # a type only: checkpoints.py loads this module
    from ..weights import Weights  # a type only, as Checkpoint


def _batches(job: Job, rt: Runtime, train: bool) -> Any:
    return make_batches(
        job.data.train if train else job.data.test,
        train=train,
        batch_size=job.recipe.batch_size,
        device=rt.device,
        size=tuple(job.compiled.graph.input.shape[1:]),  # type: ignore[arg-type,index]
        mean=job.mean,
        std=job.std,
        augment=job.recipe.augment if train else None,
        seed=job.options.seed,
        rank=rt.rank if train else 0,
        world=rt.world if train else 1,
        channels_last=rt.channels_last,
        workers=job.options.workers,
    )


class TorchSession:
    def __init__(self, job: Job) -> None:
        rt = self.rt = setup(job.options)
        torch.manual_seed(job.options.seed)
        model = build_model(job.compiled, job.run.path, aux=job.recipe.aux)
        preflight(model, job.compiled.graph, job.spec_path)
        self.frozen_norms = freeze(model, job.compiled.graph, job.freeze)
        self.raw = model.to(rt.device).to(memory_format=rt.memory_format)
        self.train_batches, self.test_batches = _batches(job, rt, True), _batches(job, rt, False)
        self.steps = len(self.train_batches)
        self.optimizer = make_optimizer(self.raw, job.recipe)
        self.clip = float(job.recipe.clip_grad_norm)
        recipe, steps = job.recipe, max(self.steps, 1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(recipe, s, steps)
        )
        self.scaler = torch.amp.GradScaler(rt.device.type, enabled=rt.dtype == torch.float16)
        self.average = Average(self.raw, recipe.ema) if recipe.ema else None
        self.fast = cast(nn.Module, torch.compile(self.raw)) if rt.compile else self.raw
        self.model: nn.Module = self.fast
        if rt.world > 1:
            ids = [rt.device.index] if rt.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.fast, device_ids=ids)
        self.graph = job.compiled.graph
        heads = job.compiled.graph.aux_heads if job.recipe.aux else ()
        self.aux_weights = [h.loss_weight or 0.0 for h in heads]
        self.smoothing = job.recipe.label_smoothing
        self.is_main, self.world = rt.is_main, rt.world
        self.runtime = {
            "device": str(rt.device),
            "autocast": str(rt.dtype).removeprefix("torch.") if rt.dtype else "fp32",
            "compile": rt.compile,
            "channels_last": rt.channels_last,
            "world_size": rt.world,
        }
        self.versions = {"torch": torch.__version__}
        self.set_sums(0.0, 0.0, 0)

    def restore(self, state: Mapping[str, Any], path: Path) -> None:
        self.raw.load_state_dict(state.get("trained", state["model"]))
        if self.average is not None:
            self.average.restore(state["model"], int(state["ema_updates"]))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        checkpoint.set_rng_state(state["rng"])

    def init_weights(self, weights: Weights) -> None:
        aux = bool(getattr(self.raw, "aux_logits", False))
        weights.load_into(self.raw, "torch", aux=aux, fresh_classifiers=True)
        self._start_average()

    def init_from(self, source: Checkpoint) -> None:
        if source.framework != "torch":
            raise InputError(
                Code.FLAG,
                "--init-from",
                f"{source.path} is a {source.framework} checkpoint; "
                "convert it first: incept convert SOURCE --to torch -o FILE.pt",
            )
        weights = source.state["model"]
        if source.compiled.graph.num_classes != self.graph.num_classes:
            weights = with_fresh_classifiers(self.raw, weights, self.graph)
        load_weights(self.raw, weights, source.path)
        self._start_average()

    def _start_average(self) -> None:
        """The average starts from the weights a new run starts from."""
        if self.average is not None:
            self.average.restore(self.raw.state_dict(), 0)

    def begin_epoch(self, epoch: int) -> None:
        self.model.train()
        for norm in self.frozen_norms:  # frozen rows keep their batch statistics too
            norm.eval()

    def batches(self, epoch: int, start: int) -> Iterator[Any]:
        return iter(self.train_batches.epoch(epoch, start))

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        images, labels = batch
        images = images.contiguous(memory_format=self.rt.memory_format)
        with torch.autocast(
            images.device.type, dtype=self.rt.dtype, enabled=self.rt.dtype is not None
        ):
            loss, logits = training_loss(
                self.model(images), labels, self.aux_weights, self.smoothing
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.clip:
            self.scaler.unscale_(self.optimizer)  # the norm of the true gradients
            nn.utils.clip_grad_norm_(self.raw.parameters(), self.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.average is not None:
            self.average.update()
        self.loss_sum += loss.detach().float() * len(labels)
        self.correct += (logits.argmax(1) == labels).sum()
        self.seen += len(labels)

    def preview(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        images, labels = next(iter(self.train_batches.epoch(0)))
        nhwc = images[:count].float().permute(0, 2, 3, 1).cpu().numpy()
        return nhwc, labels[:count].cpu().numpy()

    def sums(self) -> tuple[float, float, int]:
        return float(self.loss_sum), float(self.correct), self.seen

    def set_sums(self, loss_sum: float, correct: float, seen: int) -> None:
        device = self.rt.device
        self.loss_sum = torch.tensor(loss_sum, dtype=torch.float32, device=device)
        self.correct = torch.tensor(int(correct), dtype=torch.int64, device=device)
        self.seen = seen

    def rank_mean(self, values: Sequence[float]) -> list[float]:
        if self.world == 1:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.rt.device)
        torch.distributed.all_reduce(tensor)
        return (tensor / self.world).tolist()

    def any_rank(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        tensor = torch.tensor([int(flag)], device=self.rt.device)
        torch.distributed.all_reduce(tensor)
        return bool(tensor.item())

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def weights_finite(self) -> bool:
        tensors = [t for t in self.raw.state_dict().values() if t.is_floating_point()]
        finite = bool(torch.stack([t.isfinite().all() for t in tensors]).all())
        return finite and (self.average is None or self.average.finite())

    def test_logits(self) -> tuple[np.ndarray, np.ndarray]:
        model = self.fast if self.average is None else self.average.model
        return test_logits(model, self.test_batches.epoch(0), self.rt.dtype, self.rt.memory_format)

    def save(self, path: Path, state: Mapping[str, Any]) -> None:
        """With averaging, `model` holds the averaged weights (what eval, predict and
        export load) and `trained` the weights training continues from."""
        weights: dict[str, Any] = {"model": self.raw.state_dict()}
        if self.average is not None:
            weights = {
                "model": self.average.state_dict(),
                "trained": weights["model"],
                "ema_updates": self.average.updates,
            }
        checkpoint.save(
            path,
            {
                **state,
                **weights,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": checkpoint.rng_state(),
            },
        )

    def copy(self, source: Path, target: Path) -> None:
        checkpoint.copy(source, target)
