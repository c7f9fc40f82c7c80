"""The PyTorch side of the runtime: what `incept train / eval / predict` call for
`--backend torch` (every backend folder exposes these four names)."""

from .report import evaluate_checkpoint, predict_images, write_report
from .train import run

__all__ = ["evaluate_checkpoint", "predict_images", "run", "write_report"]
