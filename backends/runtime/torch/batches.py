"""Batches for training and evaluation, on the device and deterministic per (seed, epoch).

Arrays (Fashion-MNIST, CIFAR) are moved to the device once as uint8; image folders are
decoded by DataLoader workers. Either way the batch is finished on the device:

    [0, 1] floats -> resize to the spec's size (bilinear, antialiased; image folders
    are resized by Pillow's bilinear filter in the workers instead) -> scale crop (a
    random box resized back to that size) -> random crop (zero = black padding) -> flip
    -> normalise with mean/std -> random erasing (fill 0, i.e. the data set's mean colour
    after normalisation, as torchvision's default).

Training batches augment in the spec's input pixels, after the resize. Every random draw
comes from a torch.Generator seeded from (seed, epoch[, rank, batch]), never the global
RNG, so `epoch(e)` yields the same tensors whenever it is called on the same device
(the sample order is also the same on any device; augmentation draws are per device).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from incept.compiler.spec.schema import Augment
from incept.runtime.augment import (
    ERASE_AREA,
    ERASE_RATIO,
    ERASE_TRIES,
    SCALE_TRIES,
    active,
    fallback_box,
)
from incept.runtime.data import ArraySplit, FileSplit, Split
from incept.runtime.data.images import read_image
from incept.runtime.errors import Code, InputError
from incept.runtime.seeds import mix_seed


class Batches(Protocol):
    def __len__(self) -> int: ...  # batches per epoch on this rank

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches from batch `start` on (a resumed epoch skips the rest)."""
        ...


def make_batches(
    split: Split,
    *,
    train: bool,
    batch_size: int,
    device: torch.device,
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    augment: Augment | None = None,
    seed: int = 0,
    rank: int = 0,
    world: int = 1,
    channels_last: bool = False,
    workers: int = 0,
) -> Batches:
    """Batches of `split`: float32 N x C x H x W (H, W = `size`) and int64 labels on `device`.

    train: shuffled per epoch, `augment`ed, last partial batch dropped, sharded so that
    each of `world` ranks gets the same number of batches. Otherwise: in order, every
    sample, no augmentation, no sharding.
    """
    if batch_size < 1 or world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad batch_size={batch_size}, rank={rank}, world={world}")
    order = _Order(len(split), train, batch_size, seed, rank, world)
    if len(order) == 0:
        raise InputError(
            Code.FLAG,
            "--batch-size",
            f"batch size {batch_size} x {world} rank(s) is more than the {len(split)} "
            "training images: not one full batch per epoch",
        )
    finish = _Finish(device, size, mean, std, augment if train else None, seed, rank, channels_last)
    if isinstance(split, ArraySplit):
        return _ArrayBatches(split, order, finish)
    return _FileBatches(split, order, finish, workers)


@dataclass(frozen=True)
class _Order:
    """Which samples each batch of an epoch holds, on this rank."""

    n: int
    train: bool
    batch_size: int
    seed: int
    rank: int
    world: int

    def __len__(self) -> int:
        if self.train:
            return self.n // self.world // self.batch_size
        return -(-self.n // self.batch_size)

    def batches(self, epoch: int, device: torch.device | None = None) -> list[torch.Tensor]:
        """int64 index tensors, one per batch, moved to `device` in one copy.

        The permutation is drawn on the CPU, so the order is the same on every device,
        and without the rank, so the ranks split one permutation.
        """
        if not self.train:
            return list(torch.arange(self.n, device=device).split(self.batch_size))
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 0))
        perm = torch.randperm(self.n, generator=g)
        per_rank = self.n // self.world
        mine = perm[: per_rank * self.world][self.rank :: self.world]
        mine = mine[: len(self) * self.batch_size].to(device)
        return list(mine.reshape(len(self), self.batch_size))


