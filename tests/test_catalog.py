"""Specs by name (compiler/spec/catalog.py): the shipped models, INCEPT_PATH, `extends:`
by name, the commands' spec arguments and `incept list`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SPECS
from test_inherit import BASE, write

from incept.compiler.cli import main
from incept.compiler.errors import SpecError
from incept.compiler.pipeline import build_graph
from incept.compiler.spec import catalog
from incept.compiler.views.page import chain

SHIPPED = sorted(p.stem for p in SPECS.glob("*.yaml"))


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder outside the repository, with no INCEPT_PATH."""
    monkeypatch.delenv(catalog.ENV, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_shipped_models_are_the_specs_folder(elsewhere):
    assert catalog.shipped_folder() == SPECS
    assert len(SHIPPED) == 18
    assert list(catalog.models()) == SHIPPED
    assert list(catalog.models("fmnist")) == [
        "googlenet-fmnist",
        "googlenet-fmnist-lite",
        "inception-resnet-v1-fmnist",
    ]
    assert list(catalog.models("inception-v?")) == ["inception-v2", "inception-v3", "inception-v4"]
    assert catalog.find("googlenet") == SPECS / "googlenet.yaml"


@pytest.mark.parametrize(
    "text, name",
    [
        ("googlenet", True),
        ("googlenet-fmnist-lite", True),
        ("my_net.v2", True),
        ("googlenet.yaml", False),
        ("googlenet.YML", False),
        ("specs/googlenet", False),
        ("../googlenet", False),
        ("", False),
        ("-googlenet", False),
    ],
)
def test_what_reads_as_a_name(text, name):
    assert catalog.is_name(text) is name


def test_commands_take_a_name(elsewhere):
    result = run("check", "googlenet")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "googlenet: ok, 6,998,552 params (13,378,280 with aux heads), 1.58 GMACs\n"
    )
    table = json.loads(run("table", "inception-v3", "--format", "json").stdout)
    assert table["total"]["params"] == 23_834_568
    assert table["spec"] == str(SPECS / "inception-v3.yaml")
    diff = run("diff", "googlenet", "googlenet-bn", "--format", "json")
    assert json.loads(diff.stdout)["total_b"]["params"] == 7_005_832


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_compile_by_name_writes_the_committed_module(elsewhere, backend):
    """Four bases deep (lite -> fmnist -> bn -> googlenet), from another folder: the output
    is named after the spec's file and is byte for byte the committed generated module."""
    result = run("compile", "googlenet-fmnist-lite", "-b", backend)
    assert result.exit_code == 0, result.output
    out = elsewhere / "generated" / f"googlenet_fmnist_lite_{backend}.py"
    assert out.read_bytes() == (ROOT / "generated" / out.name).read_bytes()


def test_an_unknown_name_is_one_line_with_the_closest(elsewhere):
    result = run("compile", "googlenett", "-b", "torch")
    assert result.exit_code == 2
    assert result.stderr == (
        "googlenett:1:1: error[io]: not a file, and no model named 'googlenett' in INCEPT_PATH "
        "or the shipped specs (closest: googlenet, googlenet-bn, googlenet-fmnist)\n"
    )
    assert list(elsewhere.iterdir()) == []
    result = run("check", "fmnist")
    closest = "(closest: googlenet-fmnist, googlenet-fmnist-lite, inception-resnet-v1-fmnist)"
    assert closest in result.stderr
    # A path keeps its meaning: the io error of a missing file, no catalog lookup.
    assert run("check", "googlenet.yaml").stderr == (
        "googlenet.yaml:1:1: error[io]: cannot read spec: No such file or directory\n"
    )


def test_a_file_of_that_name_wins(elsewhere):
    write(elsewhere, "googlenet", BASE)  # a file called googlenet, no suffix
    assert run("check", "googlenet").stdout.startswith("base: ok, ")


