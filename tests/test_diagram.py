"""incept diagram: the DOT parses, holds every IR node (or every row), renders, and
fails in one line without the `dot` program or with a bad -o."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pydot
import pytest
from click.testing import CliRunner

from incept.compiler.cli import main
from incept.compiler.pipeline import build_graph
from incept.compiler.views import diagram

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
HAS_DOT = shutil.which("dot") is not None


def parse(source: str) -> pydot.Dot:
    (graph,) = pydot.graph_from_dot_data(source)
    return graph


def nodes_and_clusters(g: pydot.Dot) -> tuple[dict[str, pydot.Node], list[str]]:
    """Every node defined anywhere in the graph, and every cluster's name."""
    nodes: dict[str, pydot.Node] = {}
    clusters: list[str] = []
    todo = [g]
    while todo:
        sub = todo.pop()
        for node in sub.get_nodes():
            if node.get_label() is not None:
                nodes[node.get_name().strip('"')] = node
        for child in sub.get_subgraphs():
            clusters.append(child.get_name().strip('"'))
            todo.append(child)
    return nodes, clusters


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_expanded_has_every_node_edge_and_block(spec):
    graph = build_graph(spec)
    g = parse(diagram.dot_source(graph))
    nodes, clusters = nodes_and_clusters(g)
    assert set(nodes) == set(graph.nodes)
    edges = set()
    todo = [g]
    while todo:
        sub = todo.pop()
        edges |= {
            (e.get_source().strip('"'), e.get_destination().strip('"'))
            for e in sub.get_edges()
            if e.get("style") != "invis"
        }
        todo += sub.get_subgraphs()
    assert edges == {(i, n.name) for n in graph.nodes.values() for i in n.inputs}
    blocks = [r.name for r in graph.rows if r.template] + [r.name for r in graph.aux_heads]
    assert {f"cluster_{b}" for b in blocks} <= set(clusters)
    for node in graph.nodes.values():  # op, kernel/stride and output size on every box
        label = nodes[node.name].get_label()
        assert diagram.size(node.shape) in label
        if node.op != "concat":
            assert diagram.op_text(node) in label or node.layer == diagram.op_text(node)


def test_labels_read_like_table_1():
    graph = build_graph(ROOT / "specs" / "googlenet.yaml")
    nodes, _ = nodes_and_clusters(parse(diagram.dot_source(graph)))
    assert nodes["conv1"].get_label() == (
        '<<b>conv1</b><br/>conv 7x7/2<br/><font color="#555555">112x112x64</font>>'
    )
    assert "max pool 3x3/1" in nodes["inception_3a_pool"].get_label()
    assert nodes["inception_3a_output"].get_label() == "<concat<br/>28x28x256>"
    assert "aux head on inception_4a, loss x0.3" in diagram.dot_source(graph)


@pytest.mark.parametrize("spec", ["googlenet.yaml", "inception-v3.yaml"])
def test_collapsed_has_one_box_per_row_with_table_1_columns(spec):
    graph = build_graph(ROOT / "specs" / spec)
    nodes, _ = nodes_and_clusters(parse(diagram.dot_source(graph, collapse=True)))
    rows = [*graph.rows, *graph.aux_heads]
    assert set(nodes) == {graph.input.name} | {r.name for r in rows}
    if spec == "googlenet.yaml":
        label = nodes["inception_3a"].get_label()
        for value in ("#1x1", "#3x3 red", "pool proj", ">64<", ">96<", ">128<", ">16<", ">32<"):
            assert value in label
        assert "28x28x256 · 163,696 params · 128.0M MACs" in label


def test_dot_source_is_deterministic():
    a = diagram.dot_source(build_graph(ROOT / "specs" / "inception-v3.yaml"))
    b = diagram.dot_source(build_graph(ROOT / "specs" / "inception-v3.yaml"))
    assert a == b


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def no_dot_path(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_dot_output_needs_no_dot_program(tmp_path, monkeypatch):
    no_dot_path(tmp_path, monkeypatch)
    out = tmp_path / "g.dot"
    result = run("diagram", str(ROOT / "specs" / "googlenet.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    graph = build_graph(ROOT / "specs" / "googlenet.yaml")
    assert out.read_text() == diagram.dot_source(graph)


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_missing_dot_is_one_line_with_the_install_hint(tmp_path, monkeypatch, suffix):
    no_dot_path(tmp_path, monkeypatch)
    out = tmp_path / f"g{suffix}"
    result = run("diagram", str(ROOT / "specs" / "googlenet.yaml"), "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("dot: error[tool]: the Graphviz `dot` program is not installed")
    assert "apt-get install graphviz" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


@pytest.mark.parametrize("output", ["-", "g.dot", "g.svg"])
def test_missing_graphviz_package_is_one_line_with_the_extra(tmp_path, monkeypatch, output):
    """Without incept[diagram] even the DOT text (-o -, .dot) cannot be written: one
    line naming the extra, not an internal error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` fails
    monkeypatch.delitem(sys.modules, "incept.compiler.views.diagram", raising=False)
    result = run("diagram", str(ROOT / "specs" / "googlenet.yaml"), "-o", output)
    assert result.exit_code == 2
    assert result.stderr == (
        "incept: error[tool]: the graphviz Python package is not installed: "
        "pip install 'incept[diagram]'\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_output_suffix_and_bad_spec(tmp_path):
    result = run("diagram", str(ROOT / "specs" / "googlenet.yaml"), "-o", str(tmp_path / "g.pdf"))
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"{tmp_path / 'g.pdf'}: error[flag]: -o must end in .svg, .png or .dot (got '.pdf')\n"
    )
    result = run("diagram", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "g.dot"))
    assert result.exit_code == 2 and "error[io]" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HAS_DOT, reason="needs Graphviz's dot (apt-get install graphviz)")
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n"), (".svg", b"<?xml")])
def test_renders_png_and_svg(tmp_path, suffix, magic):
    out = tmp_path / f"v3{suffix}"
    result = run("diagram", str(ROOT / "specs" / "inception-v3.yaml"), "--collapse", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_opt_draws_the_optimized_graph():
    """--opt fuse_siblings: the DOT of the fused graph, with each block's fused 1x1."""
    spec = ROOT / "specs" / "googlenet.yaml"
    result = run("diagram", str(spec), "-o", "-", "--opt", "fuse_siblings")
    assert result.exit_code == 0, result.output
    fused = build_graph(spec, None, ("fuse_siblings",))
    assert result.stdout == diagram.dot_source(fused)
    assert result.stdout != diagram.dot_source(build_graph(spec))
    assert result.stdout.count("_fused_1x1") >= 9  # one per Inception block at least
    assert "one box per layer, optimized (fuse_siblings)" in result.stdout
