"""Independent oracles for the property tests: on purpose, they re-derive what the
compiler computes, from the spec data alone, importing nothing from incept but the spec
language's defaults.

- `simulate(spec)`: every row's and aux head's shape, parameter count and MACs (the
  oracle for compiler/ir/ops.py and the `infer` pass; pooled sizes are counted window
  by window, not with ops.pool_out's closed form). It covers every layer op (conv with
  `groups`, `sepconv`: depthwise then 1x1, `bn` with or without its learned scale,
  `relu`) and residual templates: branches concatenated, `after:` layers, then added to
  the shortcut (the input itself, or its own layers), whose two sides must have one
  shape; `$in_channels` is the channels entering the row, never scaled; a `repeat: N`
  row is N instances, each keeping its input's shape, so N times one's parameters and
  MACs; a residual's `scale` / `act` may be block arguments (a number, relu/none), not
  scaled by the width. It also asserts what the compiler checks (unique names, known
  references and taps, block arguments, declared outputs, `split` only under
  `layout: flat` and only in branches, groups dividing both channel counts), so
  `is_valid()` can vet a drawn edit.
- `merge()`, `apply_patch()`, `resolve_chain()`: the `extends:` / `patch:` rules (the
  oracle for compiler/spec/inherit.py, which they do not import).

specgen.py draws specs and uses these to keep what it draws valid; where only a value is
needed and no oracle is the point (the defaults, the list of layer ops), it reads the
compiler's own.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from incept.compiler.ir.lower import GLOBALS
from incept.compiler.limits import MAX_CHANNELS
from incept.compiler.spec.schema import PRIMITIVES, Defaults

Shape = tuple[int, ...]
Spec = dict[str, Any]

#: The schema's defaults, used where a spec leaves `defaults:` out.
SCHEMA_DEFAULTS: dict[str, dict[str, Any]] = Defaults().model_dump()
PRIMITIVE_OPS = tuple(PRIMITIVES)


def pool_out(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Pooled size, windows counted one by one: window t starts at t * stride in the
    padded input; floor mode keeps it while it fits, ceil mode while it starts before
    the padded end would need another and inside the input or its left padding."""
    count = 0
    while True:
        start = count * stride
        if ceil_mode:
            kept = start < size + pad and start + kernel < size + 2 * pad + stride
        else:
            kept = start + kernel <= size + 2 * pad
        if not kept:
            return count
        count += 1


def _hwc(shape: Shape) -> str:
    c, h, w = shape
    return f"{h}x{w}x{c}"


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


def _resolve(value: int | str, env: dict[str, Any]) -> int:
    if isinstance(value, int):
        return value
    assert value[1:] in env, f"unknown reference {value}"
    found = env[value[1:]]
    assert type(found) is int, f"{value} is not a channel count"
    return found


def _bn_params(channels: int, scale: bool | None, defaults: dict[str, dict[str, Any]]) -> int:
    """Beta, and gamma unless the scale is off (`scale: false`, else defaults.bn.scale)."""
    scale = defaults["bn"]["scale"] if scale is None else scale
    return channels * (2 if scale else 1)


def scale(channels: int, width: float) -> int:
    """`width_multiplier`'s rule, max(1, floor(c * w + 1/2)), in exact arithmetic."""
    if width == 1:
        return channels
    return max(1, math.floor(Fraction(str(width)) * channels + Fraction(1, 2)))


