"""Data sets for `incept train / eval`, framework-free.

A data set is read once into numpy: small ones (Fashion-MNIST, CIFAR-10) as whole
uint8 arrays that a backend can move to its device and augment there; image folders
as lists of files that a backend decodes with worker processes. Every problem with
the files is an `InputError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ArraySplit:
    """A split held in memory: images N x H x W x C (uint8), labels N (int64)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


#: Pillow's resampling filters a resize may use: torchvision evaluates its weights with
#: the first, timm its Inception ports with the second.
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class Resize:
    """How an image file is brought to the input's size (images.read_image): squeezed
    whole, or with `crop_pct` cut as the centre crop that torchvision and timm evaluate
    their weights with (images.centre_crop), resampled with `interpolation`."""

    crop_pct: float | None = None
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")


#: The whole image, squeezed to the input's size: what training and a run's eval read.
WHOLE = Resize()


@dataclass(frozen=True)
class FileSplit:
    """A split read from image files on demand (class-per-folder image folders)."""

    paths: tuple[Path, ...]
    labels: np.ndarray
    #: How each image is resized: a centre crop when evaluating a library's weights as
    #: that library does; by default the whole image, squeezed.
    resize: Resize = WHOLE

    def __len__(self) -> int:
        return len(self.labels)


Split = ArraySplit | FileSplit


@dataclass(frozen=True)
class Dataset:
    name: str  # "fashion-mnist", "cifar10:DIR", "imagefolder:DIR"
    classes: tuple[str, ...]
    channels: int  # 1 (grey) or 3 (RGB)
    train: Split
    test: Split
