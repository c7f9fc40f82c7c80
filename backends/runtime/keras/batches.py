"""tf.data batches for training and evaluation, deterministic per (seed, epoch).

The same steps as the torch side (`runtime/torch/batches.py`), in TensorFlow ops:

    [0, 1] floats -> resize to the spec's size (bilinear, antialiased) -> scale crop (a
    random box resized back to that size) -> random crop (zero = black padding) -> flip
    -> normalise with mean/std -> random erasing (fill 0, the data set's mean colour
    after normalisation).

Batches are N x H x W x C (channels-last, as the generated Keras models take them).
Arrays are gathered by index inside the pipeline; image folders are decoded by a
thread pool. The sample order of epoch e is a numpy permutation seeded from
(seed, e); every augmentation draw is a *stateless* random op seeded from
(seed, e, batch index), so `epoch(e)` yields the same batches whenever it is called —
a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from incept.compiler.spec.schema import Augment

from ..augment import ERASE_AREA, ERASE_RATIO, ERASE_TRIES, SCALE_TRIES, active, fallback_box
from ..data import FileSplit, Split
from ..data.images import read_image
from ..errors import Code, InputError
from ..seeds import mix_seed


@dataclass
class Batches:
    split: Split
    train: bool
    batch_size: int
    size: tuple[int, int]
    mean: Sequence[float]
    std: Sequence[float]
    augment: Augment | None
    seed: int
    workers: int = 4
    #: an InputError a file reader hit (tf.data can only re-raise it as its own error)
    failed: InputError | None = None
    _arrays: tuple[Any, Any] | None = None

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """Sample indices of every batch of `epoch`: steps x batch (train) or flat (test)."""
        n = len(self.split)
        if not self.train:
            return np.arange(n)
        perm = np.random.default_rng(mix_seed(self.seed, epoch, 0)).permutation(n)
        return perm[: len(self) * self.batch_size].reshape(len(self), self.batch_size)

    def epoch(self, epoch: int) -> tf.data.Dataset:
        """(images float32 N x H x W x C, labels int64 N) batches of `epoch`."""
        if self.train and len(self) == 0:
            raise InputError(
                Code.FLAG,
                "--batch-size",
                f"batch size {self.batch_size} is more than the {len(self.split)} "
                "training images: not one full batch per epoch",
            )
        raw = self._raw(epoch)
        base = mix_seed(self.seed, epoch, 1) & 0x7FFF_FFFF_FFFF_FFFF
        finish = _Finish(self.size, self.mean, self.std, self.augment if self.train else None)

        def step(index: Any, images: Any, labels: Any) -> tuple[Any, Any]:
            seed = tf.stack([tf.constant(base, tf.int64), tf.cast(index, tf.int64)])
            return finish(images, seed), labels

        return raw.map(step, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    def _raw(self, epoch: int) -> tf.data.Dataset:
        """(batch index, uint8 images, int64 labels) per batch, in the epoch's order."""
        order, size = self.order(epoch), self.batch_size
        if isinstance(self.split, FileSplit):
            rows = (
                list(order)
                if self.train
                else [order[i : i + size] for i in range(0, len(order), size)]
            )
            return self._files(rows)
        if self._arrays is None:  # once: the whole split as two tensors
            labels = np.asarray(self.split.labels, np.int64)
            self._arrays = (tf.constant(self.split.images), tf.constant(labels))
        images, labels = self._arrays
        if self.train:
            index = tf.data.Dataset.from_tensor_slices((np.arange(len(order)), order))

            def gather(i: Any, picked: Any) -> tuple[Any, Any, Any]:
                return i, tf.gather(images, picked), tf.gather(labels, picked)

            return index.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        starts = np.arange(0, len(order), size)
        index = tf.data.Dataset.from_tensor_slices((np.arange(len(starts)), starts))

        def cut(i: Any, start: Any) -> tuple[Any, Any, Any]:
            return i, images[start : start + size], labels[start : start + size]

        return index.map(cut)

    def _files(self, rows: list[np.ndarray]) -> tf.data.Dataset:
        split = self.split
        assert isinstance(split, FileSplit)
        channels = len(self.mean)
        h, w = self.size

        def read(i: int) -> np.ndarray:
            try:
                return read_image(
                    split.paths[i], channels=channels, size=(h, w), resize=split.resize
                )
            except InputError as err:
                self.failed = err
                raise

        def generate() -> Any:
            with ThreadPoolExecutor(max(1, self.workers)) as pool:
                for index, picked in enumerate(rows):
                    images = np.stack(list(pool.map(read, picked.tolist())))
                    yield index, images, split.labels[picked].astype(np.int64)

        signature = (
            tf.TensorSpec((), tf.int64),
            tf.TensorSpec((None, h, w, channels), tf.uint8),
            tf.TensorSpec((None,), tf.int64),
        )
        return tf.data.Dataset.from_generator(generate, output_signature=signature)

    def raise_failed(self) -> None:
        """Re-raise a file reader's InputError after tf.data wrapped it."""
        if self.failed is not None:
            failed, self.failed = self.failed, None
            raise failed


