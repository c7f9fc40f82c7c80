"""The training driver: one epoch loop for every framework.

The framework's Session (incept.runtime.adapter) builds the model, optimizer and
batches and takes one step; everything else is here, once: resuming (mid-epoch
too), the metrics row, timing, the best/last checkpoint policy, progress, logging,
SIGTERM/SIGINT, and non-finite checks. Only rank 0 writes (`_write`).

Every CHECK_EVERY steps the driver reads the running sums from the device (the only
host synchronisation in an epoch besides its end): the progress bar moves, a
non-finite loss stops the run, and under DDP the ranks agree on a pending signal.
Before any checkpoint is written the weights are checked too, so a checkpoint file
is never overwritten with NaN or infinite weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import frameworks
from .adapter import Session
from .errors import Code, InputError, NonFinite, Stopped, write_failed
from .job import Job, identity, run_config
from .journal import Journal
from .metrics import score
from .progress import EpochProgress
from .resume import resume_state
from .signals import Deferred
from .weights import Weights

#: Steps between host synchronisations (progress, non-finite loss, signals under DDP).
CHECK_EVERY = 10
#: Images in augmented.png.
PREVIEW = 32


@dataclass
class _Epoch:
    """The epoch in progress: which, how far, and what it has cost so far."""

    index: int  # 0-based
    lr: float  # at its first step
    elapsed: float  # seconds of training before this process took it over
    started: float  # time.perf_counter() when this process took it over

    def seconds(self) -> float:
        return self.elapsed + time.perf_counter() - self.started


def train(job: Job) -> Journal:
    """Train (or continue) the job's run to its last epoch; return its history."""
    adapter = frameworks.adapter(job.backend, job.spec_path)
    state = resume_state(job, adapter.read_state)
    session = adapter.session(job)
    if session.steps == 0:
        raise InputError(
            Code.FLAG, "--batch-size", f"{job.recipe.batch_size} is larger than the training set"
        )
    ema = job.recipe.ema
    journal, first, start, partial = Journal(job.run, ema=ema), 0, 0, None
    if state is not None:
        session.restore(state, job.run.last)
        journal = Journal(job.run, state["history"], ema=ema)
        first, start, partial = int(state["epoch"]), int(state.get("step", 0)), state.get("partial")
    elif isinstance(job.init_from, Weights):
        session.init_weights(job.init_from)
    elif job.init_from is not None:
        session.init_from(job.init_from)
    _write(
        session, lambda: job.run.write_config(run_config(job, session.runtime, session.versions))
    )
    if state is None:
        _write(session, lambda: _draw_batch(job, session))
    wall0 = time.perf_counter() - (journal.history[-1]["wall_s"] if journal.history else 0.0)
    if partial:
        wall0 -= partial["elapsed"]
    progress = EpochProgress(
        job.recipe.epochs,
        session.steps,
        enabled=job.options.progress and session.is_main,
        lines=session.is_main,
    )
    with Deferred() as stop, progress:
        for index in range(first, job.recipe.epochs):
            if partial and index == first:
                session.set_sums(partial["loss_sum"], partial["correct"], int(partial["seen"]))
                epoch = _Epoch(index, partial["lr"], partial["elapsed"], time.perf_counter())
            else:
                session.set_sums(0.0, 0.0, 0)
                epoch = _Epoch(index, session.lr(), 0.0, time.perf_counter())
            _train_epoch(
                job, session, journal, epoch, start if index == first else 0, progress, stop
            )
            row = _finish_epoch(session, epoch, wall0)
            _save(job, session, journal, row, epoch, step=0)
            _write(session, lambda row=row: journal.record(row))
            progress.epoch_done(row)
    journal.close()
    return journal


def _draw_batch(job: Job, session: Session) -> None:
    """augmented.png: what the run trains on, before its first step (a wrong crop,
    flip or normalisation shows before any time is spent)."""
    from .augment import as_pixels
    from .plots import plot_batch

    images, labels = session.preview(PREVIEW)
    plot_batch(as_pixels(images, job.mean, job.std), labels, job.data.classes, job.run.augmented)


