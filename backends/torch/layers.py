"""One IR layer -> its torch constructor call and its forward() step."""

from __future__ import annotations

from dataclasses import dataclass

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Node

from ..common import float_literal, pair_literal
from ..plan import ConvUnit


@dataclass(frozen=True)
class Call:
    """A constructor call: `callee(args...)`; the template joins the arguments."""

    callee: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One line of forward(): `out = self.attr(src)` (a linear layer may apply its ReLU),
    `out = torch.cat([...], 1)` when `cat` is set, or an aux head run only in training."""

    out: str
    attr: str = ""
    src: str = "x"
    relu: bool = False
    cat: tuple[str, ...] = ()
    aux: bool = False
    comment: str = ""
    split: tuple[str, ...] = ()  # `a, b = torch.split(self.attr(src), self.sizes, 1)`
    sizes: str = ""


@dataclass
class UnitView:
    """A conv unit class: Conv2d, optional BatchNorm2d, optional ReLU."""

    name: str
    bn: bool
    relu: bool
    bias: bool  # the constructor's defaults
    eps: float
    momentum: float
    folded: bool = False  # the norm is folded into the conv (fold_bn); eps maps checkpoints


def unit_view(name: str, unit: ConvUnit) -> UnitView:
    eps, momentum = (unit.norm.eps, unit.norm.momentum) if unit.norm else (1e-5, 0.1)
    return UnitView(name, unit.bn, unit.relu, unit.bias, eps, momentum, unit.folded)


def constructor(
    node: Node, unit: UnitView | None, cin: str, cout: str, separable: bool = False
) -> Call:
    """The layer's module; `cin`/`cout` are channel expressions (maybe parameters).
    `separable`: max pools are SeparableMaxPool2d (option separable_maxpool)."""
    a = node.attrs
    if isinstance(a, ops.Conv):
        assert unit is not None
        return _conv(a, unit, cin, cout)
    if isinstance(a, ops.Pool):
        return _pool(a, separable)
    if isinstance(a, ops.AdaptiveAvgPool):
        return Call("nn.AdaptiveAvgPool2d", (str(a.size),))
    if isinstance(a, ops.LRN):
        floats = (
            f"{k}={float_literal(v)}" for k, v in (("alpha", a.alpha), ("beta", a.beta), ("k", a.k))
        )
        return Call("nn.LocalResponseNorm", (str(a.size), *floats))
    if isinstance(a, ops.Dropout):
        return Call("nn.Dropout", (f"p={float_literal(a.p)}",))
    if isinstance(a, ops.Flatten):
        return Call("nn.Flatten")
    if isinstance(a, ops.Linear):
        return Call("nn.Linear", (cin, cout) if a.bias else (cin, cout, "bias=False"))
    raise AssertionError(f"no torch module for {node.op}")


def _conv(a: ops.Conv, unit: UnitView, cin: str, cout: str) -> Call:
    args = [cin, cout, f"kernel_size={pair_literal(a.kernel)}"]
    if a.stride != (1, 1):
        args.append(f"stride={pair_literal(a.stride)}")
    if a.padding != (0, 0):
        args.append(f"padding={pair_literal(a.padding)}")
    if a.bias != unit.bias:
        args.append(f"bias={a.bias}")
    norm = a.norm or a.folded
    if norm and norm.eps != unit.eps:
        args.append(f"eps={float_literal(norm.eps)}")
    if a.norm and a.norm.momentum != unit.momentum:
        args.append(f"momentum={float_literal(a.norm.momentum)}")
    return Call(unit.name, tuple(args))


def _pool(a: ops.Pool, separable: bool) -> Call:
    args = [pair_literal(a.kernel), f"stride={pair_literal(a.stride)}"]
    if a.padding != (0, 0):
        args.append(f"padding={pair_literal(a.padding)}")
    if a.ceil_mode:
        args.append("ceil_mode=True")
    if a.kind == "avg" and not a.count_include_pad:
        args.append("count_include_pad=False")
    if separable and a.kind == "max":
        return Call("SeparableMaxPool2d", tuple(args))
    return Call("nn.MaxPool2d" if a.kind == "max" else "nn.AvgPool2d", tuple(args))


def linear_relu(node: Node) -> bool:
    """A linear layer applies its ReLU in forward() (nn.Linear has none)."""
    return isinstance(node.attrs, ops.Linear) and node.attrs.act == "relu"
