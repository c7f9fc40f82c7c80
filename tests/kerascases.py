"""Small specs, each aimed at one place where Keras and torch differ.

Pools and LRN sit right on the (signed, random) input, where -inf versus zero padding
and torch's avg-pool divisor show; a flatten of several channels and positions checks
the C x H x W order. Shared by the TensorFlow tests and the torch-backend check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Spec = dict[str, Any]


def _spec(name: str, layers: list[dict], size: Any = (10, 11), **extra: Any) -> Spec:
    head = [{"op": "flatten"}, {"op": "linear", "out": "$num_classes"}]
    return {
        "name": name,
        "input": {"channels": 3, "size": list(size) if isinstance(size, tuple) else size},
        "num_classes": 5,
        "layers": [*layers, *head],
        **extra,
    }


def _pool(kind: str, kernel: Any, stride: Any, padding: Any = 0, ceil: bool = True, **kw: Any):
    op = "maxpool" if kind == "max" else "avgpool"
    layer = {"op": op, "kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil}
    return {**layer, **kw}


# A block instantiated at two sizes: its ceil-mode pools pad differently in each row,
# so the Keras function takes the padding as an argument.
_DOWN = {
    "params": ["c"],
    "branches": {
        "conv": [{"op": "conv", "out": "$c", "kernel": 3, "stride": 2, "padding": 1}],
        "max": [{"op": "maxpool", "kernel": 2, "stride": 2, "ceil_mode": True}],
        "avg": [{"op": "avgpool", "kernel": 2, "ceil_mode": True, "count_include_pad": False}],
    },
}
_AUX = {
    "branches": {
        "head": [
            {"op": "adaptive_avgpool", "name": "pool", "size": 2},
            {"op": "conv", "name": "conv", "out": 4, "kernel": 1, "norm": "bn"},
            {"op": "flatten", "name": "flatten"},
            {"op": "linear", "name": "fc", "out": "$num_classes"},
        ]
    }
}

_RES = {
    "params": ["scale", "act"],
    "branches": {
        "a": [{"op": "conv", "out": 4, "kernel": 1, "norm": "bn"}],
        "b": [
            {"op": "conv", "out": 3, "kernel": 1, "norm": "bn"},
            {"op": "conv", "out": 5, "kernel": [1, 3], "padding": [0, 1], "norm": "bn"},
        ],
    },
    "after": [{"op": "conv", "name": "up", "out": "$in_channels", "kernel": 1, "act": "none"}],
    "residual": {"scale": "$scale", "act": "$act"},
}
_XBLOCK = {
    "params": ["out"],
    "branches": {
        "rep": [
            {"op": "relu"},
            {
                "op": "sepconv",
                "out": "$out",
                "kernel": 3,
                "padding": 1,
                "bias": False,
                "act": "none",
            },
            {"op": "bn"},
            {"op": "maxpool", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": False},
        ]
    },
    "residual": {
        "shortcut": [
            {"op": "conv", "name": "skip", "out": "$out", "kernel": 1, "stride": 2, "act": "none"},
            {"op": "bn", "name": "skipbn"},
        ]
    },
}


CASES: dict[str, Spec] = {
    # max pooling: ceil mode with padding (-inf padding), ceil mode alone ("same"), floor
    "max_ceil_pad": _spec("max_ceil_pad", [_pool("max", 3, 2, 1)]),
    "max_ceil_odd": _spec("max_ceil_odd", [_pool("max", 2, 2)], size=(11, 9)),
    "max_floor_pad": _spec("max_floor_pad", [_pool("max", 3, 2, 1, ceil=False)]),
    "max_same": _spec("max_same", [_pool("max", [3, 5], 1, [1, 2])]),
    # average pooling: torch's divisor with and without the padding, ceil-mode extra rows
    "avg_ceil_pad_incl": _spec("avg_ceil_pad_incl", [_pool("avg", 3, 2, 1)]),
    "avg_ceil_pad_excl": _spec(
        "avg_ceil_pad_excl", [_pool("avg", 3, 2, 1, count_include_pad=False)]
    ),
    "avg_pad_incl": _spec("avg_pad_incl", [_pool("avg", 3, 1, 1)]),
    "avg_pad_excl": _spec("avg_pad_excl", [_pool("avg", 3, 1, 1, count_include_pad=False)]),
    "avg_ceil_odd": _spec("avg_ceil_odd", [_pool("avg", 2, 2)], size=(11, 9)),
    "avg_floor_asym": _spec("avg_floor_asym", [_pool("avg", [2, 3], [2, 1], [1, 0], ceil=False)]),
    # adaptive pooling: overlapping windows, a divisible size, a non-square output
    "adaptive_3": _spec("adaptive_3", [{"op": "adaptive_avgpool", "size": 3}]),
    "adaptive_div": _spec("adaptive_div", [{"op": "adaptive_avgpool", "size": [5, 1]}]),
    "adaptive_2x4": _spec("adaptive_2x4", [{"op": "adaptive_avgpool", "size": [2, 4]}]),
    # LRN: an even window (padded unevenly), a large alpha and k so the formula matters
    "lrn_even": _spec("lrn_even", [{"op": "lrn", "size": 2, "alpha": 0.5, "beta": 0.75, "k": 2}]),
    "lrn_5": _spec("lrn_5", [{"op": "lrn", "size": 5, "alpha": 0.3, "beta": 0.6, "k": 1}]),
    # convolutions: same / explicit / valid padding, no bias, bn without activation
    "convs": _spec(
        "convs",
        [
            {"op": "conv", "out": 4, "kernel": [1, 3], "padding": [0, 1]},
            {"op": "conv", "out": 5, "kernel": [5, 2], "padding": [2, 1], "bias": False},
            {"op": "conv", "out": 6, "kernel": 3, "stride": 2, "padding": 1, "act": "none"},
            {"op": "conv", "out": 4, "kernel": 2, "stride": [1, 2], "norm": "bn", "act": "none"},
            {"op": "conv", "out": 3, "kernel": 1, "norm": "bn"},
        ],
        defaults={"bn": {"eps": 0.01, "momentum": 0.3}},
    ),
    # strided convolutions whose torch padding TensorFlow's "same" takes at these sizes
    # (11 -> 6 rows: pads 1 and 1; 7 -> 3 columns with a 5/3 window: pads 2 and 2)
    "conv_same_strided": _spec(
        "conv_same_strided",
        [
            {"op": "conv", "out": 4, "kernel": 3, "stride": 2, "padding": 1},
            {"op": "conv", "out": 3, "kernel": [3, 5], "stride": [1, 3], "padding": [1, 2]},
        ],
        size=(11, 13),
    ),
    # one unpadded window over the whole input: a global pool, the flatten dropped
    "avg_global": _spec("avg_global", [_pool("avg", [10, 11], 2)]),
    "max_global": _spec("max_global", [_pool("max", [10, 11], 1)]),
    # a block at two sizes and an aux head with batch norm
    "block_two_sizes": _spec(
        "block_two_sizes",
        [{"op": "down", "name": "down1", "c": 4}, {"op": "down", "name": "down2", "c": 6}],
        size=(11, 10),
        blocks={"down": _DOWN, "aux": _AUX},
        aux_logits=True,
        aux_heads=[{"name": "aux1", "from": "down1", "op": "aux", "loss_weight": 0.3}],
    ),
    # residual blocks: a scaled projection back to $in_channels, repeated, with the
    # activation as an argument; a strided Xception block with a projection shortcut
    "residual_repeat": _spec(
        "residual_repeat",
        [
            {"op": "conv", "name": "stem", "out": 6, "kernel": 3, "padding": 1, "norm": "bn"},
            {"op": "res", "name": "stage", "scale": 0.3, "act": "relu", "repeat": 3},
            {"op": "res", "name": "last", "scale": 1.0, "act": "none"},
        ],
        blocks={"res": _RES},
        defaults={"bn": {"eps": 0.001, "scale": False}},
    ),
    "residual_sepconv": _spec(
        "residual_sepconv",
        [{"op": "xblock", "name": "block1", "out": 8}, {"op": "relu", "name": "act"}],
        blocks={"xblock": _XBLOCK},
    ),
}


def write_case(name: str, directory: Path) -> Path:
    """JSON is YAML: the compiler reads it as a spec."""
    path = directory / f"{name}.yaml"
    path.write_text(json.dumps(CASES[name], indent=1) + "\n")
    return path


#: What each case must exercise: a fragment of its generated Keras source.
EXPECT = {
    "max_ceil_pad": 'ConstantPadding2D((1, 2, 1, 1), value=float("-inf")',
    "max_ceil_odd": 'layers.MaxPooling2D(2, strides=2, padding="same"',
    "max_floor_pad": "ConstantPadding2D((1, 1, 1, 1)",
    "max_same": 'padding="same"',
    "avg_ceil_pad_incl": "count_include_pad=True",
    "avg_ceil_pad_excl": "count_include_pad=False",
    "avg_pad_incl": "layers.ZeroPadding2D(1",
    "avg_pad_excl": "(1, 1, 1, 1), count_include_pad=False",
    "avg_ceil_odd": "(0, 1, 0, 1), count_include_pad=True",
    "avg_floor_asym": "layers.ZeroPadding2D((1, 0)",
    "adaptive_3": "AdaptiveAveragePooling2D((3, 3)",
    "adaptive_div": "layers.AveragePooling2D((2, 11)",
    "adaptive_2x4": "AdaptiveAveragePooling2D((2, 4)",
    "lrn_even": "LocalResponseNorm(2, alpha=0.5, beta=0.75, k=2.0",
    "lrn_5": "LocalResponseNorm(5",
    "convs": "padding=(2, 1), use_bias=False",
    "conv_same_strided": 'strides=(1, 3), padding="same"',
    "avg_global": 'layers.GlobalAveragePooling2D(name="avgpool0")',
    "max_global": 'layers.GlobalMaxPooling2D(name="maxpool0")',
    "block_two_sizes": "pads=",
    "residual_repeat": 'name=f"stage_{i}"',
    "residual_sepconv": "layers.SeparableConv2D(out, 3",
}