def _train_epoch(
    job: Job,
    session: Session,
    journal: Journal,
    epoch: _Epoch,
    start: int,
    progress: EpochProgress,
    stop: Deferred,
) -> None:
    update = progress.updater(epoch.index + 1)
    session.begin_epoch(epoch.index)
    for done, batch in enumerate(session.batches(epoch.index, start), start + 1):
        session.step(batch)
        checkpoint = done % CHECK_EVERY == 0 or done == session.steps
        if checkpoint:
            loss_sum, correct, seen = session.sums()
            _check_loss(job, journal, loss_sum, epoch, done)
            update(done, _means(loss_sum, correct, seen, epoch.seconds()))
        if done < session.steps and _stopping(session, stop, checkpoint):
            _save(job, session, journal, None, epoch, step=done)
            assert stop.signum is not None or session.world > 1
            signum = stop.signum or 15
            raise Stopped(
                str(job.run.path),
                f"stopped by signal {signum} at epoch {epoch.index + 1}, step {done}; "
                f"its place is saved in {job.run.last}: continue with --resume",
                signum,
            )


def _stopping(session: Session, stop: Deferred, synced: bool) -> bool:
    """Whether a signal asks to stop now: at once with one process; under DDP only at
    the steps where the ranks synchronise anyway, all of them together."""
    if session.world == 1:
        return stop.signum is not None
    return synced and session.any_rank(stop.signum is not None)


def _check_loss(job: Job, journal: Journal, loss_sum: float, epoch: _Epoch, step: int) -> None:
    if math.isfinite(loss_sum):
        return
    raise NonFinite(
        str(job.run.path),
        f"the training loss became {loss_sum} by epoch {epoch.index + 1}, step {step}; "
        f"nothing of this epoch was saved; {_last_good(job, journal)} "
        "(lower --lr, or add warm-up with --warmup-epochs)",
    )


def _last_good(job: Job, journal: Journal) -> str:
    if not job.run.last.exists():
        return "no checkpoint was written before"
    return f"the last good checkpoint is {job.run.last}"


def _means(loss_sum: float, correct: float, seen: int, seconds: float) -> dict[str, float]:
    if not seen:
        return {"loss": math.nan, "acc": math.nan, "images_per_s": 0.0}
    return {
        "loss": loss_sum / seen,
        "acc": correct / seen,
        "images_per_s": seen / max(seconds, 1e-9),
    }


def _finish_epoch(session: Session, epoch: _Epoch, wall0: float) -> dict[str, float]:
    """The epoch's metrics row: training sums over the ranks, then the test pass."""
    loss_sum, correct, seen = session.sums()
    train = _means(loss_sum, correct, seen, epoch.seconds())
    loss, acc = session.rank_mean([train["loss"], train["acc"]])
    images_per_s = train["images_per_s"] * session.world
    logits, labels = session.test_logits()
    test = score(logits, labels)
    return {
        "epoch": epoch.index + 1,
        "lr": epoch.lr,
        "train_loss": loss,
        "train_acc": acc,
        "test_loss": test["loss"],
        "test_acc": test["acc"],
        "test_top5": test["top5"],
        "images_per_s": images_per_s,
        "epoch_s": epoch.seconds(),
        "wall_s": time.perf_counter() - wall0,
    }


def _save(
    job: Job,
    session: Session,
    journal: Journal,
    row: Mapping[str, float] | None,
    epoch: _Epoch,
    step: int,
) -> None:
    """Checkpoint the run's place: a finished epoch (`row`; best.* too when it is the
    best), or `step` batches into `epoch` (only last.*). Never non-finite weights."""
    if not session.weights_finite():
        raise NonFinite(
            str(job.run.path),
            f"the weights became NaN or infinite by epoch {epoch.index + 1}"
            + (f", step {step}" if step else "")
            + f"; nothing of this epoch was saved; {_last_good(job, journal)}",
        )
    finished = epoch.index + 1 if row is not None else epoch.index
    history = [*journal.history, *([dict(row)] if row is not None else [])]
    state: dict[str, Any] = {"epoch": finished, "step": step, **identity(job), "history": history}
    if row is None:
        loss_sum, correct, seen = session.sums()
        state["partial"] = {
            "loss_sum": loss_sum,
            "correct": correct,
            "seen": seen,
            "lr": epoch.lr,
            "elapsed": epoch.seconds(),
        }
    best = journal.best

    def write() -> None:
        session.save(job.run.last, state)
        if row is not None and (best is None or row["test_acc"] > best["test_acc"]):
            session.copy(job.run.last, job.run.best)

    _write(session, write)


def _write(session: Session, write: Any) -> None:
    """The one place the run writes files: rank 0 only; a failed write (a full disk)
    is one line, and the file it was replacing is intact."""
    if not session.is_main:
        return
    try:
        write()
    except OSError as exc:
        raise write_failed(getattr(exc, "filename", None) or "run folder", exc) from None