def test_underscores_reach_the_hyphenated_name(elsewhere, tmp_path, monkeypatch):
    """`inception_v4` (the spec's name:, its generated module's and timm's) is
    inception-v4; a file named with the underscores, on any folder, still wins."""
    assert catalog.find("inception_resnet_v2") == SPECS / "inception-resnet-v2.yaml"
    assert build_graph("googlenet_fmnist_lite").name == "googlenet_fmnist_lite"
    assert catalog.find("inception_v9") is None
    assert list(catalog.models("resnet_v1_")) == [
        "inception-resnet-v1-cifar",
        "inception-resnet-v1-fmnist",
    ]
    assert (
        "(closest: inception-v4, inception-v3, inception-v2)" in run("check", "inception_v9").stderr
    )
    mine = tmp_path / "mine"
    write(mine, "inception_v4.yaml", BASE)
    monkeypatch.setenv(catalog.ENV, str(mine))
    assert catalog.find("inception_v4") == mine / "inception_v4.yaml"
    assert catalog.find("inception-v4") == SPECS / "inception-v4.yaml"


def test_incept_path_adds_and_shadows(elsewhere, tmp_path, monkeypatch):
    mine, more = tmp_path / "mine", tmp_path / "more"
    write(mine, "tiny.yaml", BASE)
    write(more, "tiny.yaml", BASE.replace("name: base", "name: other"))
    write(more, "googlenet.yaml", BASE.replace("name: base", "name: shadow"))
    monkeypatch.setenv(catalog.ENV, os.pathsep.join([str(mine), str(tmp_path / "none"), str(more)]))
    assert list(catalog.models()) == sorted([*SHIPPED, "tiny"])
    assert catalog.find("tiny") == mine / "tiny.yaml"  # the first folder wins
    assert build_graph("googlenet").name == "shadow"  # the user's folders come first
    rows = json.loads(run("list", "--format", "json").stdout)
    assert [(r["name"], r["source"]) for r in rows if r["source"] != "shipped"] == [
        ("googlenet", str(more)),
        ("tiny", str(mine)),
    ]


def test_extends_by_name_from_any_folder(elsewhere):
    spec = write(
        elsewhere,
        "variant.yaml",
        "extends: googlenet-fmnist-lite\nname: variant\nnum_classes: 7\n",
    )
    graph = build_graph(spec)
    # googlenet-fmnist-lite's 1,501,914 with a 512 -> 7 classifier instead of 512 -> 10.
    assert graph.params() == 1_501_914 - 3 * 512 - 3
    assert graph.output.shape == (7,)
    # Labels relative to each spec's project, never absolute paths (docs/cli.md).
    assert [path for path, _, _ in chain(str(spec))] == [
        "variant.yaml",
        "specs/googlenet-fmnist-lite.yaml",
        "specs/googlenet-fmnist.yaml",
        "specs/googlenet-bn.yaml",
        "specs/googlenet.yaml",
    ]


def test_extends_a_missing_name(elsewhere):
    write(elsewhere, "variant.yaml", "name: v\nextends: googlenet-fmnist-light\n")
    result = run("check", "variant.yaml")
    assert result.exit_code == 2
    assert result.stderr == (
        "variant.yaml:2:10: error[extends]: base spec 'googlenet-fmnist-light' not found: no "
        "such file beside the spec, and no model named 'googlenet-fmnist-light' in INCEPT_PATH "
        "or the shipped specs (closest: googlenet-fmnist-lite, googlenet-fmnist, googlenet-bn)\n"
    )


def test_a_named_base_keeps_its_own_confinement(tmp_path, monkeypatch, elsewhere):
    """A spec reached by name may extend by path only inside its own project."""
    lib = tmp_path / "lib" / "project"
    write(lib, ".git", "")
    write(tmp_path / "lib", "secret.yaml", BASE)  # beside the project, not in it
    write(lib, "ok.yaml", "extends: sub/base.yaml\nname: ok\n")
    write(lib, "sub/base.yaml", BASE)
    write(lib, "escape.yaml", "extends: ../secret.yaml\n")
    monkeypatch.setenv(catalog.ENV, str(lib))
    write(elsewhere, "a.yaml", "extends: ok\n")
    assert build_graph(elsewhere / "a.yaml").name == "ok"
    write(elsewhere, "b.yaml", "extends: escape\n")
    with pytest.raises(SpecError) as err:
        build_graph(elsewhere / "b.yaml")
    assert str(err.value) == (
        f"{lib / 'escape.yaml'}:1:10: error[extends]: base spec '../secret.yaml' is outside "
        "the spec's project (the folder above it holding .git or pyproject.toml, else its own "
        "folder)"
    )