def simulate_layer(
    layer: dict[str, Any],
    shape: Shape,
    env: dict[str, Any],
    defaults: dict[str, dict[str, Any]],
    width: float = 1,
) -> tuple[Shape, int, int]:
    """One primitive layer: (output shape, parameters, MACs). Asserts validity.

    `env` holds the globals and the block's (already scaled) arguments; a literal conv
    `out` scales by `width` here, a linear `out` never does."""
    op = layer["op"]
    if op in ("conv", "sepconv"):
        assert len(shape) == 3, (layer, shape)
        c, h, w = shape
        out = layer["out"]
        out = scale(out, width) if isinstance(out, int) else _resolve(out, env)
        (kh, kw), (sh, sw) = _pair(layer["kernel"]), _pair(layer.get("stride", 1))
        ph, pw = _pair(layer.get("padding", 0))
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        assert oh >= 1 and ow >= 1, (layer, shape)
        bias = layer.get("bias")
        bias = defaults["conv"]["bias"] if bias is None else bias
        norm = layer.get("norm") or defaults["conv"]["norm"]
        extra = (out if bias else 0) + (_bn_params(out, None, defaults) if norm == "bn" else 0)
        if op == "sepconv":  # a kh x kw filter per input channel, then a 1x1 to `out`
            assert "groups" not in layer, layer
            weights = c * kh * kw + c * out
            return (out, oh, ow), weights + extra, weights * oh * ow
        groups = layer.get("groups", 1)
        assert c % groups == 0 and out % groups == 0, ("groups", layer, shape)
        weights = out * (c // groups) * kh * kw
        return (out, oh, ow), weights + extra, weights * oh * ow
    if op == "bn":
        assert len(shape) == 3, (layer, shape)
        return shape, _bn_params(shape[0], layer.get("scale"), defaults), 0
    if op == "relu":
        return shape, 0, 0
    if op in ("maxpool", "avgpool"):
        assert len(shape) == 3, (layer, shape)
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
        assert len(shape) == 3, (layer, shape)
        return (shape[0], *_pair(layer.get("size", 1))), 0, 0
    if op == "lrn":
        assert len(shape) == 3, (layer, shape)
        return shape, 0, 0
    if op == "dropout":
        return shape, 0, 0
    if op == "flatten":
        assert len(shape) == 3, (layer, shape)
        return (math.prod(shape),), 0, 0
    if op == "linear":
        assert len(shape) == 1, (layer, shape)
        assert layer["out"] != "$in_channels", layer  # a conv's width only
        out = _resolve(layer["out"], env)
        weights = out * shape[0]
        return (out,), weights + (out if layer.get("bias", True) else 0), weights
    raise AssertionError(f"unknown op {op!r}")


def _concat(ends: list[Shape], where: Any) -> Shape:
    """Branch ends concatenated on channels (one end: itself)."""
    if len(ends) == 1:
        return ends[0]
    assert all(len(e) == 3 and e[1:] == ends[0][1:] for e in ends), (where, ends)
    return (sum(e[0] for e in ends), *ends[0][1:])


def simulate_branch(
    layers: list[dict[str, Any]],
    shape: Shape,
    env: dict[str, Any],
    defaults: dict[str, dict[str, Any]],
    width: float,
    *,
    branch: str,
    flat: bool,
    local_names: set[str],
) -> tuple[Shape, int, int]:
    """A template branch (or a split's sub-branch) applied to `shape`.

    Local names (`name`, else `<branch>_<index>`) must be unique in the template;
    a split needs `layout: flat` and concatenates its sub-branches on channels."""
    assert layers, branch
    params = macs = 0
    for j, layer in enumerate(layers):
        local = layer.get("name") or f"{branch}_{j}"
        assert local not in local_names, f"two layers named {local!r}"
        local_names.add(local)
        if layer["op"] == "split":
            assert flat, "a split needs layout: flat"
            assert len(layer["branches"]) >= 2, layer
            ends = []
            for sub, sublayers in layer["branches"].items():
                end, p, m = simulate_branch(
                    sublayers,
                    shape,
                    env,
                    defaults,
                    width,
                    branch=sub,
                    flat=flat,
                    local_names=local_names,
                )
                ends.append(end)
                params, macs = params + p, macs + m
            shape = _concat(ends, local)
        else:
            shape, p, m = simulate_layer(layer, shape, env, defaults, width)
            params, macs = params + p, macs + m
    return shape, params, macs


_ROW_KEYS = ("op", "name", "output", "paper", "from", "loss_weight", "repeat")
ACTS = ("relu", "none")


def param_kinds(block: dict[str, Any]) -> dict[str, str]:
    """Each template parameter's kind: `scale` or `act` where the residual uses it so,
    else `channels`."""
    kinds = dict.fromkeys(block.get("params", []), "channels")
    res = block.get("residual")
    if res is not None:
        for key, kind in (("scale", "scale"), ("act", "act")):
            value = res.get(key)
            if isinstance(value, str) and value.startswith("$"):
                assert value[1:] in kinds, f"unknown reference {value}"
                kinds[value[1:]] = kind
    return kinds


def _block_env(
    spec: Spec, row: dict[str, Any], block: dict[str, Any], width: float
) -> dict[str, Any]:
    """The globals and the row's arguments: channel counts scaled, scales and acts not."""
    env: dict[str, Any] = {g: spec[g] for g in GLOBALS}
    args = {k: v for k, v in row.items() if k not in _ROW_KEYS}
    kinds = param_kinds(block)
    assert sorted(args) == sorted(kinds), (row, block.get("params"))
    for key, value in args.items():
        if kinds[key] == "act":
            assert value in ACTS, (row, key)
            env[key] = value
        elif kinds[key] == "scale":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            assert number and 0 < value <= MAX_CHANNELS, (row, key)
            env[key] = float(value)
        else:
            assert type(value) is int and 1 <= value <= MAX_CHANNELS, (row, key)
            env[key] = scale(value, width)
    return env


def simulate_block(
    block: dict[str, Any],
    shape: Shape,
    env: dict[str, Any],
    defaults: dict[str, dict[str, Any]],
    width: float,
) -> tuple[Shape, int, int]:
    """One instance of a template: branches concatenated, then `after:`, then the
    residual add (identity or projected shortcut; both sides of one shape)."""
    env = {**env, "in_channels": shape[0]} if len(shape) == 3 else dict(env)
    flat = block.get("layout") == "flat"
    ends, params, macs, local_names = [], 0, 0, set()
    for bname, layers in block["branches"].items():
        end, p, m = simulate_branch(
            layers, shape, env, defaults, width, branch=bname, flat=flat, local_names=local_names
        )
        ends.append(end)
        params, macs = params + p, macs + m
    out = _concat(ends, "branches")
    extra = [("after", block.get("after") or [])]
    res = block.get("residual")
    shortcut = "identity" if res is None else res.get("shortcut", "identity")
    if shortcut != "identity":
        assert isinstance(shortcut, list) and shortcut, shortcut
    short = shape
    for part, layers in (*extra, ("shortcut", [] if shortcut == "identity" else shortcut)):
        if not layers:
            continue
        # A split belongs in a branch: `flat=False` makes the oracle refuse one here.
        end, p, m = simulate_branch(
            layers,
            out if part == "after" else shape,
            env,
            defaults,
            width,
            branch=part,
            flat=False,
            local_names=local_names,
        )
        params, macs = params + p, macs + m
        if part == "after":
            out = end
        else:
            short = end
    if res is not None:
        assert out == short, ("residual", out, short)  # the two sides of the add
        for key, kind in (("scale", "scale"), ("act", "act")):
            value = res.get(key)
            if isinstance(value, str) and value.startswith("$"):
                assert value[1:] in env, f"unknown reference {value}"
            elif value is not None and kind == "act":
                assert value in ACTS, res
            elif value is not None:
                assert not isinstance(value, bool) and 0 < value <= MAX_CHANNELS, res
    return out, params, macs


def simulate_row(
    spec: Spec, row: dict[str, Any], shape: Shape, defaults: dict[str, dict[str, Any]]
) -> tuple[Shape, int, int]:
    """A primitive or block row applied to `shape` (a repeated block: N instances)."""
    width = spec.get("width_multiplier", 1)
    block = (spec.get("blocks") or {}).get(row["op"])
    if block is None:
        assert row["op"] in PRIMITIVE_OPS, f"unknown op {row['op']!r}"
        assert "repeat" not in row, row
        env: dict[str, Any] = {g: spec[g] for g in GLOBALS}
        if len(shape) == 3:
            env["in_channels"] = shape[0]
        return simulate_layer(row, shape, env, defaults, width)
    env = _block_env(spec, row, block, width)
    repeat = row.get("repeat", 1)
    assert type(repeat) is int and repeat >= 1, row
    assert repeat == 1 or "from" not in row, "an aux head cannot repeat"
    out, params, macs = simulate_block(block, shape, env, defaults, width)
    assert repeat == 1 or out == shape, ("repeat", row, shape, out)
    return out, repeat * params, repeat * macs


def row_name(row: dict[str, Any], index: int) -> str:
    """The compiler's rule: the row's `name`, else `<op><index>`."""
    return row.get("name") or f"{row['op']}{index}"


def _check_declared(row: dict[str, Any], name: str, shape: Shape) -> None:
    if "output" in row:
        assert len(shape) == 3 and row["output"] == _hwc(shape), (name, row["output"], shape)


def simulate(spec: Spec, *, declared: bool = True) -> Simulation:
    """Every row's and aux head's facts, computed from the spec data alone.

    Asserts the spec is valid; `declared=False` skips the rows' declared outputs."""
    defaults = _defaults(spec)
    size = _pair(spec["input"]["size"])
    shape: Shape = (spec["input"]["channels"], *size)
    assert spec["layers"], "no layers"
    rows, outputs = [], {}
    for i, row in enumerate(spec["layers"]):
        shape, p, m = simulate_row(spec, row, shape, defaults)
        facts = RowFacts(row_name(row, i), shape, p, m)
        assert facts.name not in outputs, f"two rows named {facts.name!r}"
        if declared:
            _check_declared(row, facts.name, shape)
        rows.append(facts)
        outputs[facts.name] = shape
    aux = []
    for head in spec.get("aux_heads") or []:
        assert head["op"] in (spec.get("blocks") or {}), head
        assert head["name"] not in outputs and all(a.name != head["name"] for a in aux), head
        assert head["from"] in outputs, f"aux head taps unknown row {head['from']!r}"
        out, p, m = simulate_row(spec, head, outputs[head["from"]], defaults)
        if declared:
            _check_declared(head, head["name"], out)
        aux.append(RowFacts(head["name"], out, p, m))
    return Simulation(rows, aux)


def is_valid(spec: Spec, *, declared: bool = True) -> bool:
    """Whether `simulate` accepts the spec (the compiler should then accept it too)."""
    try:
        simulate(spec, declared=declared)
    except AssertionError:
        return False
    return True


# -- inheritance: the oracle for `extends:` and `patch:` ---------------------------------


def merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key, recursively; any other value replaces the base's."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _row_lists(spec: Spec) -> list[list[dict[str, Any]]]:
    return [spec[k] for k in ("layers", "aux_heads") if isinstance(spec.get(k), list)]


def _keys(arg: str | list[str]) -> list[str]:
    return arg if isinstance(arg, list) else [arg]


def apply_patch(spec: Spec, edits: list[dict[str, Any]]) -> Spec:
    """`edits` applied in order to a copy of `spec`'s rows (`layers`, then `aux_heads`),
    each found by its explicit `name`; `row: '*'` sets or unsets keys on every row."""
    spec = copy.deepcopy(spec)
    for edit in edits:
        (op,) = [k for k in ("set", "unset", "replace", "delete", "rename", "insert") if k in edit]
        (anchor,) = [k for k in ("row", "before", "after") if k in edit]
        arg = edit[op]
        if edit[anchor] == "*":
            for rows in _row_lists(spec):
                for i, row in enumerate(rows):
                    if op == "set":
                        rows[i] = merge(row, arg)
                    else:
                        for key in _keys(arg):
                            row.pop(key, None)
            continue
        found = [
            (rows, i)
            for rows in _row_lists(spec)
            for i, row in enumerate(rows)
            if row.get("name") == edit[anchor]
        ]
        assert found, f"no row named {edit[anchor]!r}"
        rows, i = found[0]
        if op == "set":
            rows[i] = merge(rows[i], arg)
        elif op == "unset":
            for key in _keys(arg):
                assert key in rows[i], (edit, rows[i])
                del rows[i][key]
        elif op == "replace":
            rows[i] = copy.deepcopy(arg)
        elif op == "rename":  # aux heads that tap the row follow it
            assert not any(r.get("name") == arg for rs in _row_lists(spec) for r in rs), edit
            for head in spec.get("aux_heads") or []:
                if head.get("from") == rows[i]["name"]:
                    head["from"] = arg
            rows[i]["name"] = arg
        elif op == "delete":
            assert arg is True, edit
            del rows[i]
        else:
            at = i + 1 if anchor == "after" else i
            rows[at:at] = copy.deepcopy(arg)
    return spec


@dataclass(frozen=True)
class Chain:
    """A spec made of several files: (path relative to a root folder, data) pairs, the
    base first; every later file `extends` the one before it."""

    files: tuple[tuple[str, Spec], ...]

    @property
    def leaf(self) -> str:
        return self.files[-1][0]


def resolve_chain(chain: Chain) -> Spec:
    """The leaf spec with every base merged in and every patch applied, as plain data."""
    merged: Spec | None = None
    for _, data in chain.files:
        data = copy.deepcopy(data)
        edits = data.pop("patch", None)
        data.pop("extends", None)
        merged = data if merged is None else merge(merged, data)
        if edits is not None:
            merged = apply_patch(merged, edits)
    assert merged is not None
    return merged
