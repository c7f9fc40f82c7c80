"""Operator attributes and their pure-Python shape, parameter and MAC rules.

Shapes are channels-first without the batch: (C, H, W) for images, (F,) for
flat features. A MAC is one multiply-accumulate of a convolution or linear
weight at one output position (the paper's "ops"); biases, batch norm, LRN,
pooling, ReLU and softmax are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from .shapes import size

Shape = tuple[int, ...]
Pair = tuple[int, int]


class InferError(Exception):
    """A shape rule failed; the pass that ran it adds the location."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _image(op: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise InferError("rank", f"{op} needs a C x H x W input, got flat features {list(shape)}")
    return shape[0], shape[1], shape[2]


def _flat(op: str, shape: Shape) -> int:
    if len(shape) != 1:
        raise InferError("rank", f"{op} needs flat features, got {list(shape)} (add a flatten)")
    return shape[0]


def _positive(op: str, h: int, w: int, detail: str) -> None:
    if h < 1 or w < 1:
        raise InferError("collapse", f"{op} output would be {h}x{w}: {detail}")


def pool_out(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """torch's (and, for pad > 0, Caffe's) pooling output size.

    In ceil mode the last window must start inside the input or its left padding,
    otherwise it is dropped.
    """
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


@dataclass(frozen=True)
class Input:
    op: ClassVar[str] = "input"
    shape: Shape

    def infer(self, shapes: list[Shape]) -> Shape:
        return self.shape


@dataclass(frozen=True)
class BatchNorm:
    eps: float
    momentum: float  # torch convention: weight of the new batch statistic
    scale: bool = True  # False: no learned gamma (keras' `scale=False`), only beta

    def params(self, channels: int) -> int:
        return channels * (2 if self.scale else 1)


@dataclass(frozen=True)
class Conv:
    """A convolution with its optional batch norm and activation (one Table-1 layer)."""

    op: ClassVar[str] = "conv"
    out: int
    kernel: Pair
    stride: Pair
    padding: Pair
    bias: bool
    norm: BatchNorm | None
    act: Literal["relu", "none"]
    in_channels: int = 0  # filled by shape inference
    # The batch norm that the fold_bn pass folded into this convolution's weights and bias
    # (`norm` is then None and `bias` True): backends map unfolded checkpoints with its eps.
    folded: BatchNorm | None = None
    groups: int = 1  # each group of in_channels / groups inputs feeds out / groups outputs

    def infer(self, shapes: list[Shape]) -> Shape:
        c, h, w = _image(self.op, shapes[0])
        if c % self.groups or self.out % self.groups:
            raise InferError(
                "groups",
                f"{self.groups} groups need input and output channels divisible by "
                f"{self.groups}, got {c} in and {self.out} out",
            )
        return (self.out, *_window_out(self.op, self.kernel, self.stride, self.padding, h, w))

    def weights(self) -> int:
        return self.out * (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]

    def params(self) -> int:
        norm = self.norm.params(self.out) if self.norm else 0
        return self.weights() + (self.out if self.bias else 0) + norm

    def macs(self, out_shape: Shape) -> int:
        return self.weights() * out_shape[1] * out_shape[2]


def _window_out(op: str, kernel: Pair, stride: Pair, padding: Pair, h: int, w: int) -> Pair:
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    _positive(op, oh, ow, f"{kh}x{kw} kernel, padding {ph}x{pw}, on a {h}x{w} input")
    return oh, ow


@dataclass(frozen=True)
class SepConv:
    """A depthwise separable convolution: each input channel convolved on its own by a
    `kernel` filter (with the stride and padding), then a 1x1 convolution to `out`; the
    optional bias, batch norm and activation come after the 1x1."""

    op: ClassVar[str] = "sepconv"
    out: int
    kernel: Pair
    stride: Pair
    padding: Pair
    bias: bool
    norm: BatchNorm | None
    act: Literal["relu", "none"]
    in_channels: int = 0  # filled by shape inference
    # The `bn` layer after it that the fold_bn pass folded into its pointwise weights and
    # bias (`bias` is then True; that layer is an identity): backends map checkpoints with it.
    folded: BatchNorm | None = None

    def infer(self, shapes: list[Shape]) -> Shape:
        _, h, w = _image(self.op, shapes[0])
        return (self.out, *_window_out(self.op, self.kernel, self.stride, self.padding, h, w))

    def params(self) -> int:
        depthwise = self.in_channels * self.kernel[0] * self.kernel[1]
        norm = self.norm.params(self.out) if self.norm else 0
        return depthwise + self.in_channels * self.out + (self.out if self.bias else 0) + norm

    def macs(self, out_shape: Shape) -> int:
        depthwise = self.in_channels * self.kernel[0] * self.kernel[1]
        return (depthwise + self.in_channels * self.out) * out_shape[1] * out_shape[2]


@dataclass(frozen=True)
class Norm:
    """A batch norm layer of its own."""

    op: ClassVar[str] = "bn"
    norm: BatchNorm
    channels: int = 0  # filled by shape inference
    # fold_bn folded it into the separable convolution it reads (`SepConv.folded`): it now
    # computes the identity and holds no parameters; `norm` keeps its eps for checkpoints.
    folded: bool = False

    def infer(self, shapes: list[Shape]) -> Shape:
        _image("bn", shapes[0])
        return shapes[0]

    def params(self) -> int:
        return 0 if self.folded else self.norm.params(self.channels)


@dataclass(frozen=True)
class Act:
    """An activation layer of its own."""

    op: ClassVar[str] = "relu"

    def infer(self, shapes: list[Shape]) -> Shape:
        return shapes[0]


@dataclass(frozen=True)
class Add:
    """A residual add: act(inputs[1] + scale * inputs[0]), the merged branches first and
    the shortcut second."""

    op: ClassVar[str] = "add"
    scale: float
    act: Literal["relu", "none"]

    def infer(self, shapes: list[Shape]) -> Shape:
        residual, shortcut = shapes
        if residual != shortcut:
            raise InferError(
                "residual",
                f"the residual branch gives {size(residual)} but the shortcut {size(shortcut)}",
            )
        return shortcut


@dataclass(frozen=True)
class Pool:
    op: ClassVar[str] = "pool"
    kind: Literal["max", "avg"]
    kernel: Pair
    stride: Pair
    padding: Pair
    ceil_mode: bool
    count_include_pad: bool = True  # avg only

    def infer(self, shapes: list[Shape]) -> Shape:
        c, h, w = _image(f"{self.kind}pool", shapes[0])
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        if 2 * ph > kh or 2 * pw > kw:
            raise InferError(
                "pool-padding", f"pool padding {ph}x{pw} exceeds half the {kh}x{kw} kernel"
            )
        oh = pool_out(h, kh, sh, ph, self.ceil_mode)
        ow = pool_out(w, kw, sw, pw, self.ceil_mode)
        _positive(f"{self.kind}pool", oh, ow, f"{kh}x{kw}/{sh} window on a {h}x{w} input")
        return (c, oh, ow)

    def pads(self, in_hw: Pair, out_hw: Pair) -> tuple[int, int, int, int]:
        """Explicit (top, bottom, left, right) padding after which a floor-mode pool
        gives the same windows: ceil mode only ever adds padding at the end."""
        (h, w), (oh, ow) = in_hw, out_hw
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        bottom = max(ph, (oh - 1) * sh + kh - h - ph)
        right = max(pw, (ow - 1) * sw + kw - w - pw)
        return (ph, bottom, pw, right)


@dataclass(frozen=True)
class AdaptiveAvgPool:
    op: ClassVar[str] = "adaptive_avgpool"
    size: Pair

    def infer(self, shapes: list[Shape]) -> Shape:
        c, _, _ = _image("adaptive_avgpool", shapes[0])
        return (c, *self.size)


@dataclass(frozen=True)
class LRN:
    """Across-channel local response normalization, Caffe/torch form:
    x / (k + alpha / size * sum of squares over `size` channels) ** beta."""

    op: ClassVar[str] = "lrn"
    size: int
    alpha: float
    beta: float
    k: float

    def infer(self, shapes: list[Shape]) -> Shape:
        _image("lrn", shapes[0])
        return shapes[0]


@dataclass(frozen=True)
class Dropout:
    op: ClassVar[str] = "dropout"
    p: float

    def infer(self, shapes: list[Shape]) -> Shape:
        return shapes[0]


@dataclass(frozen=True)
class Flatten:
    op: ClassVar[str] = "flatten"

    def infer(self, shapes: list[Shape]) -> Shape:
        return (math.prod(_image("flatten", shapes[0])),)


@dataclass(frozen=True)
class Linear:
    op: ClassVar[str] = "linear"
    out: int
    bias: bool
    act: Literal["relu", "none"]
    in_features: int = 0  # filled by shape inference

    def infer(self, shapes: list[Shape]) -> Shape:
        _flat("linear", shapes[0])
        return (self.out,)

    def params(self) -> int:
        return self.out * self.in_features + (self.out if self.bias else 0)

    def macs(self, out_shape: Shape) -> int:
        return self.out * self.in_features


@dataclass(frozen=True)
class Concat:
    """Channel concatenation of a block's branches."""

    op: ClassVar[str] = "concat"

    def infer(self, shapes: list[Shape]) -> Shape:
        images = [_image("concat", s) for s in shapes]
        sizes = {(h, w) for _, h, w in images}
        if len(sizes) > 1:
            listed = ", ".join(f"{h}x{w}" for _, h, w in images)
            raise InferError("concat", f"branches disagree on spatial size: {listed}")
        _, h, w = images[0]
        return (sum(c for c, _, _ in images), h, w)


@dataclass(frozen=True)
class Slice:
    """Channels [start, start + size) of its input: one sibling's share of the convolution
    that the fuse_siblings pass made from several."""

    op: ClassVar[str] = "slice"
    start: int
    size: int

    def infer(self, shapes: list[Shape]) -> Shape:
        c, h, w = _image("slice", shapes[0])
        if self.start < 0 or self.size < 1 or self.start + self.size > c:
            raise InferError("slice", f"channels {self.start}..{self.start + self.size} of {c}")
        return (self.size, h, w)


Op = (
    Input
    | Conv
    | SepConv
    | Norm
    | Act
    | Add
    | Pool
    | AdaptiveAvgPool
    | LRN
    | Dropout
    | Flatten
    | Linear
    | Concat
    | Slice
)


def bind_inputs(attrs: Op, shapes: list[Shape]) -> Op:
    """Record the input width on layers whose parameters depend on it."""
    from dataclasses import replace

    if isinstance(attrs, Conv | SepConv):
        return replace(attrs, in_channels=_image(attrs.op, shapes[0])[0])
    if isinstance(attrs, Norm):
        return replace(attrs, channels=_image("bn", shapes[0])[0])
    if isinstance(attrs, Linear):
        return replace(attrs, in_features=_flat("linear", shapes[0]))
    return attrs


def params_of(attrs: Op) -> int:
    return attrs.params() if isinstance(attrs, Conv | SepConv | Norm | Linear) else 0


def macs_of(attrs: Op, out_shape: Shape) -> int:
    return attrs.macs(out_shape) if isinstance(attrs, Conv | SepConv | Linear) else 0
