"""Property tests: every spec `specgen` draws compiles, and the IR agrees with the
generator's own reference simulation (shapes, parameters and MACs, row by row)."""

from __future__ import annotations

import specgen
from hypothesis import given

from incept.compiler.pipeline import build_graph


@given(spec=specgen.specs())
def test_generated_specs_compile(spec, tmp_path_factory):
    path = specgen.write_spec(spec, tmp_path_factory.mktemp("spec") / "spec.yaml")
    assert specgen.read_spec(path) == spec  # the YAML round-trips exactly

    graph = build_graph(path)
    expected = specgen.simulate(spec)

    assert graph.output.shape == (spec["num_classes"],)
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
    assert graph.params(aux=True) == expected.params(aux=True)
    assert graph.macs() == expected.macs()


def _layers(spec):
    yield from spec["layers"]
    for block in (spec.get("blocks") or {}).values():
        for branch in block["branches"].values():
            yield from branch


@given(spec=specgen.specs())
def test_generated_specs_stay_small(spec):
    size = spec["input"]["size"]
    assert all(15 <= s <= 64 for s in ([size] if isinstance(size, int) else size))
    assert 1 <= spec["input"]["channels"] <= 4
    for layer in _layers(spec):
        if layer["op"] in ("conv", "linear") and isinstance(layer["out"], int):
            assert layer["out"] <= 24
    blocks = spec.get("blocks") or {}
    for row in [*spec["layers"], *spec.get("aux_heads", [])]:
        for param in blocks.get(row["op"], {}).get("params", []):
            assert 1 <= row[param] <= 24


@given(spec=specgen.specs(max_stem=0, max_blocks=0, max_aux=0, extras=False))
def test_knobs_narrow_the_generator(spec):
    assert "aux_heads" not in spec
    assert not any(layer["op"] in ("lrn", "conv") for layer in spec["layers"])
    assert spec["layers"][-1]["op"] == "linear"
