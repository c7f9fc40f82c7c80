"""Hypothesis strategies for random *valid* incept specs.

`specs()` draws a spec as plain Python data (dicts, lists, ints, floats, strings,
bools, None) that `write_spec()` dumps to a YAML file the compiler accepts. Every
drawn spec is valid by construction: the generator tracks each row's output shape
with the independent oracle of oracle.py (`simulate_layer()`, `simulate_row()`) and
only draws layers that keep every spatial size >= 1, every block's branches equal in
size and both sides of every residual add equal in shape; the test then compares the
compiler with `oracle.simulate(spec)`.

`inherited_specs()` draws a `Chain`: a base spec from `specs()` and one or two files
that `extends:` it with overrides and `patch:` edits. `write_chain()` writes the files
and returns the leaf's path; `oracle.resolve_chain()` merges them by the oracle's own
reading of the inheritance rules.

What a drawn spec can contain (the knobs of `specs()` in brackets):

- input: 1-4 channels [max_in_channels]; size min_size..max_size (default 15..64, so
  odd sizes too), written as `16` or `[h, w]`, square or not.
- num_classes 1..16; name, optional class_name and description; aux_logits on/off;
  width_multiplier absent or one of 0.25, 0.3, 0.5, 0.75, 1, 1.0, 1.25, 1.5 [widths].
  It scales literal conv `out`s and block arguments, max(1, round_half_up(c * w)),
  never linear widths nor `$num_classes`; it changes no spatial size, so validity holds.
- defaults: absent, or any subset of conv {bias, norm bn/none, act relu/none},
  bn {eps, momentum} and pool {ceil_mode}; init: absent, or caffe_xavier /
  trunc_normal / default with std and bias constant or null.
- stem [max_stem rows, default 0..3]: conv (kernel 1-7 per side, so [1,3] / [3,1] /
  [5,2] too, stride 1-2, padding 0..k//2, random bias/norm/act overrides), maxpool and
  avgpool (kernel 1-5 per side, stride default/1-3, padding <= k//2, ceil_mode
  true/false/default, avg count_include_pad true/false/default), lrn, dropout,
  adaptive_avgpool (to a size no larger than its input), and [factorized] a factorized
  pair or stack of conv rows: two or three 3x3s, 1xn then nx1, or nx1 then 1xn.
- block templates [max_templates, default 1..3]: 1-4 named branches of 1-3 items
  each (conv, maxpool, avgpool; with `extras`, also lrn and dropout). Each template has
  a stride s in {1, 2, 3}, carried by exactly one layer of every branch when s > 1;
  all layers use size-preserving settings, so every branch maps n -> ceil(n / s):
  odd kernels (square or asymmetric like [1, 7]) with padding k // 2 (floor mode,
  stride 1 or s), or a k = s pool in ceil mode. At most one branch has no conv (it
  passes its input's channels through); lrn / dropout never stand alone.
  [factorized] An item may be a factorized conv stack: a 5x5 as two 3x3s, three 3x3s,
  a 3x3 / 5x5 / 7x7 as 1xn then nx1 (or nx1 then 1xn; InceptionC's 7x7), or 3-4
  alternating nx1 / 1xn (InceptionC's 7x7dbl), each with the matching padding.
  `layout:` absent, `branches` or `flat` [layouts]. [splits] In a flat template an item
  may be a `split`: 2-3 sub-branches of 1-2 items each (the same kinds; at most one
  without a conv), concatenated on channels; a split may end its branch or be followed
  by more layers, may carry the template's stride (then every sub-branch does), and
  rarely holds a split itself. Sub-branches are named a/b/c where every layer inside
  is named (Inception-v3's style), else by a unique `sbN`, so default local names
  (`<branch>_<index>`) never clash.
  Conv widths are `$params` (new or reused), literals, or `$num_classes`; template
  parameters may go unused. Layer names: absent, `c3`-style, or Caffe-style
  digit-first `3x3_1`.
- [separable, default on] Xception's kinds: `sepconv` items in template branches (as
  a conv: odd kernel, "same" padding, maybe the stride), a standalone `bn` (its `scale`
  true / false / left to `defaults.bn.scale`, which is drawn false more often than
  true) or `relu` as a branch's non-spatial item (like lrn / dropout); a template conv
  whose input channels a literal width fixes may take `groups` dividing both its
  scaled input and output (all of them: depthwise); stem and between-block rows may be
  a sepconv, a grouped conv (groups dividing the known input channels), a bn or a relu.
- [residuals, default 0.25: each template is residual with that probability; 1.0:
  every template, and at least one block row] A residual template's merged side ends
  in a size-keeping conv or sepconv (1x1 or padded 3x3, act relu/none) to a width T,
  either in `after:` ([relu or bn,] conv[, bn]) or, in a single-branch template, at
  the end of the branch itself (Xception's `rep`). T is `$in_channels` where the
  shortcut is the identity (stride 1 only), else `$in_channels` or any template width;
  the projection shortcut is a 1x1 conv to T carrying the template's stride (+ a bn
  layer; names `skip` / `skipbn`, the style's or default). `scale`: absent, a literal
  (0.17, 0.1, 0.2, 0.5, 1, 1.0) or `$scale`; `act`: absent, relu, none or `$act`; rows
  pass those as numbers and relu/none, not scaled by the width. With residuals on, one
  conv width per template may be `$in_channels` (residual or not).
- body [max_blocks block rows, default 0..4], each optionally preceded by a primitive
  row (conv / pool / lrn / dropout); rows named or left to the compiler's `op<index>`.
  A block row whose output (by the oracle) equals its input may carry `repeat: 1..3`
  (with residuals on). Rows may declare their `output` (HxWxC) or carry `paper:` numbers.
- head: adaptive_avgpool (size 1 or small), a global avgpool whose kernel is the
  remaining size, or nothing (small maps); dropout before or after flatten; an
  optional hidden linear (+ dropout); a final linear to `$num_classes` (or the literal).
- aux heads [max_aux, default 0..2] on random block rows, sharing one single-branch
  template (layout absent or flat): adaptive_avgpool (1-4) or an avgpool valid at
  every tapped size, 1x1 conv, flatten, optional hidden linear and dropout, linear to
  `$num_classes`.

What an inherited chain contains (`inherited_specs()`, levels 1..max_levels): files
side by side (`base.yaml`, `child.yaml`, `grandchild.yaml`) or in folders
(`specs/base.yaml`, `variants/child.yaml` extending `../specs/base.yaml`, ...). Each
child may override name, class_name, description, num_classes, width_multiplier,
aux_logits, input channels or a larger size, `defaults` and `init` (merged key by
key), templates (`layout` flipped, `doc`, one branch replaced by a new one of the same
stride), drop the aux heads (`aux_heads: []`), and `patch:` rows (one base in five
patches its own rows too): `set` (widths, block arguments, conv / pool / linear /
dropout keys, `paper` merged into the row's), `rename`, `unset` (a key or a list), `replace`
(by a dropout, lrn, 1x1 conv, same-size pool or another block), `delete`, `insert`
before / after (1-2 shape-preserving rows, named or not; among the aux heads, another
aux head) and `row: '*'` set / unset. Every edit is drawn against the merged spec so far
and kept only if the result is valid (`is_valid()` ignoring declared outputs); a
declared output that no longer holds is then fixed by the child's patch: `set` to the
new value or `unset` (named rows), or `{row: '*', unset: [output]}`.

Channel counts stay <= max_channels (24) per layer (before width scaling, at most
x1.5) and the input <= 64, so a CPU forward pass of a generated model is quick.

Hypothesis profiles, chosen by the HYPOTHESIS_PROFILE environment variable
(default "ci"): "ci" (derandomized, 50 examples) and "thorough" (500 examples; `make
test-thorough`); both without deadline and with the too_slow health check off. A test
whose every example builds and runs models sets a smaller ci count with
`examples(ci, thorough)`, so `make test` stays within minutes.
"""

