"""incept docs: docs/specs/ is up to date, pages hold the numbers, --check finds staleness."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from incept.compiler.cli import main
from incept.compiler.pipeline import build_graph
from incept.compiler.views import page

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(p.name for p in (ROOT / "specs").glob("*.yaml"))


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("spec", SPECS)
def test_committed_page_and_diagram_are_up_to_date(spec, monkeypatch):
    monkeypatch.chdir(ROOT)  # pages name specs as make regen does: specs/<file>
    out = f"docs/specs/{spec.removesuffix('.yaml')}.md"
    result = run("docs", f"specs/{spec}", "-o", out, "--check")
    assert result.exit_code == 0, result.output


def test_page_holds_totals_chain_and_deltas(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs/specs/googlenet.md").read_text()
    assert "| without aux heads | 6,998,552 | 1,582,671,872 (1.58 G) |" in text
    assert "| with aux heads (training) | 13,378,280 |" in text
    assert "![googlenet, one box per row](googlenet.svg)" in text
    assert "| inception_3a | inception |  | 28x28x256 | 2 | 64 | 96 | 128 | 16 | 32 | 32 |" in text
    assert (
        "| inception_3a | 162,816 | 163,696 | +0.5% | 128,000,000 | 128,049,152 | +0.0% |" in text
    )
    lite = (ROOT / "docs/specs/googlenet-fmnist-lite.md").read_text()
    assert "`specs/googlenet-fmnist-lite.yaml` is built from 3 base spec(s)" in lite
    assert "4. `specs/googlenet.yaml` (base: `googlenet`)" in lite
    assert page.chain("specs/googlenet-fmnist-lite.yaml")[1][0] == "specs/googlenet-fmnist.yaml"


def test_page_is_deterministic():
    graph = build_graph(ROOT / "specs" / "inception-v3.yaml")
    assert page.page(graph, "x.svg") == page.page(graph, "x.svg")


def test_check_finds_a_stale_page_and_a_stale_diagram(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    md, svg = tmp_path / "g.md", tmp_path / "g.svg"
    shutil.copy(ROOT / "docs/specs/googlenet.md", md)
    shutil.copy(ROOT / "docs/specs/googlenet.svg", svg)
    # the page names its own SVG: g.svg here, googlenet.svg in docs/specs
    md.write_text(md.read_text().replace("(googlenet.svg)", "(g.svg)"))
    assert run("docs", "specs/googlenet.yaml", "-o", str(md), "--check").exit_code == 0
    svg.write_text(svg.read_text().replace("drawn from DOT sha256 ", "drawn from DOT sha256 0"))
    result = run("docs", "specs/googlenet.yaml", "-o", str(md), "--check")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{svg}: stale: ")
    md.write_text(md.read_text() + "edited\n")
    result = run("docs", "specs/googlenet.yaml", "-o", str(md), "--check")
    assert result.exit_code == 1 and result.stderr.startswith(f"{md}: stale: ")


def test_bad_output_and_missing_dot_write_nothing(tmp_path, monkeypatch):
    result = run("docs", str(ROOT / "specs/googlenet.yaml"), "-o", str(tmp_path / "g.html"))
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"{tmp_path / 'g.html'}: error[flag]: -o must name a Markdown file ending in .md or be -\n"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("docs", str(ROOT / "specs/googlenet.yaml"), "-o", str(tmp_path / "g.md"))
    assert result.exit_code == 2 and "apt-get install graphviz" in result.stderr
    assert list(tmp_path.iterdir()) == []
