"""A separable toy problem written as Fashion-MNIST-style IDX files.

Class k is a bright 7x7 square in cell k of a 4-column grid over a 28x28 image,
plus noise: a small network learns it in a few epochs on a CPU.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped IDX file: magic 0x0803 (images) or 0x0801 (labels), dims, uint8 data."""
    magic = 0x0803 if array.ndim == 3 else 0x0801
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def toy_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        r, c = (k // 4) * 7 + 3, (k % 4) * 7
        images[i, r : r + 7, c : c + 7] = 220
    return images, labels.astype(np.uint8)


def write_toy_fashion(folder: Path, train: int = 640, test: int = 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", train, 0), ("test", test, 1)):
        images, labels = toy_images(n, seed)
        write_idx(folder / FILES[split][0], images)
        write_idx(folder / FILES[split][1], labels)
    return folder
