"""Per-epoch bookkeeping shared by every backend: metrics.csv, TensorBoard, curves.

TensorBoard scalars are written with the tensorboard package's own event writer,
so a Keras run and a torch run log the same way without either framework.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .rundir import METRICS, RunDir


class ScalarLog:
    """TensorBoard scalars in an event file of their own (a resumed run adds a file).

    Written with tensorboard's record writer and protos only: its higher-level writer
    imports TensorFlow when installed, seconds of start-up for a few numbers."""

    def __init__(self, folder: Path) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self._file = (folder / name).open("ab")
        self._writer = RecordWriter(self._file)
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event: Any) -> None:
        self._writer.write(event.SerializeToString())
        self._file.flush()

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in values.items()])
        self._write(Event(wall_time=time.time(), step=step, summary=summary))

    def close(self) -> None:
        self._file.close()


class Journal:
    """The history of a run; `record` persists one finished epoch everywhere at once."""

    def __init__(
        self, run: RunDir, history: Sequence[Mapping[str, float]] = (), *, ema: float = 0.0
    ) -> None:
        self.run = run
        self.ema = ema  # the test columns are the averaged weights' (training: ema)
        self.history: list[dict[str, float]] = [dict(row) for row in history]
        self._log: ScalarLog | None = None

    def record(self, row: Mapping[str, float]) -> None:
        from .plots import plot_curves

        missing = [k for k in METRICS if k not in row]
        assert not missing, f"metrics row lacks {missing}"
        self.history.append(dict(row))
        self.run.write_metrics(self.history)
        if self._log is None:
            self._log = ScalarLog(self.run.tensorboard)
        epoch = int(row["epoch"])
        self._log.scalars(epoch, {k: float(row[k]) for k in METRICS if k != "epoch"})
        plot_curves(self.history, self.run.curves, ema=self.ema)

    @property
    def best(self) -> Mapping[str, float] | None:
        return max(self.history, key=lambda r: r["test_acc"], default=None)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