class _Finish:
    """uint8 N x C x h x w on the device -> the float32 batch the model sees."""

    def __init__(
        self,
        device: torch.device,
        size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augment | None,
        seed: int,
        rank: int,
        channels_last: bool,
    ) -> None:
        if len(mean) != len(std):
            raise ValueError(f"{len(mean)} means but {len(std)} stds")
        self.size = (int(size[0]), int(size[1]))
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.augment = augment if active(augment) else None
        self.seed, self.rank, self.channels_last = seed, rank, channels_last
        self.generator = torch.Generator(device=self.mean.device) if self.augment else None

    @property
    def channels(self) -> int:
        return self.mean.shape[1]

    def __call__(self, raw: torch.Tensor, epoch: int, index: int) -> torch.Tensor:
        if raw.shape[1] != self.channels:
            raise ValueError(f"{raw.shape[1]}-channel images but {self.channels} means")
        x = raw.float().div_(255.0)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True)
        if self.augment and self.generator is not None:
            self.generator.manual_seed(mix_seed(self.seed, epoch, 1, self.rank, index))
            if self.augment.scale is not None:
                x = resample(x, scale_boxes(x.shape, self.augment, self.generator, x.device))
            x = _crop_flip(x, self.augment, self.generator)
        x = (x - self.mean) / self.std
        if self.augment and self.augment.erasing > 0 and self.generator is not None:
            x = _erase(x, float(self.augment.erasing), self.generator)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def scale_boxes(
    shape: Sequence[int], augment: Augment, g: torch.Generator, device: torch.device
) -> torch.Tensor:
    """The scale crop's boxes, N x 4 (top, left, height, width) in pixels: area a fraction
    of the image's drawn uniformly from `augment.scale`, aspect (width / height)
    log-uniform in `augment.ratio`; of SCALE_TRIES draws the first that fits the image
    is cut, else (torchvision's fallback) the centre box of the image's own aspect
    clamped to the ratio range."""
    assert augment.scale is not None
    n, _, h, w = shape
    (lo, hi), (r0, r1) = augment.scale, augment.ratio
    area = h * w * (lo + (hi - lo) * torch.rand(n, SCALE_TRIES, generator=g, device=device))
    low, high = math.log(r0), math.log(r1)
    aspect = torch.exp(low + (high - low) * torch.rand(n, SCALE_TRIES, generator=g, device=device))
    bw = torch.sqrt(area * aspect).round()
    bh = torch.sqrt(area / aspect).round()
    fits = (bw >= 1) & (bw <= w) & (bh >= 1) & (bh <= h)
    first = fits.int().argmax(1, keepdim=True)
    bh, bw = bh.gather(1, first)[:, 0], bw.gather(1, first)[:, 0]
    fh, fw = fallback_box(h, w, r0, r1)
    found = fits.any(1)
    bh, bw = torch.where(found, bh, fh), torch.where(found, bw, fw)
    top = (torch.rand(n, generator=g, device=device) * (h - bh + 1)).floor().clamp_(max=h - bh)
    left = (torch.rand(n, generator=g, device=device) * (w - bw + 1)).floor().clamp_(max=w - bw)
    top = torch.where(found, top, ((h - bh) / 2).floor())
    left = torch.where(found, left, ((w - bw) / 2).floor())
    return torch.stack([top, left, bh, bw], 1)


def resample(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Each image's box (top, left, height, width) resized to the image's size, bilinear,
    the box's corner pixels onto the output's corners (TensorFlow's crop_and_resize
    samples the same points: the Keras side's `resample`)."""
    n, c, h, w = x.shape
    top, left, bh, bw = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = (bw - 1) / max(w - 1, 1)
    theta[:, 0, 2] = (2 * left + bw - 1) / max(w - 1, 1) - 1
    theta[:, 1, 1] = (bh - 1) / max(h - 1, 1)
    theta[:, 1, 2] = (2 * top + bh - 1) / max(h - 1, 1) - 1
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _crop_flip(x: torch.Tensor, augment: Augment, g: torch.Generator) -> torch.Tensor:
    """Zero-pad by crop_padding and crop back at a random offset; mirror half the images."""
    n, c, h, w = x.shape
    pad = augment.crop_padding
    if pad > 0:
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=g, device=x.device)
        rows = offsets[:, :1] + torch.arange(h, device=x.device)  # n x h
        cols = offsets[:, 1:] + torch.arange(w, device=x.device)  # n x w
        padded = F.pad(x, (pad, pad, pad, pad))
        x = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * pad))
        x = x.gather(3, cols[:, None, None, :].expand(n, c, h, w))
    if augment.flip:
        mirror = torch.rand(n, generator=g, device=x.device) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    return x


