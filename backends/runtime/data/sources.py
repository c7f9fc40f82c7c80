"""`--data NAME`: open a data set by name, check it against the spec, its pixel stats."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from incept.runtime.data import ArraySplit, Dataset, FileSplit, Split, cifar, folder
from incept.runtime.data.idx import read_idx
from incept.runtime.data.images import read_image
from incept.runtime.errors import Code, InputError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CHOICES = "fashion-mnist, cifar10:DIR, imagefolder:DIR"
STATS_SAMPLE = 512  # images a FileSplit's channel stats are estimated from


def open_dataset(source: str, data_dir: str | None = None) -> Dataset:
    """The data set `source` names, read and cross-checked (`data_dir`: --data-dir)."""
    name, _, arg = source.partition(":")
    if name == "fashion-mnist" and not arg:
        return _fashion_mnist(_fashion_mnist_dir(data_dir))
    if name == "cifar10":
        return _cifar10(_folder_arg(source, arg, data_dir))
    if name == "imagefolder":
        return _imagefolder(_folder_arg(source, arg, data_dir))
    raise InputError(Code.DATA, source, f"unknown data set; choose one of {CHOICES}")


def _folder_arg(source: str, arg: str, data_dir: str | None) -> Path:
    if not (arg or data_dir):
        raise InputError(Code.DATA, source, f"needs a folder: {source}:DIR (or --data-dir DIR)")
    return Path(arg or data_dir or "").expanduser()


def _fashion_mnist_dir(data_dir: str | None) -> Path:
    """--data-dir, else $INCEPT_DATA, else the Debian package's folder."""
    chosen = data_dir or os.environ.get("INCEPT_DATA") or FASHION_MNIST_DIR
    return Path(chosen).expanduser()


def _fashion_mnist(root: Path) -> Dataset:
    files = [_idx_file(root, name) for name in FASHION_MNIST_FILES]
    missing = [name for name, path in zip(FASHION_MNIST_FILES, files, strict=True) if path is None]
    if missing:
        partly = "" if len(missing) == len(files) else f" (missing {', '.join(missing)})"
        raise InputError(
            Code.DATA,
            root,
            f"Fashion-MNIST not found{partly}: "
            "apt-get install dataset-fashion-mnist, or pass --data-dir / set INCEPT_DATA "
            f"to a folder holding {', '.join(FASHION_MNIST_FILES)}",
        )
    train_x, train_y, test_x, test_y = (read_idx(p) for p in files if p is not None)
    classes = FASHION_MNIST_CLASSES
    train = _idx_split(train_x, train_y, files[0], files[1], len(classes))
    test = _idx_split(test_x, test_y, files[2], files[3], len(classes))
    _same_size(train, test, root)
    return Dataset("fashion-mnist", classes, 1, train, test)


def _idx_file(root: Path, name: str) -> Path | None:
    """root/name, or its gunzipped twin root/name-without-.gz."""
    for path in (root / name, root / name.removesuffix(".gz")):
        if path.is_file():
            return path
    return None


def _idx_split(
    images: np.ndarray, labels: np.ndarray, x_path: Path | None, y_path: Path | None, n: int
) -> ArraySplit:
    if images.ndim != 3:
        raise InputError(Code.DATA, x_path, "holds labels, not images")
    if labels.ndim != 1:
        raise InputError(Code.DATA, y_path, "holds images, not labels")
    if len(images) != len(labels):
        raise InputError(
            Code.DATA, y_path, f"{len(labels)} labels for the {len(images)} images of {x_path}"
        )
    split = ArraySplit(images[..., None], labels.astype(np.int64))
    _check_labels(split, n, y_path)
    return split


def _check_labels(split: Split, n: int, where: object) -> None:
    if len(split.labels) and (split.labels.min() < 0 or split.labels.max() >= n):
        bad = split.labels[(split.labels < 0) | (split.labels >= n)][0]
        raise InputError(Code.DATA, where, f"label {bad} out of range: {n} classes (0..{n - 1})")


def _same_size(train: ArraySplit, test: ArraySplit, where: Path) -> None:
    if train.images.shape[1:] != test.images.shape[1:]:
        raise InputError(
            Code.DATA,
            where,
            f"train images are {_hwc(train)} but test images are {_hwc(test)}",
        )


def _hwc(split: ArraySplit) -> str:
    return " x ".join(map(str, split.images.shape[1:]))


