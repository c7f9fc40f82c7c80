"""The evaluation summary as a rich table on the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def print_summary(summary: Mapping[str, Any]) -> None:
    console = Console()
    console.print(
        f"{summary['checkpoint']}: {summary['count']:,} test images, {summary['crops']} crop(s): "
        f"top-1 {summary['top1']:.4f}  top-5 {summary['top5']:.4f}  loss {summary['loss']:.4f}",
        highlight=False,
    )
    table = Table("class", "accuracy", title="per-class accuracy")
    for name, acc in summary["per_class"].items():
        table.add_row(name, f"{acc:.4f}")
    console.print(table)