def _erase(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Random erasing: with probability p one rectangle (area 2-33%, height/width 0.3-3.3,
    log-uniform) is set to 0; of ERASE_TRIES drawn rectangles the first that fits is used."""
    n, _, h, w = x.shape
    dev = x.device
    chosen = torch.rand(n, generator=g, device=dev) < p
    area = h * w * (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * _rand(n, g, dev))
    low, high = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    ratio = torch.exp(low + (high - low) * _rand(n, g, dev))
    eh = torch.sqrt(area * ratio).round().long()
    ew = torch.sqrt(area / ratio).round().long()
    fits = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
    first = fits.int().argmax(1, keepdim=True)  # the first rectangle that fits
    chosen &= fits.any(1)
    eh, ew = eh.gather(1, first)[:, 0], ew.gather(1, first)[:, 0]
    top = (torch.rand(n, generator=g, device=dev) * (h - eh + 1)).long().clamp_(max=h - eh)
    left = (torch.rand(n, generator=g, device=dev) * (w - ew + 1)).long().clamp_(max=w - ew)
    ys, xs = torch.arange(h, device=dev), torch.arange(w, device=dev)
    in_rows = (ys >= top[:, None]) & (ys < (top + eh)[:, None])  # n x h
    in_cols = (xs >= left[:, None]) & (xs < (left + ew)[:, None])  # n x w
    mask = chosen[:, None, None, None] & in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return x.masked_fill(mask, 0.0)


def _rand(n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, ERASE_TRIES, generator=g, device=device)


class _ArrayBatches:
    """A whole uint8 split on the device, gathered and finished batch by batch."""

    def __init__(self, split: ArraySplit, order: _Order, finish: _Finish) -> None:
        device = finish.mean.device
        array = split.images if split.images.flags.writeable else split.images.copy()
        self.images = torch.from_numpy(array).to(device).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.from_numpy(np.asarray(split.labels, dtype=np.int64)).to(device)
        self.order, self.finish = order, finish

    def __len__(self) -> int:
        return len(self.order)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows_of = self.order.batches(epoch, self.images.device)
        for index, rows in enumerate(rows_of[start:], start):
            raw = self.images.index_select(0, rows)
            yield self.finish(raw, epoch, index), self.labels.index_select(0, rows)


@dataclass(frozen=True)
class _Failed:
    """An InputError from a worker, carried as data (DataLoader cannot re-raise it)."""

    code: Code
    where: str
    message: str


class _Files(TorchDataset[tuple[torch.Tensor, int] | _Failed]):
    def __init__(self, split: FileSplit, channels: int, size: tuple[int, int]) -> None:
        self.paths, self.labels = split.paths, split.labels.tolist()
        self.channels, self.size, self.resize = channels, size, split.resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int] | _Failed:
        try:
            pixels = read_image(
                self.paths[i], channels=self.channels, size=self.size, resize=self.resize
            )
        except InputError as err:
            return _Failed(err.code, err.where, err.message)
        return torch.from_numpy(pixels).permute(2, 0, 1), self.labels[i]


def _collate(items: list[tuple[torch.Tensor, int] | _Failed]) -> tuple[torch.Tensor, ...] | _Failed:
    for item in items:
        if isinstance(item, _Failed):
            return item
    pairs = [item for item in items if not isinstance(item, _Failed)]
    images = torch.stack([image for image, _ in pairs])
    return images, torch.tensor([label for _, label in pairs], dtype=torch.int64)


class _EpochOrder:
    """The DataLoader's batch sampler: the batches of the epoch being read."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _FileBatches:
    """Image files decoded and resized by DataLoader workers, finished on the device."""

    def __init__(self, split: FileSplit, order: _Order, finish: _Finish, workers: int) -> None:
        self.order, self.finish = order, finish
        self.sampler = _EpochOrder()
        self.device = finish.mean.device
        self.loader = DataLoader(
            _Files(split, finish.channels, finish.size),
            batch_sampler=self.sampler,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
        )

    def __len__(self) -> int:
        return len(self.order)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.batches = [rows.tolist() for rows in self.order.batches(epoch)[start:]]
        for index, batch in enumerate(self.loader, start):
            if isinstance(batch, _Failed):
                raise InputError(batch.code, batch.where, batch.message)
            images, labels = batch
            raw = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            yield self.finish(raw, epoch, index), labels