def _cifar10(root: Path) -> Dataset:
    if not root.is_dir():
        raise InputError(Code.DATA, root, f"no such folder (cifar10:DIR holds {cifar._listing()})")
    classes = cifar.read_meta(root)
    train = cifar.read_batches(root, cifar.TRAIN_FILES)
    test = cifar.read_batches(root, (cifar.TEST_FILE,))
    _check_labels(train, len(classes), root / "data_batch_*")
    _check_labels(test, len(classes), root / cifar.TEST_FILE)
    return Dataset(f"cifar10:{root}", classes, 3, train, test)


def _imagefolder(root: Path) -> Dataset:
    classes = folder.list_classes(root)
    train = folder.list_split(root / "train", classes)
    test = folder.list_split(folder.held_out(root), classes)
    return Dataset(f"imagefolder:{root}", classes, folder.folder_channels(train), train, test)


def check_fits(
    ds: Dataset, *, channels: int, num_classes: int, where: str, flag: bool = False
) -> None:
    """The data set's channels and class count equal the spec's (`where`: the spec);
    `flag`: a class count is set with --num-classes (incept train)."""
    if ds.channels != channels:
        raise InputError(
            Code.DATA,
            where,
            f"{ds.name} has {ds.channels}-channel images but the spec's input has {channels} "
            f"channels; write a spec that extends it with `input: {{channels: {ds.channels}, "
            "size: ...}`",
        )
    if len(ds.classes) != num_classes:
        raise InputError(
            Code.DATA,
            where,
            f"{ds.name} has {len(ds.classes)} classes but the spec has num_classes: "
            f"{num_classes}; "
            + (f"pass --num-classes {len(ds.classes)} or " if flag else "")
            + f"write a spec that extends it with `num_classes: {len(ds.classes)}`",
        )


def channel_stats(
    split: Split, *, channels: int | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (population) of the pixels on [0, 1].

    An ArraySplit is measured exactly: a 256-bin histogram per channel, filled in chunks
    (no float copy of the images). A FileSplit is estimated from at most STATS_SAMPLE
    images, chosen by a fixed seed (the same every run), decoded with `channels`
    (default: the channels its Dataset reports, from the image headers).
    """
    if isinstance(split, FileSplit):
        channels = channels or folder.folder_channels(split)
        return _stats(_histograms(_sample_images(split, channels), 1))
    if channels is not None and channels != split.images.shape[-1]:
        raise ValueError(f"channels={channels} but the images have {split.images.shape[-1]}")
    return _stats(_histograms([split.images], 4096))


def _sample_images(split: FileSplit, channels: int) -> list[np.ndarray]:
    n = len(split)
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(n, size=min(n, STATS_SAMPLE), replace=False))
    return [read_image(split.paths[i], channels=channels)[None] for i in chosen]


def _histograms(arrays: list[np.ndarray], chunk: int) -> np.ndarray:
    """C x 256 pixel counts of N x H x W x C uint8 arrays, `chunk` images at a time."""
    counts = np.zeros((arrays[0].shape[-1], 256), dtype=np.int64)
    for images in arrays:
        for start in range(0, len(images), chunk):
            block = images[start : start + chunk]
            for c in range(block.shape[-1]):
                counts[c] += np.bincount(block[..., c].ravel(), minlength=256)
    return counts


def _stats(counts: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum(axis=1).astype(np.float64)
    mean = counts @ values / total
    var = (counts * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / total
    return tuple(float(m) for m in mean), tuple(float(s) for s in np.sqrt(var))


def _limit(split: Split, n: int | None, flag: str) -> Split:
    if n is None:
        return split
    if n < 1:
        raise InputError(Code.FLAG, flag, f"must be at least 1, got {n}")
    if isinstance(split, ArraySplit):
        return ArraySplit(split.images[:n], split.labels[:n])
    return FileSplit(split.paths[:n], split.labels[:n])


def open_data(
    source: str, data_dir: str | None, limit_train: int | None = None, limit_test: int | None = None
) -> Dataset:
    """`open_dataset`, cut to the first --limit-train / --limit-test images."""
    data = open_dataset(source, data_dir)
    return replace(
        data,
        train=_limit(data.train, limit_train, "--limit-train"),
        test=_limit(data.test, limit_test, "--limit-test"),
    )
