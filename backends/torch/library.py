"""Helpers that generated torch modules carry: real, linted, type-checked code.

The torch backend never imports this file (compiling must not import torch): it copies
the definitions a model uses, by name, into the generated module (backends/library_copy.py),
so the generated file still imports nothing but torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _fold_norm(state: dict[str, torch.Tensor], norm: str, conv: str, eps: float) -> None:
    """Fold an unfolded checkpoint's batch norm (keys `norm` + weight, bias, running_mean,
    running_var) into the convolution before it (`conv` + weight, bias), in place."""
    if norm + "running_var" not in state:
        return  # a folded checkpoint
    beta = state.pop(norm + "bias").double()
    gamma = state.pop(norm + "weight", None)  # none: a norm without a learned scale
    gamma = torch.ones_like(beta) if gamma is None else gamma.double()
    mean = state.pop(norm + "running_mean").double()
    scale = gamma / torch.sqrt(state.pop(norm + "running_var").double() + eps)
    state.pop(norm + "num_batches_tracked", None)
    weight = state[conv + "weight"]
    bias = state.get(conv + "bias")
    shift = beta - mean * scale if bias is None else beta + (bias.double() - mean) * scale
    state[conv + "weight"] = (weight.double() * scale.reshape(-1, 1, 1, 1)).to(weight.dtype)
    state[conv + "bias"] = shift.to(weight.dtype)


def _fold_bn(state: dict[str, torch.Tensor], prefix: str, eps: float) -> None:
    """Fold a conv unit's batch norm (`bn.*` under `prefix`) into its `conv.*`, in place."""
    _fold_norm(state, prefix + "bn.", prefix + "conv.", eps)


def _fold_norms(
    state: dict[str, torch.Tensor], prefix: str, layout: dict[str, tuple[str, float]]
) -> None:
    """Fold each batch norm layer of `layout` (conv path -> (norm path, eps), under
    `prefix`) into the convolution before it, in place."""
    for conv, (norm, eps) in layout.items():
        _fold_norm(state, f"{prefix}{norm}.", f"{prefix}{conv}.", eps)


def _load_unfused(
    state: dict[str, torch.Tensor], prefix: str, layout: dict[str, tuple[str, ...]]
) -> None:
    """Rename an unfused checkpoint's keys under `prefix` in place: each module path in
    `layout` takes the tensors of its unfused paths, concatenated on output channels."""
    fused = [path for path, parts in layout.items() if len(parts) > 1]
    if any(key.startswith(f"{prefix}{path}.") for path in fused for key in state):
        return  # a fused checkpoint
    moved: dict[str, torch.Tensor] = {}
    for path, parts in layout.items():
        first = f"{prefix}{parts[0]}."
        for suffix in [key[len(first) :] for key in state if key.startswith(first)]:
            keys = [
                f"{prefix}{part}.{suffix}" for part in parts if f"{prefix}{part}.{suffix}" in state
            ]
            tensors = [state.pop(key) for key in keys]
            moved[f"{prefix}{path}.{suffix}"] = (
                torch.cat(tensors) if tensors[0].dim() else tensors[0]
            )
    state.update(moved)


def _running_max(x: torch.Tensor, dim: int, k: int, p: int) -> torch.Tensor:
    """Stride-1 max pooling along one axis: the max of k shifted views of x padded by p
    with -inf (so padding never wins). Stride 1 has no ceil-mode window to add."""
    if p > 0:
        x = F.pad(x, [0, 0] * (-dim - 1) + [p, p], value=float("-inf"))
    out = x.shape[dim] - k + 1
    y = x.narrow(dim, 0, out)
    for j in range(1, k):
        y = torch.maximum(y, x.narrow(dim, j, out))
    return y


def _eager() -> bool:
    """Not under torch.compile (dynamo, torch.export) nor tracing: there the compiler's
    own pooling is faster (issue 19: 0.61x torchvision in bf16 compiled)."""
    if torch.jit.is_scripting():
        return True  # TorchScript runs the module's code as written
    else:  # TorchScript compiles only the branch above: it has no torch.compiler
        return not (torch.compiler.is_compiling() or torch.jit.is_tracing())


class SeparableMaxPool2d(nn.Module):
    """nn.MaxPool2d with a faster forward for eager, eval-mode inference on channels-first
    CPU tensors (incept --opt separable_maxpool), the same values: a stride-1 pool takes
    maxima along columns, then rows; a strided one runs torch's channels-last kernel, many
    times faster than its channels-first one. Everywhere else (training, other devices,
    channels-last input, torch.compile, tracing and export) it is F.max_pool2d."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = (
            (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        )
        self.stride = (stride, stride) if isinstance(stride, int) else stride
        self.padding = (padding, padding) if isinstance(padding, int) else padding
        self.ceil_mode = ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and x.device.type == "cpu" and x.is_contiguous() and _eager():
            if self.stride != (1, 1):
                x = x.contiguous(memory_format=torch.channels_last)
                y = F.max_pool2d(
                    x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode
                )
                return y.contiguous()
            (kh, kw), (ph, pw) = self.kernel_size, self.padding
            return _running_max(_running_max(x, -1, kw, pw), -2, kh, ph)
        return F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode
        )


class BatchNorm2dNoScale(nn.BatchNorm2d):
    """BatchNorm2d that learns a shift but no scale (keras' `scale=False`): no `weight`."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.register_parameter("weight", None)


class SeparableConv2d(nn.Module):
    """A depthwise separable convolution (Xception): a kernel_size convolution of each input
    channel on its own (`conv1`), then a 1x1 convolution (`pointwise`); timm's names."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, in_channels, kernel_size, stride, padding, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.conv1(x))
