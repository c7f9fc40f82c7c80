"""Keras layers and helpers that generated modules carry: real, linted, type-checked code.

The Keras backend never imports this file (compiling must not import keras): it copies
the definitions a model uses, by name, into the generated module (see `static.py`), so the
generated file still imports nothing but keras.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="incept")
class LocalResponseNorm(layers.Layer):
    """torch.nn.LocalResponseNorm (Caffe's LRN across channels) on channels-last input.

    x / (k + alpha / size * sum of x**2 over channels c - size // 2 .. c + (size - 1) // 2)
    ** beta. Keras has no LRN, and tf.nn.local_response_normalization neither divides
    alpha by size nor takes an even window (and is slower on the CPU than this).
    """

    def __init__(
        self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def window(self, channels: int, dtype: str) -> keras.KerasTensor:
        """A 1 x 1 convolution kernel: alpha / size where input channel j is in output
        channel c's window (c - size // 2 <= j <= c + (size - 1) // 2), else 0. Built as
        a constant when traced (computed with ops, TensorFlow recomputed it every step)."""
        low, high, value = -(self.size // 2), (self.size - 1) // 2, self.alpha / self.size
        band = [
            [value if low <= j - c <= high else 0.0 for c in range(channels)]
            for j in range(channels)
        ]
        return ops.convert_to_tensor([[band]], dtype=dtype)

    def window_sums(self, squares: keras.KerasTensor) -> keras.KerasTensor:
        """alpha / size * the sum of `squares` over each channel's window."""
        channels = squares.shape[-1]
        if channels <= 512:
            # One convolution with a band: a single fast kernel, forward and backward
            # (several times faster on TensorFlow's CPU than `size` shifted slices, whose
            # gradients are slow); its C x C work per position loses on wide inputs.
            return ops.conv(squares, self.window(channels, squares.dtype))
        window = [self.size // 2, (self.size - 1) // 2]
        padded = ops.pad(squares, [[0, 0], [0, 0], [0, 0], window])
        total = padded[..., :channels]
        for i in range(1, self.size):
            total = total + padded[..., i : i + channels]
        return total * (self.alpha / self.size)

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        scale = self.window_sums(ops.square(x)) + self.k
        if self.beta == 0.75:  # Caffe's default: t ** -0.75 = rsqrt(t) * sqrt(rsqrt(t)), no pow
            inverse = ops.rsqrt(scale)
            return x * (inverse * ops.sqrt(inverse))
        return x * ops.power(scale, -self.beta)

    def get_config(self) -> dict[str, object]:
        config = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="incept")
class ConstantPadding2D(layers.Layer):
    """Pads rows and columns by (top, bottom, left, right) with `value`.

    Before max pooling the value is -inf, so padding never wins a window, as in torch
    (ZeroPadding2D would beat negative inputs).
    """

    def __init__(
        self, padding: tuple[int, int, int, int], value: float = 0.0, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)
        self.padding, self.value = tuple(padding), value

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        top, bottom, left, right = self.padding
        pads = [[0, 0], [top, bottom], [left, right], [0, 0]]
        return ops.pad(x, pads, constant_values=self.value)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "padding": self.padding, "value": self.value}


@keras.saving.register_keras_serializable(package="incept")
class PaddedAveragePooling2D(layers.Layer):
    """torch.nn.AvgPool2d with explicit (top, bottom, left, right) padding.

    Zero-pads, averages each window, then rescales it to torch's divisor: with
    count_include_pad a window counts the input and the symmetric padding (top, left)
    but never the extra bottom/right rows of ceil mode; without it, only the input.
    """

    def __init__(
        self,
        pool_size: tuple[int, int],
        strides: tuple[int, int],
        padding: tuple[int, int, int, int],
        count_include_pad: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding = tuple(padding)
        self.count_include_pad = count_include_pad

    def counts(self, size: int, kernel: int, stride: int, before: int, after: int) -> list[int]:
        """torch's divisor of each window along one axis."""
        counts = []
        for start in range(-before, size + after - kernel + 1, stride):
            end = min(start + kernel, size + before)
            if not self.count_include_pad:
                start, end = max(start, 0), min(end, size)
            counts.append(end - start)
        return counts

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        (kh, kw), (top, bottom, left, right) = self.pool_size, self.padding
        rows = self.counts(x.shape[1], kh, self.strides[0], top, bottom)
        cols = self.counts(x.shape[2], kw, self.strides[1], left, right)
        scale = [[[kh * kw / (r * c)] for c in cols] for r in rows]
        x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        x = ops.average_pool(x, self.pool_size, self.strides, padding="valid")
        return x * ops.convert_to_tensor(scale, dtype=x.dtype)

    def get_config(self) -> dict[str, object]:
        config = {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}
        return {**super().get_config(), **config, "count_include_pad": self.count_include_pad}


@keras.saving.register_keras_serializable(package="incept")
class AdaptiveAveragePooling2D(layers.Layer):
    """torch.nn.AdaptiveAvgPool2d: output row i averages input rows floor(i * H / out)
    to ceil((i + 1) * H / out) - 1, and columns likewise (windows may overlap)."""

    def __init__(self, output_size: tuple[int, int], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.output_size = tuple(output_size)

    @staticmethod
    def windows(size: int, out: int) -> list[tuple[int, int]]:
        return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        (oh, ow), (h, w) = self.output_size, x.shape[1:3]
        down, across = self.windows(h, oh), self.windows(w, ow)
        heights, widths = {b - a for a, b in down}, {b - a for a, b in across}
        if len(heights) == len(widths) == 1:
            # Windows of one size (14 -> 4: 4 wide, starting at 0, 3, 7, 10): one stride-1
            # average pool, then the rows and columns where windows start. Several times
            # faster to train than a slice and a mean per window.
            x = ops.average_pool(x, (heights.pop(), widths.pop()), strides=1, padding="valid")
            x = ops.take(x, [a for a, _ in down], axis=1)
            return ops.take(x, [a for a, _ in across], axis=2)
        rows = [ops.mean(x[:, a:b], axis=1, keepdims=True) for a, b in down]
        x = ops.concatenate(rows, axis=1)
        cols = [ops.mean(x[:, :, a:b], axis=2, keepdims=True) for a, b in across]
        return ops.concatenate(cols, axis=2)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "output_size": self.output_size}


def flatten_chw(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """Flatten in torch's C x H x W order, so Dense kernels are Linear weights transposed."""
    x = layers.Permute((3, 1, 2), name=f"{name}_chw")(x)
    return layers.Flatten(name=name)(x)
