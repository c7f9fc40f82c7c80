"""The spec's weight initialisation as Keras initializer expressions."""

from __future__ import annotations

from dataclasses import dataclass

from incept.compiler.ir.graph import Graph

from ..common import float_literal


@dataclass
class Init:
    """Initializer expressions for kernels and biases (None: Keras' default), and a note."""

    kernel: str | None
    bias: str | None
    note: str


def init_view(g: Graph) -> Init:
    scheme = g.init
    bias = (
        None
        if scheme.bias is None
        else f"keras.initializers.Constant({float_literal(scheme.bias)})"
    )
    biases = "Keras' default (zeros)" if scheme.bias is None else float_literal(scheme.bias)
    if scheme.weights == "caffe_xavier":
        note = "Caffe's xavier filler, uniform in +-sqrt(3 / fan_in) (lecun_uniform)"
        return Init('"lecun_uniform"', bias, f"Weights: {note}; biases {biases}.")
    if scheme.weights == "trunc_normal":
        # A fresh initializer per layer: an unseeded Keras initializer repeats its values.
        std = float_literal(scheme.std)
        note = f"normal with std {std} (torch's trunc_normal_ cuts at +-2, not at +-2 std)"
        return Init(
            f"keras.initializers.RandomNormal(stddev={std})",
            bias,
            f"Weights: {note}; biases {biases}.",
        )
    return Init(
        None, bias, f"Weights: Keras' default initializers (torch's differ); biases {biases}."
    )
