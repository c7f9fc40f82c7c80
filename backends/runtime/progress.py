"""The training progress display (rich): a bar per epoch and one line per finished epoch.

Shared by the backends: each reports (step, running metrics) and finished rows.
The bar is off with --no-progress; the per-epoch line (for logs) is printed on
rank 0 either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class EpochProgress:
    def __init__(
        self, epochs: int, steps: int, *, enabled: bool = True, lines: bool = True
    ) -> None:
        self.epochs, self.steps, self.lines = epochs, steps, lines
        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.4f}"),
            TextColumn("{task.fields[ips]:,.0f} img/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not enabled,
        )
        self.task = self.bar.add_task(
            "train", total=steps, epoch=0, epochs=epochs, loss=0.0, acc=0.0, ips=0.0
        )

    def __enter__(self) -> EpochProgress:
        self.bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.__exit__(kind, exc, tb)

    def updater(self, epoch: int) -> Callable[[int, Mapping[str, float]], None]:
        # reset replaces every field, so all of them are given again
        self.bar.reset(
            self.task, total=self.steps, epoch=epoch, epochs=self.epochs, loss=0.0, acc=0.0, ips=0.0
        )

        def update(step: int, metrics: Mapping[str, float]) -> None:
            done = self.steps if step < 0 else step
            self.bar.update(
                self.task,
                completed=done,
                loss=metrics["loss"],
                acc=metrics["acc"],
                ips=metrics["images_per_s"],
            )

        return update

    def epoch_done(self, row: Mapping[str, float]) -> None:
        if not self.lines:
            return
        self.console.print(
            f"epoch {int(row['epoch'])}/{self.epochs}  lr {row['lr']:.4g}  "
            f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
            f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f} "
            f"top5 {row['test_top5']:.4f}  {row['images_per_s']:,.0f} img/s  "
            f"{row['epoch_s']:.1f}s (total {row['wall_s']:.1f}s)",
            highlight=False,
            soft_wrap=True,  # one line per epoch in logs, whatever the width
        )