from __future__ import annotations

import math
import os
import posixpath
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from oracle import (
    ACTS,
    Chain,
    Shape,
    Spec,
    _defaults,
    _hwc,
    _pair,
    _row_lists,
    apply_patch,
    is_valid,
    merge,
    param_kinds,
    resolve_chain,
    row_name,
    scale,
    simulate,
    simulate_branch,
    simulate_layer,
    simulate_row,
)
from ruamel.yaml import YAML

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
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(ci: int, thorough: int) -> int:
    """A test's example count under the loaded profile: `ci` by default, `thorough` under
    HYPOTHESIS_PROFILE=thorough (`make test-thorough`)."""
    return ci if PROFILE == "ci" else thorough


#: Width multipliers drawn (exact in binary but 0.3; channels <= 24 round alike).
WIDTHS = (0.5, 0.25, 0.75, 1, 1.0, 1.5, 1.25, 0.3)


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


def write_chain(chain: Chain, directory: str | Path) -> Path:
    """Write every file of `chain` under `directory`; return the leaf's path."""
    # Marks `directory` as the project, inside which `extends:` may reach sibling folders.
    (Path(directory) / "pyproject.toml").touch()
    for rel, data in chain.files:
        path = Path(directory) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_spec(data, path)
    return Path(directory) / chain.leaf


# -- drawing helpers ---------------------------------------------------------------


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


def _factorized_kernels(draw: Any) -> list[tuple[int, int]]:
    """A factorized conv: stacked 3x3s, or 1xn / nx1 pairs and alternations."""
    form = draw(st.sampled_from(["3x3", "1xn", "nx1", "alternate"]))
    if form == "3x3":  # a 5x5 (or 7x7) as two (three) 3x3s
        return [(3, 3)] * draw(st.integers(2, 3))
    n = draw(st.sampled_from([7, 3, 5]))
    if form == "1xn":  # InceptionC's branch7x7: 1x7 then 7x1
        return [(1, n), (n, 1)]
    if form == "nx1":
        return [(n, 1), (1, n)]
    return [(n, 1), (1, n), (n, 1), (1, n)][: draw(st.integers(3, 4))]  # branch7x7dbl


#: Residual scales drawn (Inception-ResNet's 0.17, 0.10, 0.20; 1 as int and float).
SCALES = (0.17, 0.1, 1, 0.2, 1.0, 0.5)


def _chance(draw: Any, p: float) -> bool:
    """True with probability `p` (always at 1, never at 0; shrinks towards False)."""
    if p >= 1 or p <= 0:
        return p >= 1
    return draw(st.integers(0, 99)) >= 100 - round(100 * p)


def _has_conv(layers: list[dict[str, Any]]) -> bool:
    return any(
        layer["op"] in ("conv", "sepconv")
        or (layer["op"] == "split" and any(map(_has_conv, layer["branches"].values())))
        for layer in layers
    )


def _all_named(layers: list[dict[str, Any]]) -> bool:
    return all(
        "name" in layer
        and (layer["op"] != "split" or all(map(_all_named, layer["branches"].values())))
        for layer in layers
    )


def _small_float(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda x: float(f"{x:.4g}"))


def _draw_defaults(d: Any, bn_scale: bool = True) -> dict[str, Any]:
    """A `defaults:` mapping: any subset of conv, bn and pool keys (`bn_scale`: bn.scale
    too, false more often than not: keras.applications' BN without gamma)."""
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
        if bn_scale and d(st.integers(0, 2)) == 0:
            bn["scale"] = d(st.sampled_from([False, True, False]))
        defaults["bn"] = bn
    if d(st.booleans()):
        defaults["pool"] = {"ceil_mode": d(st.booleans())}
    return defaults


