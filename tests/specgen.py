"""Hypothesis strategies for random *valid* incept specs, and a reference simulator.

`specs()` draws a spec as plain Python data (dicts, lists, ints, floats, strings,
bools, None) that `write_spec()` dumps to a YAML file the compiler accepts. Every
drawn spec is valid by construction: the generator tracks each row's output shape
with `simulate_layer()` (which reuses the compiler's `pool_out` for pooling) and only
draws layers that keep every spatial size >= 1 and every block's branches equal in
size. `simulate(spec)` re-derives every row's and aux head's shape, parameter count
and MACs from the spec data alone, an oracle independent of the compiler's lowering.

What a drawn spec can contain (the knobs of `specs()` in brackets):

- input: 1-4 channels [max_in_channels]; size min_size..max_size (default 15..64, so
  odd sizes too), written as `16` or `[h, w]`, square or not.
- num_classes 1..16; name, optional class_name and description; aux_logits on/off.
- defaults: absent, or any subset of conv {bias, norm bn/none, act relu/none},
  bn {eps, momentum} and pool {ceil_mode}; init: absent, or caffe_xavier /
  trunc_normal / default with std and bias constant or null.
- stem [max_stem rows, default 0..3]: conv (kernel 1-7 per side, so [1,3] / [3,1] /
  [5,2] too, stride 1-2, padding 0..k//2, random bias/norm/act overrides), maxpool and
  avgpool (kernel 1-5 per side, stride default/1-3, padding <= k//2, ceil_mode
  true/false/default, avg count_include_pad true/false/default), lrn, dropout,
  adaptive_avgpool (to a size no larger than its input).
- block templates [max_templates, default 1..3]: 1-4 named branches of 1-3 layers each
  (conv, maxpool, avgpool; with `extras`, also lrn and dropout). Each template has a
  stride s in {1, 2, 3}, carried by exactly one layer of every branch when s > 1; all
  layers use size-preserving settings, so every branch maps n -> ceil(n / s):
  odd kernels (square or asymmetric like [1, 7]) with padding k // 2 (floor mode,
  stride 1 or s), or a k = s pool in ceil mode. At most one branch has no conv (it
  passes its input's channels through); lrn / dropout never stand alone.
  Conv widths are `$params` (new or reused), literals, or `$num_classes`; template
  parameters may go unused. Layer names: absent, `c3`-style, or Caffe-style
  digit-first `3x3_1`.
- body [max_blocks block rows, default 0..4], each optionally preceded by a primitive
  row (conv / pool / lrn / dropout); rows named or left to the compiler's `op<index>`.
  Rows may declare their `output` (HxWxC) or carry `paper:` numbers.
- head: adaptive_avgpool (size 1 or small), a global avgpool whose kernel is the
  remaining size, or nothing (small maps); dropout before or after flatten; an
  optional hidden linear (+ dropout); a final linear to `$num_classes` (or the literal).
- aux heads [max_aux, default 0..2] on random block rows, sharing one single-branch
  template: adaptive_avgpool (1-4) or an avgpool valid at every tapped size, 1x1 conv,
  flatten, optional hidden linear and dropout, linear to `$num_classes`.

Channel counts stay <= max_channels (24) per layer and the input <= 64, so a CPU
forward pass of a generated model is quick.

Hypothesis profiles, chosen by the HYPOTHESIS_PROFILE environment variable
(default "ci"): "ci" (derandomized, 50 examples) and "thorough" (500 examples); both
without deadline and with the too_slow health check off.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from incept.compiler.ir.ops import pool_out

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

Shape = tuple[int, ...]
Spec = dict[str, Any]

#: The schema's defaults, used where a spec leaves `defaults:` out.
SCHEMA_DEFAULTS: dict[str, dict[str, Any]] = {
    "conv": {"bias": True, "norm": "none", "act": "relu"},
    "bn": {"eps": 1e-5, "momentum": 0.1},
    "pool": {"ceil_mode": False},
}
GLOBALS = ("num_classes",)


# -- writing --------------------------------------------------------------------


def write_spec(spec: Spec, path: str | Path) -> Path:
    """Dump `spec` as YAML to `path`, keys in insertion order."""
    path = Path(path)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None  # leaf mappings and lists inline: one line per layer
    yaml.sort_base_mapping_type_on_output = False  # keep the spec's key order
    with path.open("w") as fh:
        yaml.dump(spec, fh)
    return path


def read_spec(path: str | Path) -> Spec:
    """Load a spec file back into plain data (for round-trip checks)."""
    return YAML(typ="safe", pure=True).load(Path(path))


# -- the reference simulator ---------------------------------------------------------


@dataclass(frozen=True)
class RowFacts:
    """What a row (or aux head) computes: its name, output shape, parameters, MACs."""

    name: str
    shape: Shape
    params: int
    macs: int


@dataclass(frozen=True)
class Simulation:
    rows: list[RowFacts]
    aux: list[RowFacts]

    def params(self, aux: bool = False) -> int:
        return sum(r.params for r in (*self.rows, *(self.aux if aux else ())))

    def macs(self, aux: bool = False) -> int:
        return sum(r.macs for r in (*self.rows, *(self.aux if aux else ())))


def _pair(value: int | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _defaults(spec: Spec) -> dict[str, dict[str, Any]]:
    given = spec.get("defaults") or {}
    return {k: {**v, **(given.get(k) or {})} for k, v in SCHEMA_DEFAULTS.items()}


def _resolve(value: int | str, env: dict[str, int]) -> int:
    return value if isinstance(value, int) else env[value[1:]]


def simulate_layer(
    layer: dict[str, Any], shape: Shape, env: dict[str, int], defaults: dict[str, dict[str, Any]]
) -> tuple[Shape, int, int]:
    """One primitive layer: (output shape, parameters, MACs). Asserts validity."""
    op = layer["op"]
    if op == "conv":
        c, h, w = shape
        out = _resolve(layer["out"], env)
        (kh, kw), (sh, sw) = _pair(layer["kernel"]), _pair(layer.get("stride", 1))
        ph, pw = _pair(layer.get("padding", 0))
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        assert oh >= 1 and ow >= 1, (layer, shape)
        bias = layer.get("bias")
        bias = defaults["conv"]["bias"] if bias is None else bias
        norm = layer.get("norm") or defaults["conv"]["norm"]
        weights = out * c * kh * kw
        params = weights + (out if bias else 0) + (2 * out if norm == "bn" else 0)
        return (out, oh, ow), params, weights * oh * ow
    if op in ("maxpool", "avgpool"):
        c, h, w = shape
        (kh, kw) = _pair(layer["kernel"])
        sh, sw = _pair(layer.get("stride") or layer["kernel"])
        ph, pw = _pair(layer.get("padding", 0))
        assert 2 * ph <= kh and 2 * pw <= kw, layer
        ceil = layer.get("ceil_mode")
        ceil = defaults["pool"]["ceil_mode"] if ceil is None else ceil
        oh, ow = pool_out(h, kh, sh, ph, ceil), pool_out(w, kw, sw, pw, ceil)
        assert oh >= 1 and ow >= 1, (layer, shape)
        return (c, oh, ow), 0, 0
    if op == "adaptive_avgpool":
        assert len(shape) == 3
        return (shape[0], *_pair(layer.get("size", 1))), 0, 0
    if op == "lrn":
        assert len(shape) == 3
        return shape, 0, 0
    if op == "dropout":
        return shape, 0, 0
    if op == "flatten":
        assert len(shape) == 3
        return (math.prod(shape),), 0, 0
    if op == "linear":
        assert len(shape) == 1, (layer, shape)
        out = _resolve(layer["out"], env)
        weights = out * shape[0]
        return (out,), weights + (out if layer.get("bias", True) else 0), weights
    raise AssertionError(f"unknown op {op!r}")


_ROW_KEYS = ("op", "name", "output", "paper", "from", "loss_weight")


def simulate_row(
    spec: Spec, row: dict[str, Any], shape: Shape, defaults: dict[str, dict[str, Any]]
) -> tuple[Shape, int, int]:
    """A primitive or block row applied to `shape`."""
    env = {g: spec[g] for g in GLOBALS}
    block = (spec.get("blocks") or {}).get(row["op"])
    if block is None:
        return simulate_layer(row, shape, env, defaults)
    env.update({k: v for k, v in row.items() if k not in _ROW_KEYS})
    ends, params, macs = [], 0, 0
    for layers in block["branches"].values():
        cur = shape
        for layer in layers:
            cur, p, m = simulate_layer(layer, cur, env, defaults)
            params, macs = params + p, macs + m
        ends.append(cur)
    if len(ends) == 1:
        return ends[0], params, macs
    assert all(len(e) == 3 and e[1:] == ends[0][1:] for e in ends), (row["op"], ends)
    return (sum(e[0] for e in ends), *ends[0][1:]), params, macs


def row_name(row: dict[str, Any], index: int) -> str:
    """The compiler's rule: the row's `name`, else `<op><index>`."""
    return row.get("name") or f"{row['op']}{index}"


def simulate(spec: Spec) -> Simulation:
    """Every row's and aux head's facts, computed from the spec data alone."""
    defaults = _defaults(spec)
    size = _pair(spec["input"]["size"])
    shape: Shape = (spec["input"]["channels"], *size)
    rows, outputs = [], {}
    for i, row in enumerate(spec["layers"]):
        shape, p, m = simulate_row(spec, row, shape, defaults)
        facts = RowFacts(row_name(row, i), shape, p, m)
        rows.append(facts)
        outputs[facts.name] = shape
    aux = []
    for head in spec.get("aux_heads") or []:
        out, p, m = simulate_row(spec, head, outputs[head["from"]], defaults)
        aux.append(RowFacts(head["name"], out, p, m))
    return Simulation(rows, aux)


# -- drawing helpers ---------------------------------------------------------------


def _hwc(shape: Shape) -> str:
    c, h, w = shape
    return f"{h}x{w}x{c}"


def _as_pair(draw: Any, a: int, b: int) -> int | list[int]:
    """A pair written as an int where square (sometimes as a list anyway)."""
    if a == b and draw(st.booleans()):
        return a
    return [a, b]


def _odd_kernel(draw: Any) -> tuple[int, int]:
    odd = st.sampled_from([1, 3, 5, 7])
    shape = draw(st.sampled_from(["square", "square", "row", "column", "free"]))
    k = draw(odd)
    if shape == "square":
        return k, k
    if shape == "row":
        return 1, max(k, 3)
    if shape == "column":
        return max(k, 3), 1
    return k, draw(odd)


def _small_float(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda x: float(f"{x:.4g}"))


class _Draw:
    """Generation state for one spec."""

    def __init__(self, draw: Any, spec: Spec, max_channels: int, extras: bool, floor: int) -> None:
        self.draw = draw
        self.spec = spec
        self.max_channels = max_channels
        self.extras = extras
        self.floor = floor  # free layers keep H and W >= floor (where the input has it)
        self.counter = 0
        self.strides: dict[str, int] = {}  # each template's stride

    @property
    def defaults(self) -> dict[str, dict[str, Any]]:
        return _defaults(self.spec)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def width(self) -> int:
        return self.draw(st.integers(1, self.max_channels))

    # -- primitive layers, valid for a given input shape ------------------------------

    def conv_overrides(self, layer: dict[str, Any]) -> None:
        d = self.draw
        for key, values in (
            ("bias", [True, False]),
            ("norm", ["bn", "none"]),
            ("act", ["relu", "none"]),
        ):
            if d(st.integers(0, 3)) == 0:
                layer[key] = d(st.sampled_from(values))

    def free_conv(self, shape: Shape) -> dict[str, Any]:
        """A conv with any kernel that fits (<= 7, <= the input) and any padding."""
        d = self.draw
        _, h, w = shape
        kh = d(st.integers(1, min(7, h)))
        kw = kh if kh <= w and d(st.booleans()) else d(st.integers(1, min(7, w)))
        layer: dict[str, Any] = {"op": "conv", "out": self.width(), "kernel": _as_pair(d, kh, kw)}
        sh, sw = d(st.integers(1, 2)), d(st.integers(1, 2))
        if d(st.booleans()):
            sw = sh
        if (sh, sw) != (1, 1) or d(st.booleans()):
            layer["stride"] = _as_pair(d, sh, sw)
        ph, pw = d(st.integers(0, kh // 2)), d(st.integers(0, kw // 2))
        if (ph, pw) != (0, 0) or d(st.booleans()):
            layer["padding"] = _as_pair(d, ph, pw)
        self.conv_overrides(layer)
        return layer

    def free_pool(self, shape: Shape) -> dict[str, Any]:
        d = self.draw
        _, h, w = shape
        op = d(st.sampled_from(["maxpool", "avgpool"]))
        kh = d(st.integers(1, min(5, h)))
        kw = kh if kh <= w and d(st.booleans()) else d(st.integers(1, min(5, w)))
        layer: dict[str, Any] = {"op": op, "kernel": _as_pair(d, kh, kw)}
        if d(st.booleans()):
            layer["stride"] = _as_pair(d, d(st.integers(1, 3)), d(st.integers(1, 3)))
        ph, pw = d(st.integers(0, kh // 2)), d(st.integers(0, kw // 2))
        if (ph, pw) != (0, 0) or d(st.booleans()):
            layer["padding"] = _as_pair(d, ph, pw)
        ceil = d(st.sampled_from([None, True, False]))
        if ceil is not None:
            layer["ceil_mode"] = ceil
        if op == "avgpool" and d(st.booleans()):
            layer["count_include_pad"] = d(st.booleans())
        return layer

    def lrn(self) -> dict[str, Any]:
        d = self.draw
        layer: dict[str, Any] = {
            "op": "lrn",
            "size": d(st.integers(1, 7)),
            "alpha": d(_small_float(1e-5, 1e-2)),
            "beta": d(st.sampled_from([0.75, 0.5, 1, 1.0])),
        }
        if d(st.booleans()):
            layer["k"] = d(st.sampled_from([1, 1.0, 2.0, 0.5]))
        return layer

    def dropout(self) -> dict[str, Any]:
        return {"op": "dropout", "p": self.draw(st.sampled_from([0, 0.0, 0.1, 0.25, 0.5, 0.9]))}

    def adaptive(self, shape: Shape) -> dict[str, Any]:
        d = self.draw
        _, h, w = shape
        a = d(st.integers(min(h, self.floor), min(h, max(4, self.floor))))
        b = d(st.integers(min(w, self.floor), min(w, max(4, self.floor))))
        layer: dict[str, Any] = {"op": "adaptive_avgpool"}
        if (a, b) != (1, 1) or d(st.booleans()):
            layer["size"] = _as_pair(d, a, b)
        return layer

    def primitive(self, shape: Shape, kinds: list[str]) -> dict[str, Any]:
        kind = self.draw(st.sampled_from(kinds))
        if kind == "conv":
            return self.keep_size(self.free_conv(shape), shape)
        if kind == "pool":
            return self.keep_size(self.free_pool(shape), shape)
        if kind == "lrn":
            return self.lrn()
        if kind == "dropout":
            return self.dropout()
        return self.adaptive(shape)

    def keep_size(self, layer: dict[str, Any], shape: Shape) -> dict[str, Any]:
        """Undo a conv's or pool's downsampling where it would take H or W below the floor:
        stride 1 and padding k // 2 give at least the input size."""
        out, _, _ = simulate_layer(layer, shape, {}, self.defaults)
        if min(out[1:]) >= self.floor or min(shape[1:]) < self.floor:
            return layer
        kh, kw = _pair(layer["kernel"])
        layer = {**layer, "stride": 1, "padding": _as_pair(self.draw, kh // 2, kw // 2)}
        if layer["op"] == "conv" and self.draw(st.booleans()):
            del layer["stride"]
        return layer

    # -- block templates ------------------------------------------------------------

    def template_out(self, params: list[str]) -> int | str:
        d = self.draw
        choice = d(st.sampled_from(["new", "new", "reuse", "literal", "literal", "classes"]))
        if choice == "reuse" and params:
            return "$" + d(st.sampled_from(params))
        if choice == "literal":
            return self.width()
        if choice == "classes" and self.spec["num_classes"] <= self.max_channels:
            return "$num_classes"
        params.append(f"ch{len(params)}")
        return "$" + params[-1]

    def ceil_key(self, layer: dict[str, Any], needed: bool | None) -> None:
        """Set ceil_mode where it matters (`needed`), leaving it to defaults when they agree."""
        d = self.draw
        if needed is None:
            choice = d(st.sampled_from([None, True, False]))
            if choice is not None:
                layer["ceil_mode"] = choice
        elif self.defaults["pool"]["ceil_mode"] != needed or d(st.booleans()):
            layer["ceil_mode"] = needed

    def template_layer(self, kind: str, stride: int, params: list[str]) -> dict[str, Any]:
        """A layer mapping n -> ceil(n / stride) along both axes."""
        d = self.draw
        if kind == "conv":
            kh, kw = _odd_kernel(d)
            layer: dict[str, Any] = {"op": "conv", "out": self.template_out(params)}
            layer["kernel"] = _as_pair(d, kh, kw)
            if stride > 1 or d(st.integers(0, 3)) == 0:
                layer["stride"] = stride if d(st.booleans()) else [stride, stride]
            if (kh, kw) != (1, 1) or d(st.booleans()):
                layer["padding"] = _as_pair(d, kh // 2, kw // 2)
            self.conv_overrides(layer)
            return layer
        if kind in ("maxpool", "avgpool"):
            layer = {"op": kind}
            if stride > 1 and d(st.booleans()):
                # kernel == stride, no padding, ceil mode: ceil(n / s) outputs.
                layer["kernel"] = stride
                if d(st.booleans()):
                    layer["stride"] = stride
                self.ceil_key(layer, True)
            else:
                kh, kw = _odd_kernel(d)
                layer["kernel"] = _as_pair(d, kh, kw)
                layer["stride"] = stride if d(st.booleans()) else [stride, stride]
                if (kh, kw) != (1, 1) or d(st.booleans()):
                    layer["padding"] = _as_pair(d, kh // 2, kw // 2)
                # Odd kernel, "same" padding: floor mode gives ceil(n / s); ceil mode
                # agrees only when the stride is 1.
                self.ceil_key(layer, None if stride == 1 else False)
            if kind == "avgpool" and d(st.booleans()):
                layer["count_include_pad"] = d(st.booleans())
            return layer
        if kind == "lrn":
            return self.lrn()
        return self.dropout()

    def template(self, name: str) -> dict[str, Any]:
        d = self.draw
        stride = self.strides[name] = d(st.sampled_from([1, 1, 1, 2, 2, 3]))
        n_branches = d(st.sampled_from([1, 2, 2, 3, 3, 4, 4]))
        params: list[str] = []
        naming = d(st.sampled_from(["branchN", "short", "words"]))
        style = d(st.sampled_from(["none", "short", "caffe", "mixed"]))
        branches: dict[str, list[dict[str, Any]]] = {}
        pool_only = False
        for b in range(n_branches):
            n_layers = d(st.integers(1, 3))
            core = ["conv", "conv", "maxpool", "avgpool"]
            kinds = [d(st.sampled_from(core + (["lrn", "dropout"] if self.extras else [])))]
            kinds += [d(st.sampled_from(core)) for _ in range(n_layers - 1)]
            kinds = list(d(st.permutations(kinds)))
            # At most one branch without a conv (it passes the input's channels through),
            # and none in a single-branch template; a strided branch needs a spatial layer.
            spatial = [j for j, k in enumerate(kinds) if k in ("conv", "maxpool", "avgpool")]
            if "conv" not in kinds and (pool_only or n_branches == 1 or not spatial):
                kinds[-1] = "conv"
                spatial = sorted({*spatial, len(kinds) - 1})
            pool_only = pool_only or "conv" not in kinds
            strided = d(st.sampled_from(spatial)) if stride > 1 else -1
            layers = []
            for j, kind in enumerate(kinds):
                layer = self.template_layer(kind, stride if j == strided else 1, params)
                name = self.layer_name(layer, style)
                if name is not None:
                    layer = {"name": name, **layer}
                layers.append(layer)
            bname = {"branchN": f"branch{b + 1}", "short": f"b{b}", "words": f"path_{'abcd'[b]}"}
            branches[bname[naming]] = layers
        if d(st.integers(0, 4)) == 0:
            params.append(f"ch{len(params)}")  # a parameter nothing uses
        out: dict[str, Any] = {}
        if d(st.booleans()):
            out["doc"] = f"generated, stride {stride}"
        if params or d(st.booleans()):
            out["params"] = params
        out["branches"] = branches
        return out

    def layer_name(self, layer: dict[str, Any], style: str) -> str | None:
        d = self.draw
        if style == "mixed":
            style = d(st.sampled_from(["none", "short", "caffe"]))
        if style == "none":
            return None
        if style == "caffe" and "kernel" in layer:
            kh, kw = _pair(layer["kernel"])
            return self.fresh(f"{kh}x{kw}_")
        return self.fresh(layer["op"][0])

    # -- rows -------------------------------------------------------------------------

    def finish_row(self, row: dict[str, Any], shape: Shape, index: int, prefix: str) -> Shape:
        """Name the row (or not), maybe declare its output; return its output shape."""
        d = self.draw
        out, _, _ = simulate_row(self.spec, row, shape, self.defaults)
        if d(st.integers(0, 2)) > 0:
            row = {"name": f"{prefix}_{index}", **row}
        if len(out) == 3 and d(st.integers(0, 3)) == 0:
            row["output"] = _hwc(out)
        if d(st.integers(0, 9)) == 0:
            row["paper"] = {"params": d(st.integers(0, 500)), "ops": d(_small_float(0.1, 99.0))}
        self.spec["layers"].append(row)
        return out


@st.composite
def specs(
    draw: Any,
    *,
    max_in_channels: int = 4,
    min_size: int = 15,
    max_size: int = 64,
    max_channels: int = 24,
    max_stem: int = 3,
    max_templates: int = 3,
    max_blocks: int = 4,
    max_aux: int = 2,
    extras: bool = True,
    min_spatial: int = 3,
) -> Spec:
    """A random valid spec, as plain data. See the module docstring for what varies."""
    d = draw
    size_h = d(st.integers(min_size, max_size))
    size_w = size_h if d(st.booleans()) else d(st.integers(min_size, max_size))
    spec: Spec = {"name": f"gen_{d(st.integers(0, 999))}"}
    if d(st.booleans()):
        spec["class_name"] = "GenNet"
    if d(st.integers(0, 3)) == 0:
        spec["description"] = "A generated spec."
    spec["input"] = {
        "channels": d(st.integers(1, max_in_channels)),
        "size": _as_pair(d, size_h, size_w),
    }
    spec["num_classes"] = d(st.integers(1, 16))
    if d(st.booleans()):
        spec["aux_logits"] = d(st.booleans())

    defaults: dict[str, Any] = {}
    conv = {
        k: d(st.sampled_from(v))
        for k, v in (("bias", [True, False]), ("norm", ["bn", "none"]), ("act", ["relu", "none"]))
        if d(st.booleans())
    }
    if conv or d(st.integers(0, 4)) == 0:
        defaults["conv"] = conv
    if d(st.integers(0, 2)) == 0:
        bn = {}
        if d(st.booleans()):
            bn["eps"] = d(st.sampled_from([1e-5, 0.001, 1e-3, 0.01]))
        if d(st.booleans()):
            bn["momentum"] = d(_small_float(0.01, 0.99))
        defaults["bn"] = bn
    if d(st.booleans()):
        defaults["pool"] = {"ceil_mode": d(st.booleans())}
    if defaults or d(st.booleans()):
        spec["defaults"] = defaults
    if d(st.booleans()):
        init: dict[str, Any] = {
            "weights": d(st.sampled_from(["caffe_xavier", "trunc_normal", "default"]))
        }
        if d(st.booleans()):
            init["std"] = d(st.sampled_from([0.01, 0.02, 1]))
        if d(st.booleans()):
            init["bias"] = d(st.sampled_from([None, 0, 0.2, 0.0]))
        spec["init"] = init

    # One spec in five may shrink its maps all the way to 1x1; the rest keep H, W >= 3.
    floor = 1 if d(st.integers(0, 4)) == 0 else min_spatial
    g = _Draw(d, spec, max_channels, extras, floor)
    n_templates = d(st.integers(1, max_templates)) if max_templates else 0
    spec["blocks"] = {
        f"tmpl_{'abcdefgh'[t]}": g.template(f"tmpl_{'abcdefgh'[t]}") for t in range(n_templates)
    }
    spec["layers"] = []
    shape: Shape = (spec["input"]["channels"], size_h, size_w)

    stem_kinds = ["conv", "conv", "pool", "pool"] + (
        ["lrn", "dropout", "adaptive"] if extras else []
    )
    for _ in range(d(st.integers(0, max_stem))):
        row = g.primitive(shape, stem_kinds)
        shape = g.finish_row(row, shape, len(spec["layers"]), row["op"])

    block_rows: list[str] = []
    between = ["conv", "pool", "pool"] + (["lrn", "dropout"] if extras else [])
    # sampled_from draws its first element for "simple" choices: mostly with blocks.
    with_blocks = d(st.sampled_from([True, True, True, True, True, False]))
    n_blocks = d(st.integers(min(1, max_blocks), max_blocks)) if with_blocks else 0
    for _ in range(n_blocks if spec["blocks"] else 0):
        if d(st.integers(0, 3)) == 0:
            row = g.primitive(shape, between)
            shape = g.finish_row(row, shape, len(spec["layers"]), row["op"])
        # Prefer templates whose stride keeps the map at or above the floor.
        fits = [
            t
            for t, stride in sorted(g.strides.items())
            if (min(shape[1:]) - 1) // stride + 1 >= floor
        ]
        tname = d(st.sampled_from(fits or sorted(spec["blocks"])))
        row = {"op": tname}
        row.update({p: g.width() for p in spec["blocks"][tname].get("params", [])})
        index = len(spec["layers"])
        shape = g.finish_row(row, shape, index, "block")
        block_rows.append(row_name(spec["layers"][-1], index))

    # The head.
    _, h, w = shape
    head = d(
        st.sampled_from(["adaptive", "global"] + (["none"] if math.prod(shape) <= 2048 else []))
    )
    if head == "adaptive":
        row = {"op": "adaptive_avgpool"}
        if d(st.integers(0, 2)) == 0:
            a, b = d(st.integers(1, min(h, 3))), d(st.integers(1, min(w, 3)))
            row["size"] = _as_pair(d, a, b)
        shape = g.finish_row(row, shape, len(spec["layers"]), "avgpool")
    elif head == "global":
        row = {"op": "avgpool", "kernel": _as_pair(d, h, w)}
        if d(st.booleans()):
            row["ceil_mode"] = d(st.booleans())
        shape = g.finish_row(row, shape, len(spec["layers"]), "avgpool")
    early_dropout = d(st.booleans())
    if early_dropout:
        shape = g.finish_row(g.dropout(), shape, len(spec["layers"]), "dropout")
    shape = g.finish_row({"op": "flatten"}, shape, len(spec["layers"]), "flatten")
    if not early_dropout and d(st.booleans()):
        shape = g.finish_row(g.dropout(), shape, len(spec["layers"]), "dropout")
    if d(st.booleans()):
        hidden = {"op": "linear", "out": g.width(), "act": d(st.sampled_from(["relu", "none"]))}
        if d(st.booleans()):
            hidden["bias"] = d(st.booleans())
        shape = g.finish_row(hidden, shape, len(spec["layers"]), "linear")
        if d(st.booleans()):
            shape = g.finish_row(g.dropout(), shape, len(spec["layers"]), "dropout")
    fc: dict[str, Any] = {"op": "linear", "out": d(st.sampled_from(["$num_classes", "literal"]))}
    if fc["out"] == "literal":
        fc["out"] = spec["num_classes"]
    if d(st.integers(0, 3)) == 0:
        fc["bias"] = d(st.booleans())
    g.finish_row(fc, shape, len(spec["layers"]), "fc")

    # Aux heads, sharing one single-branch template.
    n_aux = d(st.sampled_from([*range(1, max_aux + 1), 0])) if block_rows else 0
    if n_aux:
        outputs = {r.name: r.shape for r in simulate(spec).rows}
        taps = [d(st.sampled_from(block_rows)) for _ in range(n_aux)]
        params: list[str] = []
        layers: list[dict[str, Any]] = []
        min_h = min(outputs[t][1] for t in taps)
        min_w = min(outputs[t][2] for t in taps)
        if d(st.booleans()):
            a, b = d(st.integers(1, 4)), d(st.integers(1, 4))
            layers.append({"op": "adaptive_avgpool", "name": "pool", "size": _as_pair(d, a, b)})
        else:
            kh, kw = d(st.integers(1, min(min_h, 5))), d(st.integers(1, min(min_w, 5)))
            pool = {"op": "avgpool", "name": "pool", "kernel": _as_pair(d, kh, kw)}
            if d(st.booleans()):
                pool["stride"] = _as_pair(d, d(st.integers(1, kh)), d(st.integers(1, kw)))
            g.ceil_key(pool, None)
            layers.append(pool)
        conv = {"op": "conv", "name": "conv", "out": g.template_out(params), "kernel": 1}
        g.conv_overrides(conv)
        layers += [conv, {"op": "flatten", "name": "flatten"}]
        if d(st.booleans()):
            layers.append({"op": "linear", "name": "fc1", "out": g.width(), "act": "relu"})
        if d(st.booleans()):
            layers.append({"op": "dropout", "name": "dropout", "p": 0.7})
        layers.append({"op": "linear", "name": "fc2", "out": "$num_classes"})
        template: dict[str, Any] = {"doc": "auxiliary classifier", "branches": {"head": layers}}
        if params:
            template["params"] = params
        spec["blocks"]["aux_classifier"] = template
        spec["aux_heads"] = [
            {
                "name": f"aux{i + 1}",
                "from": tap,
                "op": "aux_classifier",
                "loss_weight": d(st.sampled_from([0.3, 1, 0.5])),
                **{p: g.width() for p in params},
            }
            for i, tap in enumerate(taps)
        ]
    if not spec["blocks"] and d(st.booleans()):
        del spec["blocks"]
    simulate(spec)  # asserts the spec is valid by the generator's own rules
    return spec