def test_a_file_beside_the_spec_is_a_path_not_a_name(elsewhere, tmp_path):
    """`extends: googlenet` with a file called googlenet beside the spec means that file,
    under the path rules (here: a symbolic link out of the project is refused)."""
    write(tmp_path, "outside.yaml", BASE)
    (elsewhere / "googlenet").symlink_to(tmp_path / "outside.yaml")
    write(elsewhere, "child.yaml", "extends: googlenet\n")
    with pytest.raises(SpecError, match=r"error\[extends\]: base spec 'googlenet' is outside"):
        build_graph(elsewhere / "child.yaml")


def test_a_cycle_through_names(elsewhere, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    write(lib, "a.yaml", "extends: b\n")
    write(lib, "b.yaml", "extends: a\n")
    monkeypatch.setenv(catalog.ENV, str(lib))
    with pytest.raises(SpecError) as err:
        build_graph("a")
    assert str(err.value) == (
        f"{lib / 'b.yaml'}:1:10: error[extends]: extends forms a cycle: a.yaml -> b.yaml -> a.yaml"
    )


# -- incept list -------------------------------------------------------------------------


def test_list_json(elsewhere):
    result = run("list", "fmnist-lite", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "name": "googlenet-fmnist-lite",
            "source": "shipped",
            "path": str(SPECS / "googlenet-fmnist-lite.yaml"),
            "input": [28, 28, 1],
            "num_classes": 10,
            "params": 1_501_914,
            "macs": build_graph("googlenet-fmnist-lite").macs(),
            "params_with_aux": 2_082_286,
            "macs_with_aux": build_graph("googlenet-fmnist-lite").macs(aux=True),
            "pretrained": [],
            "description": "Half-width GoogLeNet-BN for 28x28 grey images - the stem pools to "
            "14x14 before inception 3a.",
        }
    ]


def test_list_table(elsewhere):
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "name",
        "input",
        "classes",
        "params",
        "with",
        "aux",
        "GMACs",
        "pretrained",
        "from",
    ]
    assert [line.split()[0] for line in lines[1:]] == SHIPPED
    assert lines[SHIPPED.index("inception-v3") + 1].split() == [
        "inception-v3",
        "299x299x3",
        "1000",
        "23,834,568",
        "27,161,264",
        "5.71",
        "torchvision",
        "shipped",
    ]
    sources = {line.split()[0]: line.split()[-2] for line in lines[1:]}
    assert {name: found for name, found in sources.items() if found != "-"} == {
        "googlenet-torchvision": "torchvision",
        "inception-resnet-v2": "timm",
        "inception-resnet-v2-keras": "keras",
        "inception-v3": "torchvision",
        "inception-v3-keras": "keras",
        "inception-v4": "timm",
        "xception": "timm",
        "xception-keras": "keras",
    }
    assert run("list", "nothing-like-it").stderr == "incept: no models matching 'nothing-like-it'\n"


def test_list_leaves_out_a_broken_user_spec(elsewhere, tmp_path, monkeypatch):
    write(tmp_path / "mine", "broken.yaml", BASE.replace("out: 8,", "out: -8,"))
    monkeypatch.setenv(catalog.ENV, str(tmp_path / "mine"))
    result = run("list", "--format", "json")
    assert result.exit_code == 0
    assert [r["name"] for r in json.loads(result.stdout)] == SHIPPED
    where = tmp_path / "mine" / "broken.yaml"
    assert result.stderr.startswith(f"incept: broken left out: {where}:")
    assert result.stderr.count("\n") == 1


def test_paths_are_unchanged(monkeypatch):
    """A path argument is read as before: shown as typed, relative to the working folder."""
    monkeypatch.chdir(ROOT)
    assert build_graph("specs/googlenet.yaml").spec_path == "specs/googlenet.yaml"
    assert build_graph(Path("specs/googlenet.yaml")).params() == 6_998_552