def _draw_init(d: Any) -> dict[str, Any]:
    init: dict[str, Any] = {
        "weights": d(st.sampled_from(["caffe_xavier", "trunc_normal", "default"]))
    }
    if d(st.booleans()):
        init["std"] = d(st.sampled_from([0.01, 0.02, 1]))
    if d(st.booleans()):
        init["bias"] = d(st.sampled_from([None, 0, 0.2, 0.0]))
    return init


class _Draw:
    """Generation state for one spec."""

    def __init__(
        self,
        draw: Any,
        spec: Spec,
        max_channels: int,
        extras: bool,
        floor: int,
        *,
        splits: bool = True,
        factorized: bool = True,
        separable: bool = True,
        residuals: float = 0.0,
        counter: int = 0,
    ) -> None:
        self.draw = draw
        self.spec = spec
        self.max_channels = max_channels
        self.extras = extras
        self.floor = floor  # free layers keep H and W >= floor (where the input has it)
        self.splits = splits
        self.factorized = factorized
        self.separable = separable  # sepconv, bn and relu layers, conv groups
        self.residuals = residuals  # each template is residual with this probability
        self.in_refs = 0  # `$in_channels` widths left to the template being drawn
        self.counter = counter
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

    def groups_for(self, channels: int) -> tuple[int, int] | None:
        """A literal conv width and groups > 1 dividing `channels` and the scaled width
        (groups = channels = width: a depthwise convolution)."""
        d = self.draw
        divisors = [g for g in range(2, channels + 1) if channels % g == 0]
        if not divisors:
            return None
        groups = d(st.sampled_from([divisors[-1], *divisors]))
        w = self.spec.get("width_multiplier", 1)
        outs = [c for c in range(1, self.max_channels + 1) if scale(c, w) % groups == 0]
        return (d(st.sampled_from(outs)), groups) if outs else None

    def bn(self) -> dict[str, Any]:
        """A batch norm layer, with its learned scale on, off, or as the defaults say."""
        layer: dict[str, Any] = {"op": "bn"}
        if self.draw(st.integers(0, 2)) == 0:
            layer["scale"] = self.draw(st.booleans())
        return layer

    def separable_row(self, shape: Shape) -> dict[str, Any]:
        """A sepconv, a grouped conv, a bn or a relu row (Xception's kinds)."""
        kind = self.draw(st.sampled_from(["sepconv", "groups", "bn", "relu"]))
        if kind == "bn":
            return self.bn()
        if kind == "relu":
            return {"op": "relu"}
        layer = self.keep_size(self.free_conv(shape), shape)
        if kind == "sepconv":
            return {**layer, "op": "sepconv"}
        grouped = self.groups_for(shape[0])
        if grouped is not None:
            layer["out"], layer["groups"] = grouped
        return layer

    def factorized_rows(self, shape: Shape) -> list[dict[str, Any]]:
        """Stem rows of a factorized conv ("same" padding; the first may stride 2)."""
        d = self.draw
        rows = []
        for j, (kh, kw) in enumerate(_factorized_kernels(d)[:3]):
            layer: dict[str, Any] = {
                "op": "conv",
                "out": self.width(),
                "kernel": _as_pair(d, kh, kw),
            }
            if j == 0 and d(st.booleans()):
                layer["stride"] = 2
            layer["padding"] = _as_pair(d, kh // 2, kw // 2)
            self.conv_overrides(layer)
            rows.append(self.keep_size(layer, shape) if j == 0 else layer)
        return rows

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

    def primitive(self, shape: Shape, kinds: list[str]) -> list[dict[str, Any]]:
        """One row (a factorized conv: two or three)."""
        kind = self.draw(st.sampled_from(kinds))
        if kind == "conv":
            return [self.keep_size(self.free_conv(shape), shape)]
        if kind == "factorized":
            return self.factorized_rows(shape)
        if kind == "pool":
            return [self.keep_size(self.free_pool(shape), shape)]
        if kind == "lrn":
            return [self.lrn()]
        if kind == "dropout":
            return [self.dropout()]
        if kind == "separable":
            return [self.separable_row(shape)]
        return [self.adaptive(shape)]

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

    def template_out(self, params: list[str], fixed: bool = False) -> int | str:
        """A template conv's width; `fixed`: the template's params may not grow."""
        d = self.draw
        choices = ["new", "new", "reuse", "literal", "literal", "classes"]
        choice = d(st.sampled_from(choices + (["in"] if self.in_refs else [])))
        if choice == "in":  # the block's input channels (never scaled)
            self.in_refs -= 1
            return "$in_channels"
        if fixed and choice == "new":
            choice = "reuse" if params else "literal"
        if choice == "reuse" and params:
            return "$" + d(st.sampled_from(params))
        if choice == "literal":
            return self.width()
        if choice == "classes" and self.spec["num_classes"] <= self.max_channels:
            return "$num_classes"
        if fixed:
            return self.width()
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

    def template_layer(
        self,
        kind: str,
        stride: int,
        params: list[str],
        fixed: bool = False,
        known: int | None = None,
    ) -> dict[str, Any]:
        """A layer mapping n -> ceil(n / stride) along both axes; `known`: its input
        channels where a literal width fixes them (a conv may then take `groups`)."""
        d = self.draw
        if kind == "bn":
            return self.bn()
        if kind == "relu":
            return {"op": "relu"}
        if kind in ("conv", "sepconv"):
            kh, kw = _odd_kernel(d)
            layer: dict[str, Any] = {"op": kind, "out": self.template_out(params, fixed)}
            layer["kernel"] = _as_pair(d, kh, kw)
            if stride > 1 or d(st.integers(0, 3)) == 0:
                layer["stride"] = stride if d(st.booleans()) else [stride, stride]
            if (kh, kw) != (1, 1) or d(st.booleans()):
                layer["padding"] = _as_pair(d, kh // 2, kw // 2)
            self.conv_overrides(layer)
            if kind == "conv" and known and self.separable and d(st.integers(0, 2)) == 0:
                grouped = self.groups_for(known)
                if grouped is not None:
                    layer["out"], layer["groups"] = grouped
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

    def factorized_layers(
        self, stride: int, params: list[str], fixed: bool = False
    ) -> list[dict[str, Any]]:
        """A factorized conv in a template, one of its layers carrying `stride`."""
        d = self.draw
        kernels = _factorized_kernels(d)
        strided = d(st.integers(0, len(kernels) - 1)) if stride > 1 else -1
        layers = []
        for j, (kh, kw) in enumerate(kernels):
            layer: dict[str, Any] = {"op": "conv", "out": self.template_out(params, fixed)}
            layer["kernel"] = _as_pair(d, kh, kw)
            if j == strided:
                layer["stride"] = stride if d(st.booleans()) else [stride, stride]
            layer["padding"] = _as_pair(d, kh // 2, kw // 2)
            self.conv_overrides(layer)
            layers.append(layer)
        return layers

    def branch(
        self,
        stride: int,
        params: list[str],
        style: str,
        *,
        flat: bool,
        must_conv: bool,
        depth: int = 0,
        fixed: bool = False,
    ) -> list[dict[str, Any]]:
        """A branch (depth 0) or a split's sub-branch mapping n -> ceil(n / stride):
        1-3 items (sub-branches: 1-2), exactly one carrying the stride when > 1."""
        d = self.draw
        core = ["conv", "conv", "maxpool", "avgpool"]
        if self.factorized and depth == 0:
            core.append("factorized")
        if self.separable:
            core.append("sepconv")
        if flat and self.splits and (depth == 0 or (depth == 1 and d(st.integers(0, 3)) == 0)):
            core.append("split")
        n_items = d(st.integers(1, 3 if depth == 0 else 2))
        extras = (["lrn", "dropout"] if self.extras else []) + (
            ["bn", "relu"] if self.separable else []
        )
        kinds = [d(st.sampled_from(core + extras))]
        kinds += [d(st.sampled_from(core)) for _ in range(n_items - 1)]
        kinds = list(d(st.permutations(kinds)))
        # At most one branch without a conv (it passes the input's channels through),
        # and none in a single-branch template; a strided branch needs a spatial layer.
        # A split always holds a conv (at most one of its sub-branches has none).
        spatial = [j for j, k in enumerate(kinds) if k not in ("lrn", "dropout", "bn", "relu")]
        convs = [k for k in kinds if k in ("conv", "sepconv", "factorized", "split")]
        if not convs and (must_conv or not spatial):
            kinds[-1] = "conv"
            spatial = sorted({*spatial, len(kinds) - 1})
        strided = d(st.sampled_from(spatial)) if stride > 1 else -1
        layers: list[dict[str, Any]] = []
        known = None  # the channels entering the next layer, where a literal fixes them
        for j, kind in enumerate(kinds):
            s = stride if j == strided else 1
            if kind == "factorized":
                items = self.factorized_layers(s, params, fixed)
            elif kind == "split":
                items = [self.split(s, params, style, depth, fixed)]
            else:
                items = [self.template_layer(kind, s, params, fixed, known)]
            for layer in items:
                known = self.channels_after(layer, known)
                name = self.layer_name(layer, style)
                layers.append(layer if name is None else {"name": name, **layer})
        return layers

    def channels_after(self, layer: dict[str, Any], known: int | None) -> int | None:
        """A layer's output channels where its input's are `known` (None: unknown)."""
        if layer["op"] == "split":
            return None
        if layer["op"] not in ("conv", "sepconv"):
            return known
        out = layer["out"]
        if isinstance(out, int):
            return scale(out, self.spec.get("width_multiplier", 1))
        return self.spec["num_classes"] if out == "$num_classes" else None

    def split(
        self, stride: int, params: list[str], style: str, depth: int, fixed: bool
    ) -> dict[str, Any]:
        """2-3 sub-branches from one input, concatenated (Inception-v3's 1x3 / 3x1)."""
        d = self.draw
        subs: list[list[dict[str, Any]]] = []
        pool_only = False
        for _ in range(d(st.integers(2, 3))):
            layers = self.branch(
                stride,
                params,
                style,
                flat=True,
                must_conv=pool_only,
                depth=depth + 1,
                fixed=fixed,
            )
            pool_only = pool_only or not _has_conv(layers)
            subs.append(layers)
        if all(map(_all_named, subs)) and d(st.booleans()):
            names = list("abc")  # default local names never come from them
        else:
            names = [self.fresh("sb") for _ in subs]
        return {"op": "split", "branches": dict(zip(names, subs, strict=False))}

    def template(self, name: str, layouts: bool = True) -> dict[str, Any]:
        d = self.draw
        residual = _chance(d, self.residuals)
        self.in_refs = 1 if self.residuals > 0 else 0
        stride = self.strides[name] = d(st.sampled_from([1, 1, 1, 2, 2, 3]))
        layout = d(st.sampled_from([None, "flat", "branches", "flat"])) if layouts else None
        n_branches = d(st.sampled_from([1, 2, 2, 3, 3, 4, 4]))
        params: list[str] = []
        naming = d(st.sampled_from(["branchN", "short", "words"]))
        style = d(st.sampled_from(["none", "short", "caffe", "mixed"]))
        branches: dict[str, list[dict[str, Any]]] = {}
        pool_only = False
        for b in range(n_branches):
            layers = self.branch(
                stride,
                params,
                style,
                flat=layout == "flat",
                must_conv=pool_only or n_branches == 1,
            )
            pool_only = pool_only or not _has_conv(layers)
            bname = {"branchN": f"branch{b + 1}", "short": f"b{b}", "words": f"path_{'abcd'[b]}"}
            branches[bname[naming]] = layers
        after: list[dict[str, Any]] = []
        res: dict[str, Any] = {}
        if residual:
            after, res = self.residual_parts(branches, stride, params, style)
        if d(st.integers(0, 4)) == 0:
            params.append(f"ch{len(params)}")  # a parameter nothing uses
        out: dict[str, Any] = {}
        if d(st.booleans()):
            out["doc"] = f"generated, stride {stride}"
        if layout is not None:
            out["layout"] = layout
        if params or d(st.booleans()):
            out["params"] = params
        out["branches"] = branches
        if residual:
            if after:
                out["after"] = after
            out["residual"] = res
        return out

    # -- residual templates -----------------------------------------------------------

    def residual_parts(
        self,
        branches: dict[str, list[dict[str, Any]]],
        stride: int,
        params: list[str],
        style: str,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """`after:` layers and a `residual:` for a template of these branches: the merged
        side ends in a conv (or sepconv) to a width T, `$in_channels` or another; the
        shortcut is the identity where that keeps the shape (stride 1, T = `$in_channels`),
        else a 1x1 conv to T with the template's stride (+ a bn layer: Xception's skip)."""
        d = self.draw
        identity = stride == 1 and d(st.integers(0, 2)) > 0
        self.in_refs = max(self.in_refs, 1)
        target = "$in_channels" if identity or d(st.booleans()) else self.template_out(params)
        after: list[dict[str, Any]] = []
        if len(branches) == 1 and d(st.booleans()):  # Xception: the branch itself ends in it
            next(iter(branches.values())).extend(self.residual_end(target, style))
        else:
            after = self.residual_end(target, style)
        res: dict[str, Any] = {}
        if not identity:
            res["shortcut"] = self.projection(target, stride, style)
        elif d(st.integers(0, 3)) == 0:
            res["shortcut"] = "identity"
        how = d(st.sampled_from(["absent", "literal", "param"]))
        if how == "literal":
            res["scale"] = d(st.sampled_from(SCALES))
        elif how == "param":
            params.append("scale")
            res["scale"] = "$scale"
        act = d(st.sampled_from(["absent", "relu", "none", "param"]))
        if act == "param":
            params.append("act")
            res["act"] = "$act"
        elif act != "absent":
            res["act"] = act
        return after, res

    def named(self, layers: list[dict[str, Any]], style: str) -> list[dict[str, Any]]:
        out = []
        for layer in layers:
            name = self.layer_name(layer, style)
            out.append(layer if name is None else {"name": name, **layer})
        return out

    def residual_end(self, target: str | int, style: str) -> list[dict[str, Any]]:
        """[relu or bn,] a size-keeping conv / sepconv to `target`[, bn]."""
        d = self.draw
        layers: list[dict[str, Any]] = []
        if self.separable and d(st.integers(0, 2)) == 0:
            layers.append({"op": "relu"} if d(st.booleans()) else self.bn())
        kind = "sepconv" if self.separable and d(st.integers(0, 3)) == 0 else "conv"
        k = d(st.sampled_from([1, 1, 3]))
        conv: dict[str, Any] = {"op": kind, "out": target, "kernel": k}
        if k == 3:
            conv["padding"] = 1
        self.conv_overrides(conv)
        layers.append(conv)
        if self.separable and d(st.integers(0, 3)) == 0:
            layers.append(self.bn())
        return self.named(layers, style)

    def projection(self, target: str | int, stride: int, style: str) -> list[dict[str, Any]]:
        """A shortcut: a 1x1 conv to `target` with the template's stride[, a bn layer]."""
        d = self.draw
        conv: dict[str, Any] = {"op": "conv", "out": target, "kernel": 1}
        if stride > 1 or d(st.booleans()):
            conv["stride"] = stride if d(st.booleans()) else [stride, stride]
        self.conv_overrides(conv)
        layers = [conv, self.bn()] if d(st.booleans()) else [conv]
        if d(st.integers(0, 3)) == 0:  # Xception's names
            return [
                {"name": n, **layer} for n, layer in zip(("skip", "skipbn"), layers, strict=False)
            ]
        return self.named(layers, style)

    def args(self, block: dict[str, Any]) -> dict[str, Any]:
        """A row's arguments for `block`: widths, residual scales, activations."""
        d = self.draw
        out: dict[str, Any] = {}
        for param, kind in param_kinds(block).items():
            if kind == "scale":
                out[param] = d(st.sampled_from(SCALES))
            elif kind == "act":
                out[param] = d(st.sampled_from(ACTS))
            else:
                out[param] = self.width()
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
    splits: bool = True,
    factorized: bool = True,
    layouts: bool = True,
    widths: bool = True,
    separable: bool = True,
    residuals: float = 0.25,
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
    if widths and d(st.booleans()):
        spec["width_multiplier"] = d(st.sampled_from(WIDTHS))
    if d(st.booleans()):
        spec["aux_logits"] = d(st.booleans())

    defaults = _draw_defaults(d, separable)
    if defaults or d(st.booleans()):
        spec["defaults"] = defaults
    if d(st.booleans()):
        spec["init"] = _draw_init(d)

    # One spec in five may shrink its maps all the way to 1x1; the rest keep H, W >= 3.
    floor = 1 if d(st.integers(0, 4)) == 0 else min_spatial
    g = _Draw(
        d,
        spec,
        max_channels,
        extras,
        floor,
        splits=splits,
        factorized=factorized,
        separable=separable,
        residuals=residuals,
    )
    n_templates = d(st.integers(1, max_templates)) if max_templates else 0
    spec["blocks"] = {
        f"tmpl_{'abcdefgh'[t]}": g.template(f"tmpl_{'abcdefgh'[t]}", layouts)
        for t in range(n_templates)
    }
    spec["layers"] = []
    shape: Shape = (spec["input"]["channels"], size_h, size_w)

    stem_kinds = ["conv", "conv", "pool", "pool"] + (
        ["lrn", "dropout", "adaptive"] if extras else []
    )
    if factorized:
        stem_kinds.append("factorized")
    if separable:
        stem_kinds.append("separable")
    for _ in range(d(st.integers(0, max_stem))):
        for row in g.primitive(shape, stem_kinds):
            shape = g.finish_row(row, shape, len(spec["layers"]), row["op"])

    block_rows: list[str] = []
    between = ["conv", "pool", "pool"] + (["lrn", "dropout"] if extras else [])
    if separable:
        between.append("separable")
    # sampled_from draws its first element for "simple" choices: mostly with blocks.
    with_blocks = d(st.sampled_from([True, True, True, True, True, False])) or residuals >= 1
    n_blocks = d(st.integers(min(1, max_blocks), max_blocks)) if with_blocks else 0
    for _ in range(n_blocks if spec["blocks"] else 0):
        if d(st.integers(0, 3)) == 0:
            for row in g.primitive(shape, between):
                shape = g.finish_row(row, shape, len(spec["layers"]), row["op"])
        # Prefer templates whose stride keeps the map at or above the floor.
        fits = [
            t
            for t, stride in sorted(g.strides.items())
            if (min(shape[1:]) - 1) // stride + 1 >= floor
        ]
        tname = d(st.sampled_from(fits or sorted(spec["blocks"])))
        row = {"op": tname, **g.args(spec["blocks"][tname])}
        out, _, _ = simulate_row(spec, row, shape, g.defaults)
        if residuals > 0 and out == shape and d(st.booleans()):  # it keeps the shape
            row["repeat"] = d(st.integers(1, 3))
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
        template: dict[str, Any] = {"doc": "auxiliary classifier"}
        if layouts and d(st.integers(0, 2)) == 0:
            template["layout"] = "flat"
        if params:
            template["params"] = params
        template["branches"] = {"head": layers}
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


# -- inherited specs ---------------------------------------------------------------

#: Keys a patch may `unset` per op (besides `output`, `paper` and `name`): optional ones.
_UNSETTABLE: dict[str, tuple[str, ...]] = {
    "conv": ("bias", "norm", "act", "stride", "padding", "groups"),
    "sepconv": ("bias", "norm", "act", "stride", "padding"),
    "bn": ("scale",),
    "maxpool": ("stride", "padding", "ceil_mode"),
    "avgpool": ("stride", "padding", "ceil_mode", "count_include_pad"),
    "adaptive_avgpool": ("size",),
    "lrn": ("k",),
    "linear": ("bias", "act"),
}


class _Child:
    """Draws one file that extends `base` (a merged spec): every override and edit is
    tried on the merged spec so far and kept only if the result stays valid."""

    def __init__(
        self,
        draw: Any,
        base: Spec,
        level: int,
        max_channels: int,
        extras: bool,
        widths: bool,
        **flags: bool,
    ) -> None:
        self.draw = draw
        self.widths = widths
        self.level = level
        self.cur = base  # the merged spec so far
        self.doc: Spec = {}
        self.edits: list[dict[str, Any]] = []
        self.inserted = 0
        self.g = _Draw(draw, base, max_channels, extras, 1, counter=1000 * level, **flags)

    # -- keeping what stays valid ---------------------------------------------------

    def attempt(self, over: Spec) -> bool:
        trial = merge(self.cur, over)
        if not is_valid(trial, declared=False):
            return False
        self.cur = self.g.spec = trial
        self.doc = merge(self.doc, over)
        return True

    def edit(self, edit: dict[str, Any]) -> bool:
        trial = apply_patch(self.cur, [edit])
        if not is_valid(trial, declared=False):
            return False
        self.cur = self.g.spec = trial
        self.edits.append(edit)
        return True

    # -- top-level overrides ---------------------------------------------------------

    def overrides(self) -> None:
        d = self.draw
        if d(st.booleans()):
            self.attempt({"name": f"{self.cur['name']}_v{self.level}"})
        if d(st.integers(0, 3)) == 0:
            self.attempt({"class_name": f"GenNetV{self.level}"})
        if d(st.integers(0, 3)) == 0:
            self.attempt({"description": f"Variant {self.level}."})
        if d(st.booleans()):
            self.attempt({"num_classes": d(st.integers(1, 16))})
        if self.widths and d(st.booleans()):
            self.attempt({"width_multiplier": d(st.sampled_from(WIDTHS))})
        if d(st.integers(0, 3)) == 0:
            self.attempt({"aux_logits": d(st.booleans())})
        if d(st.integers(0, 3)) == 0:
            self.input()
        if d(st.integers(0, 2)) == 0:
            self.attempt({"defaults": _draw_defaults(d, self.g.separable)})
        if d(st.integers(0, 3)) == 0:
            init = _draw_init(d)
            key = d(st.sampled_from(sorted(init)))
            self.attempt({"init": {key: init[key]}})
        if self.cur.get("blocks") and d(st.booleans()):
            for name in sorted(self.cur["blocks"]):
                if d(st.integers(0, 2)) == 0:
                    self.template(name)
        if self.cur.get("aux_heads") and d(st.integers(0, 9)) == 9:
            self.attempt({"aux_heads": []})

    def input(self) -> None:
        d = self.draw
        if d(st.booleans()):
            self.attempt({"input": {"channels": d(st.integers(1, 4))}})
            return
        h, w = _pair(self.cur["input"]["size"])
        h2 = d(st.integers(h, max(h, 64)))
        w2 = h2 if h == w and d(st.booleans()) else d(st.integers(w, max(w, 64)))
        self.attempt({"input": {"size": _as_pair(d, h2, w2)}})

    def stride_of(self, name: str) -> int | None:
        """A template's stride, from its first branch on a 60 x 60 probe."""
        block = self.cur["blocks"][name]
        env = {"num_classes": 1, "in_channels": 1, **{p: 1 for p in block.get("params", [])}}
        layers = next(iter(block["branches"].values()))
        try:
            shape, _, _ = simulate_branch(
                layers,
                (1, 60, 60),
                env,
                _defaults(self.cur),
                1,
                branch="_",
                flat=True,
                local_names=set(),
            )
        except AssertionError:
            return None
        return 60 // shape[1] if len(shape) == 3 and shape[1] == shape[2] else None

    def template(self, name: str) -> None:
        """Flip a template's layout, change its doc, or replace one of its branches."""
        d = self.draw
        block = self.cur["blocks"][name]
        kind = d(st.sampled_from(["branch", "branch", "layout", "doc"]))
        if kind == "layout":
            layout = "branches" if block.get("layout") == "flat" else "flat"
            self.attempt({"blocks": {name: {"layout": layout}}})
        elif kind == "doc":
            self.attempt({"blocks": {name: {"doc": f"variant {self.level}"}}})
        elif name != "aux_classifier" and (stride := self.stride_of(name)) in (1, 2, 3):
            branch = d(st.sampled_from(sorted(block["branches"])))
            style = d(st.sampled_from(["none", "short", "caffe", "mixed"]))
            kinds = param_kinds(block)
            params = [p for p in block.get("params", []) if kinds[p] == "channels"]
            layers = self.g.branch(
                stride,
                params,
                style,
                flat=block.get("layout") == "flat",
                must_conv=True,
                fixed=True,
            )
            self.attempt({"blocks": {name: {"branches": {branch: layers}}}})

    # -- patch edits -----------------------------------------------------------------

    def patch(self) -> None:
        d = self.draw
        for _ in range(d(st.integers(0, 4))):
            kind = d(
                st.sampled_from(
                    [
                        "set",
                        "insert",
                        "unset",
                        "replace",
                        "delete",
                        "set",
                        "insert",
                        "wildcard",
                        "rename",
                    ]
                )
            )
            named = [r for rows in _row_lists(self.cur) for r in rows if "name" in r]
            if kind == "wildcard":
                self.edit(self.wildcard())
            elif named:
                row = d(st.sampled_from(named))
                edit = getattr(self, kind)(row)
                if edit is not None:
                    self.edit(edit)
        self.fix_outputs()

    def block_args(self, op: str) -> dict[str, Any]:
        return self.g.args(self.cur["blocks"][op])

    def set(self, row: dict[str, Any]) -> dict[str, Any] | None:
        d, op = self.draw, row["op"]
        blocks = self.cur.get("blocks") or {}
        choices = ["paper"]
        if op in ("conv", "sepconv"):
            choices += ["out", "bias", "norm", "act", "kernel"]
        elif op in blocks:
            choices += ["args"] if blocks[op].get("params") else []
            choices += ["loss_weight"] if "from" in row else []
        elif op in ("maxpool", "avgpool"):
            choices.append("ceil_mode")
        elif op == "linear":
            choices += ["out", "bias", "act"]
        elif op == "dropout":
            choices.append("p")
        elif op == "lrn":
            choices.append("size")
        choice = d(st.sampled_from(choices))
        value: dict[str, Any]
        if choice == "paper":  # merges into the row's own `paper:`, key by key
            key = d(st.sampled_from(["params", "ops"]))
            value = {"paper": {key: d(st.integers(0, 500))}}
        elif choice == "out":
            conv = op in ("conv", "sepconv")
            value = {"out": self.g.width() if conv or d(st.booleans()) else "$num_classes"}
        elif choice in ("bias", "ceil_mode"):
            value = {choice: d(st.booleans())}
        elif choice == "norm":
            value = {"norm": d(st.sampled_from(["bn", "none"]))}
        elif choice == "act":
            value = {"act": d(st.sampled_from(["relu", "none"]))}
        elif choice == "kernel":
            value = {"kernel": 1, "padding": 0}
        elif choice == "args":
            args = self.block_args(op)
            keep = d(st.lists(st.sampled_from(sorted(args)), min_size=1, unique=True))
            value = {k: args[k] for k in keep}
        elif choice == "loss_weight":
            value = {"loss_weight": d(st.sampled_from([0.3, 1, 0.4]))}
        elif choice == "p":
            value = {"p": d(st.sampled_from([0, 0.2, 0.5]))}
        else:
            value = {"size": d(st.integers(1, 7))}
        return {"row": row["name"], "set": value}

    def unset(self, row: dict[str, Any]) -> dict[str, Any] | None:
        d = self.draw
        keys = [k for k in ("output", "paper", *_UNSETTABLE.get(row["op"], ())) if k in row]
        if "from" not in row:
            keys.append("name")  # the row falls back to `<op><index>`
        if not keys:
            return None
        chosen = d(st.lists(st.sampled_from(keys), min_size=1, max_size=2, unique=True))
        return {
            "row": row["name"],
            "unset": chosen if len(chosen) > 1 or d(st.booleans()) else chosen[0],
        }

    def simple_row(self) -> dict[str, Any]:
        """A row that keeps H and W: dropout, lrn, a 1x1 or padded 3x3 conv, a 3/1/1 pool."""
        d = self.draw
        kind = d(st.sampled_from(["dropout", "conv1", "conv3", "lrn", "pool"]))
        if kind == "dropout":
            return self.g.dropout()
        if kind == "lrn":
            return self.g.lrn()
        if kind == "pool":
            return {"op": "maxpool", "kernel": 3, "stride": 1, "padding": 1}
        k = 1 if kind == "conv1" else 3
        row = {"op": "conv", "out": self.g.width(), "kernel": k}
        if k == 3:
            row["padding"] = 1
        return row

    def replace(self, row: dict[str, Any]) -> dict[str, Any] | None:
        d = self.draw
        blocks = sorted(t for t in self.cur.get("blocks") or {} if t != "aux_classifier")
        if "from" in row:  # an aux head: the same template, new arguments
            new = {"name": row["name"], "from": row["from"], "op": row["op"]}
            new.update({**self.block_args(row["op"]), "loss_weight": 1})
        elif blocks and d(st.integers(0, 3)) == 0:
            op = d(st.sampled_from(blocks))
            new = {"name": row["name"], "op": op, **self.block_args(op)}
        else:
            new = {"name": row["name"], **self.simple_row()}
        return {"row": row["name"], "replace": new}

    def rename(self, row: dict[str, Any]) -> dict[str, Any] | None:
        self.inserted += 1
        return {"row": row["name"], "rename": f"ren{self.level}_{self.inserted}"}

    def delete(self, row: dict[str, Any]) -> dict[str, Any] | None:
        return {"row": row["name"], "delete": True}

    def insert(self, row: dict[str, Any]) -> dict[str, Any] | None:
        d = self.draw
        anchor = d(st.sampled_from(["after", "before"]))
        if "from" in row:  # among the aux heads: another aux head
            taps = [row_name(r, i) for i, r in enumerate(self.cur["layers"])]
            self.inserted += 1
            new = {
                "name": f"aux_ins{self.level}_{self.inserted}",
                "from": d(st.sampled_from(taps)),
                "op": row["op"],
                "loss_weight": 0.5,
                **self.block_args(row["op"]),
            }
            return {anchor: row["name"], "insert": [new]}
        rows = []
        for _ in range(d(st.integers(1, 2))):
            new = self.simple_row()
            if d(st.booleans()):
                self.inserted += 1
                new = {"name": f"ins{self.level}_{self.inserted}", **new}
            rows.append(new)
        return {anchor: row["name"], "insert": rows}

    def wildcard(self) -> dict[str, Any]:
        d = self.draw
        choice = d(st.sampled_from(["paper", "output", "both", "set"]))
        if choice == "set":
            return {"row": "*", "set": {"paper": {"ops": d(_small_float(0.1, 9.0))}}}
        keys = {"paper": ["paper"], "output": "output", "both": ["output", "paper"]}[choice]
        return {"row": "*", "unset": keys}

    def fix_outputs(self) -> None:
        """Declared outputs the edits broke: set to the new value, or unset."""
        d = self.draw
        sim = simulate(self.cur, declared=False)
        rows = [*self.cur["layers"], *(self.cur.get("aux_heads") or [])]
        bad = []
        for row, facts in zip(rows, [*sim.rows, *sim.aux], strict=True):
            if "output" in row and (len(facts.shape) != 3 or row["output"] != _hwc(facts.shape)):
                bad.append((row, facts.shape))
        if not bad:
            return
        if any("name" not in row for row, _ in bad) or d(st.integers(0, 3)) == 0:
            assert self.edit({"row": "*", "unset": d(st.sampled_from([["output"], "output"]))})
            return
        for row, shape in bad:
            if len(shape) == 3 and d(st.booleans()):
                assert self.edit({"row": row["name"], "set": {"output": _hwc(shape)}})
            else:
                assert self.edit({"row": row["name"], "unset": ["output"]})

    def file(self, extends: str) -> Spec:
        self.overrides()
        self.patch()
        assert is_valid(self.cur)
        doc = {"extends": extends, **self.doc}
        if self.edits:
            doc["patch"] = self.edits
        return doc


_CHAIN_PATHS = {
    "side by side": ("base.yaml", "child.yaml", "grandchild.yaml"),
    "folders": ("specs/base.yaml", "variants/child.yaml", "variants/more/grandchild.yaml"),
}


@st.composite
def inherited_specs(draw: Any, *, max_levels: int = 2, **knobs: Any) -> Chain:
    """A base spec drawn by `specs(**knobs)` and 1..max_levels files extending it, each
    the one before (see the module docstring). Valid by construction."""
    base = draw(specs(**knobs))
    paths = _CHAIN_PATHS[draw(st.sampled_from(sorted(_CHAIN_PATHS)))]
    flags = {k: knobs.get(k, True) for k in ("splits", "factorized", "separable")}
    merged = base
    if draw(st.integers(0, 4)) == 0:  # a base may patch its own rows, extending nothing
        own = _Child(
            draw,
            base,
            0,
            knobs.get("max_channels", 24),
            knobs.get("extras", True),
            knobs.get("widths", True),
            **flags,
        )
        own.patch()
        if own.edits:
            base, merged = {**base, "patch": own.edits}, own.cur
    files = [(paths[0], base)]
    for level in range(1, draw(st.integers(1, max_levels)) + 1):
        extends = posixpath.relpath(paths[level - 1], posixpath.dirname(paths[level]) or ".")
        child = _Child(
            draw,
            merged,
            level,
            knobs.get("max_channels", 24),
            knobs.get("extras", True),
            knobs.get("widths", True),
            **flags,
        )
        files.append((paths[level], child.file(extends)))
        merged = child.cur
    chain = Chain(tuple(files))
    assert resolve_chain(chain) == merged  # drawn edit by edit, merged all at once: alike
    return chain