class _Finish:
    """uint8 N x h x w x C -> the float32 batch the model sees, seeded per batch."""

    def __init__(
        self,
        size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augment | None,
    ) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.mean = tf.constant(mean, tf.float32)
        self.std = tf.constant(std, tf.float32)
        self.augment = augment if active(augment) else None

    def __call__(self, raw: Any, seed: Any) -> Any:
        x = tf.cast(raw, tf.float32) / 255.0
        if tuple(x.shape[1:3]) != self.size:
            x = tf.image.resize(x, self.size, method="bilinear", antialias=True)
        if self.augment is not None:
            crop_seed, erase_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            if self.augment.scale is not None:  # its own seed: the other draws stay as they were
                scale_seed = tf.random.experimental.stateless_fold_in(seed, 3)
                x = resample(x, scale_boxes(x, self.augment, scale_seed))
            x = crop_flip(x, self.augment, crop_seed)
        x = (x - self.mean) / self.std
        if self.augment is not None and self.augment.erasing > 0:
            x = erase(x, float(self.augment.erasing), erase_seed)
        return x


def scale_boxes(x: Any, augment: Augment, seed: Any) -> Any:
    """The scale crop's boxes, N x 4 (top, left, height, width) in pixels, drawn as the
    torch side draws them (torch/batches.py `scale_boxes`: area fraction uniform in
    `augment.scale`, aspect log-uniform in `augment.ratio`, the first of SCALE_TRIES
    draws that fits, else the centre box of the image's aspect clamped to the ratio)."""
    assert augment.scale is not None
    n = tf.shape(x)[0]
    h, w = int(x.shape[1]), int(x.shape[2])
    (lo, hi), (r0, r1) = augment.scale, augment.ratio
    s = tf.unstack(tf.random.experimental.stateless_split(seed, 4))

    def uniform(shape: list[Any], k: int) -> Any:
        return tf.random.stateless_uniform(tf.stack(shape), seed=s[k])

    area = h * w * (lo + (hi - lo) * uniform([n, SCALE_TRIES], 0))
    low, high = math.log(r0), math.log(r1)
    aspect = tf.exp(low + (high - low) * uniform([n, SCALE_TRIES], 1))
    bw, bh = tf.round(tf.sqrt(area * aspect)), tf.round(tf.sqrt(area / aspect))
    fits = (bw >= 1) & (bw <= w) & (bh >= 1) & (bh <= h)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    found = tf.reduce_any(fits, axis=1)
    fh, fw = fallback_box(h, w, r0, r1)
    bh = tf.where(found, tf.gather(bh, first, axis=1, batch_dims=1), fh)
    bw = tf.where(found, tf.gather(bw, first, axis=1, batch_dims=1), fw)
    top = tf.minimum(tf.floor(uniform([n], 2) * (h - bh + 1)), h - bh)
    left = tf.minimum(tf.floor(uniform([n], 3) * (w - bw + 1)), w - bw)
    top = tf.where(found, top, tf.floor((h - bh) / 2))
    left = tf.where(found, left, tf.floor((w - bw) / 2))
    return tf.stack([top, left, bh, bw], axis=1)


