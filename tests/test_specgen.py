"""Property tests: every spec `specgen` draws compiles, and the IR agrees with the
independent oracle's simulation (oracle.py) (shapes, parameters and MACs, row by row);
so does every inherited chain of spec files, whose merged data also equals the
generator's own reading of the `extends:` / `patch:` rules."""

from __future__ import annotations

import oracle
import specgen
from hypothesis import given

from incept.compiler.pipeline import build_graph
from incept.compiler.spec.load import load_spec


def assert_agrees(graph, spec):
    """The IR of `spec` against `oracle.simulate(spec)`, row by row and in total."""
    expected = oracle.simulate(spec)

    assert graph.output.shape == expected.rows[-1].shape
    assert graph.params() > 0
    assert graph.aux_logits == spec.get("aux_logits", False)
    assert [r.name for r in graph.rows] == [r.name for r in expected.rows]
    assert [r.name for r in graph.aux_heads] == [r.name for r in expected.aux]
    pairs = zip((*graph.rows, *graph.aux_heads), (*expected.rows, *expected.aux), strict=True)
    for row, want in pairs:
        nodes = graph.row_nodes(row)
        got = (
            graph.nodes[row.output].shape,
            sum(n.params for n in nodes),
            sum(n.macs for n in nodes),
        )
        assert got == (want.shape, want.params, want.macs), row.name
    for head in graph.aux_heads:
        assert graph.nodes[head.output].shape == (spec["num_classes"],)
    for aux in (False, True):
        assert graph.params(aux=aux) == expected.params(aux=aux)
        assert graph.macs(aux=aux) == expected.macs(aux=aux)


@given(spec=specgen.specs())
def test_generated_specs_compile(spec, tmp_path_factory):
    path = specgen.write_spec(spec, tmp_path_factory.mktemp("spec") / "spec.yaml")
    assert specgen.read_spec(path) == spec  # the YAML round-trips exactly
    graph = build_graph(path)
    assert graph.output.shape == (spec["num_classes"],)
    assert_agrees(graph, spec)


@given(chain=specgen.inherited_specs())
def test_inherited_specs_compile(chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    leaf = specgen.write_chain(chain, root)
    for rel, data in chain.files:
        assert specgen.read_spec(root / rel) == data
    merged = oracle.resolve_chain(chain)
    _, source = load_spec(leaf)
    assert source.data == merged  # compiler/spec/inherit.py against the oracle's rules
    assert_agrees(build_graph(leaf), merged)


def _layers(layers):
    for layer in layers:
        yield layer
        for branch in layer.get("branches", {}).values():  # a split's sub-branches
            yield from _layers(branch)


def _all_layers(spec):
    yield from spec["layers"]
    for block in (spec.get("blocks") or {}).values():
        for branch in block["branches"].values():
            yield from _layers(branch)


@given(spec=specgen.specs())
def test_generated_specs_stay_small(spec):
    size = spec["input"]["size"]
    assert all(15 <= s <= 64 for s in ([size] if isinstance(size, int) else size))
    assert 1 <= spec["input"]["channels"] <= 4
    for layer in _all_layers(spec):
        if layer["op"] in ("conv", "linear") and isinstance(layer["out"], int):
            assert layer["out"] <= 24
    blocks = spec.get("blocks") or {}
    for row in [*spec["layers"], *spec.get("aux_heads", [])]:
        if row["op"] in blocks:
            for param, kind in oracle.param_kinds(blocks[row["op"]]).items():
                if kind == "channels":
                    assert 1 <= row[param] <= 24
                else:  # a residual's scale or activation
                    assert row[param] in (specgen.SCALES if kind == "scale" else oracle.ACTS)
        assert 1 <= row.get("repeat", 1) <= 3
    assert spec.get("width_multiplier", 1) <= 1.5


@given(
    spec=specgen.specs(
        max_stem=0,
        max_blocks=0,
        max_aux=0,
        extras=False,
        splits=False,
        factorized=False,
        layouts=False,
        widths=False,
    )
)
def test_knobs_narrow_the_generator(spec):
    assert "aux_heads" not in spec and "width_multiplier" not in spec
    assert not any(layer["op"] in ("lrn", "conv") for layer in spec["layers"])
    assert spec["layers"][-1]["op"] == "linear"
    assert all("layout" not in block for block in (spec.get("blocks") or {}).values())
    assert not any(layer["op"] == "split" for layer in _all_layers(spec))


def test_merge_and_patch_rules():
    """The oracle's own reading of the rules on a hand-made case."""
    base = {
        "name": "b",
        "defaults": {"conv": {"bias": True, "act": "relu"}},
        "blocks": {"t": {"params": ["a"], "branches": {"x": [1], "y": [2]}}},
        "layers": [
            {"name": "c", "op": "conv", "paper": {"params": 1, "ops": 2}},
            {"op": "flatten"},
        ],
        "aux_heads": [{"name": "aux", "from": "c", "op": "t", "a": 1}],
    }
    child = {
        "defaults": {"conv": {"bias": False}},
        "blocks": {"t": {"branches": {"y": [3, 4]}}},
        "patch": [
            {"row": "c", "set": {"paper": {"ops": 5}}},
            {"after": "c", "insert": [{"name": "d", "op": "dropout"}]},
            {"row": "aux", "unset": "a"},
            {"row": "*", "unset": ["paper"]},
            {"before": "aux", "insert": [{"name": "aux0"}]},
            {"row": "d", "replace": {"name": "d", "op": "lrn"}},
            {"row": "c", "rename": "c2"},
        ],
    }
    chain = oracle.Chain((("base.yaml", base), ("child.yaml", {"extends": "base.yaml", **child})))
    merged = oracle.resolve_chain(chain)
    assert merged["defaults"] == {"conv": {"bias": False, "act": "relu"}}
    assert merged["blocks"]["t"] == {"params": ["a"], "branches": {"x": [1], "y": [3, 4]}}
    assert merged["layers"] == [
        {"name": "c2", "op": "conv"},
        {"name": "d", "op": "lrn"},
        {"op": "flatten"},
    ]
    # the aux head tapping c follows the rename
    assert merged["aux_heads"] == [{"name": "aux0"}, {"name": "aux", "from": "c2", "op": "t"}]
    assert "patch" not in merged and "extends" not in merged
    assert base["layers"][0]["paper"] == {"params": 1, "ops": 2}  # inputs untouched


def test_scale_rounds_half_up():
    assert [oracle.scale(c, 0.5) for c in (1, 2, 3, 5)] == [1, 1, 2, 3]
    assert [oracle.scale(c, 0.25) for c in (1, 2, 6)] == [1, 1, 2]
    assert oracle.scale(3, 1.5) == 5 and oracle.scale(7, 1) == 7
