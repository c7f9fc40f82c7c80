"""The run folder: everything one training run writes, in one place.

    runs/NAME/
      config.json        the resolved recipe, data, device, spec path + hashes, versions
      metrics.csv        one row per finished epoch (rewritten whole, atomically)
      tb/                TensorBoard event files
      model.py           the generated model source the run imported
      checkpoints/last.* the state after the last finished epoch (what --resume reads)
      checkpoints/best.* the weights of the epoch with the best test accuracy
      augmented.png      the first training batch as the model sees it (a new run's)
      curves.png confusion.png predictions.png eval.json

Every file is written by `incept.compiler.files.write_atomic` (a temporary file, then
os.replace, with the umask's mode), so a run killed at any moment leaves each file
either old or new, never half-written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incept.compiler.files import write_atomic

#: metrics.csv columns, in order.
METRICS = (
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "test_top5",
    "images_per_s",
    "epoch_s",
    "wall_s",
)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, text)


class RunDir:
    def __init__(self, path: str | Path, checkpoint_suffix: str = ".pt") -> None:
        self.path = Path(path)
        self.suffix = checkpoint_suffix

    config = property(lambda self: self.path / "config.json")
    metrics = property(lambda self: self.path / "metrics.csv")
    tensorboard = property(lambda self: self.path / "tb")
    model_source = property(lambda self: self.path / "model.py")
    last = property(lambda self: self.path / "checkpoints" / f"last{self.suffix}")
    best = property(lambda self: self.path / "checkpoints" / f"best{self.suffix}")
    curves = property(lambda self: self.path / "curves.png")
    augmented = property(lambda self: self.path / "augmented.png")
    confusion = property(lambda self: self.path / "confusion.png")
    predictions = property(lambda self: self.path / "predictions.png")
    evaluation = property(lambda self: self.path / "eval.json")

    def write_config(self, config: Mapping[str, Any]) -> None:
        write_text(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_config(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.config.read_text(encoding="utf-8"))
        return data

    def write_metrics(self, rows: Sequence[Mapping[str, float]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRICS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row[k]) for k in METRICS})
        write_text(self.metrics, buffer.getvalue())

    def read_metrics(self) -> list[dict[str, float]]:
        with self.metrics.open(encoding="utf-8", newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _cell(value: float) -> str:
    """Integers as integers, floats with enough digits to read back exactly."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)
