"""How each IR op is spelled in Keras where Keras and torch differ.

The forms chosen (tests/test_keras_backend.py checks each against torch, on both Keras
backends):
- conv padding: "same" where TensorFlow's same padding takes torch's windows at the
  node's input size (always with stride 1 and padding k // 2 for odd k; with stride 2
  at some sizes); otherwise ZeroPadding2D and "valid".
- max / avg pool: a global pool when one unpadded window covers the input.
- max pool: "valid" without padding; "same" where TensorFlow's same padding takes the
  IR's windows (max pooling never picks padding); otherwise -inf padding.
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

from collections.abc import Sequence
from decimal import Decimal

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Node

from ..common import float_literal, pair_literal


def keras_momentum(torch_momentum: float) -> str:
    """Keras keeps `momentum` of the old statistic, torch adds `momentum` of the new one."""
    return float_literal(float(Decimal(1) - Decimal(repr(torch_momentum))))


def conv_padding(node: Node, in_shape: tuple[int, ...]) -> str | None:
    """The Conv2D `padding` argument, or None for "valid" (the default)."""
    conv = node.attrs
    assert isinstance(conv, ops.Conv | ops.SepConv) and node.shape is not None
    if conv.padding == (0, 0):
        return None
    if same_windows(in_shape[1:3], conv.kernel, conv.stride, conv.padding, node.shape[1:3]):
        return '"same"'
    return pair_literal(conv.padding)  # torch-style symmetric padding, applied by ZeroPadding2D


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "same": (output size, padding before, padding after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def same_windows(
    size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    before: Sequence[int],
    out: Sequence[int],
) -> bool:
    """Whether TensorFlow's "same" takes the windows of a torch op that pads `before` rows
    (columns) in front and gives `out` of them: same first window and count, hence the same
    windows. TensorFlow's padding after the input is then just what the last window
    needs, so it never reaches padding torch lacks; padding torch has beyond it is unused.
    """
    axes = zip(size, kernel, stride, before, out, strict=True)
    return all(same_pads(n, k, s)[:2] == (o, b) for n, k, s, b, o in axes)


def pool_form(node: Node, in_shape: tuple[int, ...]) -> tuple[str, tuple[int, int, int, int]]:
    """How a pool node is written: global, valid, same, zeropad or pad, with its per-side
    padding."""
    a = node.attrs
    assert isinstance(a, ops.Pool) and node.shape is not None
    in_hw, out_hw = (in_shape[1], in_shape[2]), (node.shape[1], node.shape[2])
    pads = a.pads(in_hw, out_hw)
    top, bottom, left, right = pads
    if pads == (0, 0, 0, 0):
        return ("global" if tuple(a.kernel) == in_hw else "valid"), pads  # global: 1 x 1 out
    if a.kind == "max" and same_windows(in_hw, a.kernel, a.stride, (top, left), out_hw):
        return "same", pads  # max pooling never picks TensorFlow's padding
    if a.kind == "avg" and a.count_include_pad and top == bottom and left == right:
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