def resample(x: Any, boxes: Any) -> Any:
    """Each image's box (top, left, height, width) resized to the image's size, bilinear,
    the box's corner pixels onto the output's corners: crop_and_resize's sampling, the
    points torch's `resample` (affine_grid, align_corners) takes."""
    h, w = int(x.shape[1]), int(x.shape[2])
    top, left, bh, bw = tf.unstack(tf.cast(boxes, tf.float32), axis=1)
    dy, dx = float(max(h - 1, 1)), float(max(w - 1, 1))
    normalised = tf.stack([top / dy, left / dx, (top + bh - 1) / dy, (left + bw - 1) / dx], 1)
    index = tf.range(tf.shape(x)[0])
    return tf.image.crop_and_resize(x, normalised, index, (h, w), method="bilinear")


def crop_flip(x: Any, augment: Augment, seed: Any) -> Any:
    """Zero-pad by crop_padding and crop back at a random offset; mirror half the images."""
    n = tf.shape(x)[0]
    h, w = int(x.shape[1]), int(x.shape[2])
    pad = augment.crop_padding
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if pad > 0:
        offsets = tf.random.stateless_uniform(
            tf.stack([n, 2]), seed=seeds[0], minval=0, maxval=2 * pad + 1, dtype=tf.int32
        )
        rows = offsets[:, :1] + tf.range(h)[None]  # n x h
        cols = offsets[:, 1:] + tf.range(w)[None]  # n x w
        padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        x = tf.gather(x, cols, axis=2, batch_dims=1)
    if augment.flip:
        mirror = tf.random.stateless_uniform(tf.reshape(n, [1]), seed=seeds[1]) < 0.5
        x = tf.where(mirror[:, None, None, None], tf.reverse(x, axis=[2]), x)
    return x


def erase(x: Any, p: float, seed: Any) -> Any:
    """Random erasing: with probability p one rectangle (area 2-33%, height/width 0.3-3.3,
    log-uniform) is set to 0; of ERASE_TRIES drawn rectangles the first that fits is used."""
    n = tf.shape(x)[0]
    h, w = int(x.shape[1]), int(x.shape[2])
    s = tf.unstack(tf.random.experimental.stateless_split(seed, 5))

    def uniform(shape: list[Any], k: int) -> Any:
        return tf.random.stateless_uniform(tf.stack(shape), seed=s[k])

    chosen = uniform([n], 0) < p
    area = h * w * (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * uniform([n, ERASE_TRIES], 1))
    low, high = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    ratio = tf.exp(low + (high - low) * uniform([n, ERASE_TRIES], 2))
    eh = tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32)
    ew = tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32)
    fits = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    chosen &= tf.reduce_any(fits, axis=1)
    eh = tf.gather(eh, first, axis=1, batch_dims=1)
    ew = tf.gather(ew, first, axis=1, batch_dims=1)
    top = tf.minimum(tf.cast(uniform([n], 3) * tf.cast(h - eh + 1, tf.float32), tf.int32), h - eh)
    left = tf.minimum(tf.cast(uniform([n], 4) * tf.cast(w - ew + 1, tf.float32), tf.int32), w - ew)
    ys, xs = tf.range(h)[None], tf.range(w)[None]
    in_rows = (ys >= top[:, None]) & (ys < (top + eh)[:, None])  # n x h
    in_cols = (xs >= left[:, None]) & (xs < (left + ew)[:, None])  # n x w
    mask = chosen[:, None, None, None] & in_rows[:, :, None, None] & in_cols[:, None, :, None]
    return tf.where(mask, tf.zeros_like(x), x)
