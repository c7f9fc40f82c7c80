"""How each IR op is spelled in Keras where Keras and torch differ.

The forms chosen (tests/test_keras_backend.py checks each against torch, on both Keras
backends):
- conv padding: "same" only with stride 1 and padding k // 2 for odd k (then both pad
  k // 2 on each side); otherwise ZeroPadding2D and "valid".
- max pool: "valid" without padding; "same" where TensorFlow's same padding equals the
  IR's per-side padding (max pooling never picks padding); otherwise -inf padding.
- avg pool: "valid" without padding; ZeroPadding2D when torch counts all the padding
  (count_include_pad, no extra ceil-mode rows); otherwise PaddedAveragePooling2D, which
  divides each window by torch's count.
- adaptive avg pool: a plain pool when the size divides, else torch's windows; a global
  pool that only feeds a flatten drops its 1 x 1 dimensions and the flatten.
- flatten: in torch's C x H x W order, so Dense kernels are Linear weights transposed.
- batch norm: epsilon = torch's eps, momentum = 1 - torch's momentum. (In training Keras
  updates the moving variance with the biased batch variance, torch with the unbiased
  one: moving statistics drift apart by n / (n - 1); outputs for given weights agree.)
"""

from __future__ import annotations

from decimal import Decimal

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Node

from ..common import float_literal, pair_literal


def keras_momentum(torch_momentum: float) -> str:
    """Keras keeps `momentum` of the old statistic, torch adds `momentum` of the new one."""
    return float_literal(float(Decimal(1) - Decimal(repr(torch_momentum))))


def conv_padding(conv: ops.Conv) -> str | None:
    """The Conv2D `padding` argument, or None for "valid" (the default)."""
    if conv.padding == (0, 0):
        return None
    if conv.stride == (1, 1) and all(
        k % 2 == 1 and p == k // 2 for k, p in zip(conv.kernel, conv.padding, strict=True)
    ):
        return '"same"'  # stride 1, odd k: TensorFlow's "same" pads k // 2 on both sides
    return pair_literal(conv.padding)  # torch-style symmetric padding, applied by ZeroPadding2D


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "same": (output size, padding before, padding after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def pool_form(node: Node, in_shape: tuple[int, ...]) -> tuple[str, tuple[int, int, int, int]]:
    """How a pool node is written: valid, same, zeropad or pad, with its per-side padding."""
    a = node.attrs
    assert isinstance(a, ops.Pool) and node.shape is not None
    in_hw, out_hw = (in_shape[1], in_shape[2]), (node.shape[1], node.shape[2])
    pads = a.pads(in_hw, out_hw)
    top, bottom, left, right = pads
    if pads == (0, 0, 0, 0):
        return "valid", pads
    if a.kind == "max":
        rows = same_pads(in_hw[0], a.kernel[0], a.stride[0])
        cols = same_pads(in_hw[1], a.kernel[1], a.stride[1])
        if (rows, cols) == ((out_hw[0], top, bottom), (out_hw[1], left, right)):
            return "same", pads
    elif a.count_include_pad and top == bottom and left == right:
        return "zeropad", pads  # every window lies inside input + padding: torch divides by k*k
    return "pad", pads


def adaptive_form(node: Node, in_shape: tuple[int, ...]) -> str:
    a = node.attrs
    assert isinstance(a, ops.AdaptiveAvgPool)
    (h, w), (oh, ow) = in_shape[1:], a.size
    if (oh, ow) == (1, 1):
        return "global"
    if h % oh == 0 and w % ow == 0:
        return pair_literal(
            (h // oh, w // ow)
        )  # torch's windows are then a plain, non-overlapping pool
    return "adaptive"
