"""Shapes as people read them: one place for every report, diff, error and comment.

IR shapes are channels-first without the batch: (C, H, W) for images, (F,) for flat
features. A dimension may be symbolic (a generated block's `ch3x3` parameter).
"""

from __future__ import annotations

from collections.abc import Sequence

Dim = int | str


def hwc(shape: Sequence[Dim]) -> tuple[Dim, ...]:
    """(C, H, W) -> (H, W, C), Keras' and Table 1's order; flat features unchanged."""
    return (*shape[1:], shape[0]) if len(shape) == 3 else tuple(shape)


def size(shape: Sequence[Dim] | None) -> str:
    """Table 1's output size: `HxWxC` for images, `F` for flat features ('' if unknown)."""
    return "x".join(str(d) for d in hwc(shape)) if shape else ""


def batch_comment(shape: Sequence[Dim] | None, channels_last: bool = False) -> str:
    """A generated-code comment for one batch: `N x C x H x W` (or `N x H x W x C`)."""
    if not shape:
        return ""
    dims = hwc(shape) if channels_last else tuple(shape)
    return "N x " + " x ".join(str(d) for d in dims)
