"""`extends:` and `patch:`: merge rules, row edits, nested bases, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_errors import fails

from incept.compiler.errors import SpecError
from incept.compiler.pipeline import build_graph
from incept.compiler.spec.load import load_spec

BASE = """\
name: base
input: {channels: 3, size: 16}
num_classes: 10
defaults: {conv: {bias: true, act: relu}}
blocks:
  mix:
    params: [a, b]
    branches:
      left:
        - {op: conv, name: c1, out: $a, kernel: 1}
      right:
        - {op: conv, name: c3, out: $b, kernel: 3, padding: 1}
layers:
  - {name: stem, op: conv, out: 8, kernel: 3, padding: 1, output: 16x16x8}
  - {name: pool, op: maxpool, kernel: 2, stride: 2}
  - {name: mix1, op: mix, a: 4, b: 6, output: 8x8x10}
  - {name: gap, op: adaptive_avgpool}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out: $num_classes}
aux_heads:
  - {name: aux, from: mix1, op: mix, a: 2, b: 2, loss_weight: 0.3}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rows(path: Path) -> list[str]:
    return [r.name for r in build_graph(path).rows]


def test_scalars_and_mappings_merge(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        "extends: base.yaml\nname: child\nnum_classes: 3\ndefaults: {conv: {bias: false}}\n",
    )
    spec, _ = load_spec(child)
    assert (spec.name, spec.num_classes) == ("child", 3)
    # defaults.conv merged key by key: bias overridden, act kept from the base
    assert (spec.defaults.conv.bias, spec.defaults.conv.act) == (False, "relu")
    assert rows(child) == ["stem", "pool", "mix1", "gap", "flat", "fc"]
    graph = build_graph(child)
    assert graph.nodes["fc"].shape == (3,)
    assert graph.nodes["stem"].attrs.bias is False


def test_lists_replace_whole(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        "extends: base.yaml\nblocks:\n  mix:\n    branches:\n      right:\n"
        "        - {op: conv, name: c5a, out: $b, kernel: 3, padding: 1}\n"
        "        - {op: conv, name: c5b, out: $b, kernel: 3, padding: 1}\n",
    )
    graph = build_graph(child)
    # the template keeps its params and left branch; the right branch is the new list
    assert [n for n in graph.rows[2].nodes] == ["mix1_c1", "mix1_c5a", "mix1_c5b", "mix1_output"]


def test_patch_set_unset_replace_delete_insert(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        """\
extends: base.yaml
patch:
  - {row: stem, set: {out: 12}}
  - {row: stem, unset: [output]}
  - {row: pool, replace: {name: pool, op: avgpool, kernel: 2}}
  - {row: gap, delete: true}
  - {after: stem, insert: [{name: extra, op: conv, out: 5, kernel: 1}]}
  - {before: fc, insert: [{name: drop, op: dropout, p: 0.5}]}
  - {row: aux, set: {a: 3}}
  - {row: mix1, unset: output}
""",
    )
    graph = build_graph(child)
    assert [r.name for r in graph.rows] == ["stem", "extra", "pool", "mix1", "flat", "drop", "fc"]
    assert graph.nodes["stem"].shape == (12, 16, 16)
    assert graph.nodes["pool"].attrs.kind == "avg"
    assert graph.nodes["aux_c1"].attrs.out == 3
    # no global pool any more: flatten sees 10 x 8 x 8
    assert graph.nodes["fc"].attrs.in_features == 10 * 8 * 8


def test_wildcard_unset_and_nested_extends(tmp_path):
    write(tmp_path, "pyproject.toml", "")  # the project: bases may be anywhere below it
    write(tmp_path, "specs/base.yaml", BASE)
    write(
        tmp_path,
        "specs/mid.yaml",
        "extends: base.yaml\nname: mid\nwidth_multiplier: 2\n"
        "patch:\n  - {row: '*', unset: [output]}\n",
    )
    child = write(tmp_path, "variants/leaf.yaml", "extends: ../specs/mid.yaml\nname: leaf\n")
    spec, source = load_spec(child)
    assert spec.name == "leaf" and spec.width_multiplier == 2
    graph = build_graph(child)
    assert graph.nodes["stem"].shape == (16, 16, 16)  # 8 channels x 2
    assert graph.nodes["mix1_output"].shape == (20, 8, 8)  # block args scale: (4 + 6) x 2
    assert graph.nodes["fc"].shape == (10,)  # num_classes never scales
    # the hash covers the bases: editing one changes it
    before = source.sha256
    write(tmp_path, "specs/base.yaml", BASE.replace("size: 16", "size: 32"))
    assert load_spec(child)[1].sha256 != before


def test_width_multiplier_rounds_half_up(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "c.yaml",
        "extends: base.yaml\nwidth_multiplier: 0.3\npatch:\n  - {row: '*', unset: [output]}\n",
    )
    graph = build_graph(child)
    # 8 * 0.3 = 2.4 -> 2; 4 * 0.3 = 1.2 -> 1; 6 * 0.3 = 1.8 -> 2; 2 * 0.3 = 0.6 -> 1 (at least 1)
    assert graph.nodes["stem"].attrs.out == 2
    assert (graph.nodes["mix1_c1"].attrs.out, graph.nodes["mix1_c3"].attrs.out) == (1, 2)
    assert graph.nodes["aux_c1"].attrs.out == 1


def test_error_in_base_points_into_base(tmp_path, monkeypatch):
    write(tmp_path, "base.yaml", BASE.replace("output: 8x8x10", "output: 8x8x11"))
    line = fails(tmp_path, monkeypatch, "extends: base.yaml\n", name="child.yaml")
    assert line == (
        "base.yaml:16:5: error[output]: mix1: declared output 8x8x11 but the branches "
        "give 4 + 6 = 10 channels"
    )


def test_override_error_points_into_child(tmp_path, monkeypatch):
    write(tmp_path, "base.yaml", BASE)
    line = fails(
        tmp_path,
        monkeypatch,
        "extends: base.yaml\npatch:\n  - {row: stem, set: {kernel: 0}}\n",
        name="child.yaml",
    )
    assert line.startswith("child.yaml:3:31: error[value]: kernel: must be greater than 0 (got 0)")


def test_missing_base(tmp_path, monkeypatch):
    line = fails(tmp_path, monkeypatch, "name: x\nextends: nowhere.yaml\n", name="child.yaml")
    assert line == (
        "child.yaml:2:10: error[extends]: base spec 'nowhere.yaml' not found (looked for nowhere.yaml)"
    )


def test_cycle(tmp_path, monkeypatch):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    line = fails(tmp_path, monkeypatch, "extends: a.yaml\n", name="c.yaml")
    assert (
        line
        == "b.yaml:1:10: error[extends]: extends forms a cycle: c.yaml -> a.yaml -> b.yaml -> a.yaml"
    )


OUTSIDE = "child.yaml:1:10: error[extends]: base spec {!r} is outside the spec's project (the folder above it holding .git or pyproject.toml, else its own folder)"


@pytest.mark.parametrize("ref", ["../base.yaml", "../../../../../../etc/passwd", "/etc/passwd"])
def test_extends_stays_in_the_project(tmp_path, monkeypatch, ref):
    write(tmp_path, "base.yaml", BASE)  # exists, but above the project folder
    project = tmp_path / "project"
    write(project, ".git", "")
    line = fails(project, monkeypatch, f"extends: {ref}\n", name="child.yaml")
    assert line == OUTSIDE.format(ref)


def test_extends_through_a_symlink_out_of_the_project(tmp_path, monkeypatch):
    write(tmp_path, "base.yaml", BASE)
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.yaml").symlink_to(tmp_path / "base.yaml")
    line = fails(project, monkeypatch, "extends: base.yaml\n", name="child.yaml")
    assert line == OUTSIDE.format("base.yaml")


def test_extends_reaches_sibling_folders_inside_the_project(tmp_path):
    write(tmp_path, "pyproject.toml", "")
    write(tmp_path, "specs/base.yaml", BASE)
    child = write(tmp_path, "variants/deep/child.yaml", "extends: ../../specs/base.yaml\n")
    assert build_graph(child).name == "base"


@pytest.mark.parametrize("base", ["- a\n- b\n", "just text\n", "", "42\n"])
def test_extends_base_not_a_mapping(tmp_path, monkeypatch, base):
    write(tmp_path, "base.yaml", base)
    line = fails(tmp_path, monkeypatch, "name: x\nextends: base.yaml\n", name="child.yaml")
    assert line == (
        "child.yaml:2:10: error[extends]: base spec 'base.yaml' is not a YAML mapping "
        "(name:, layers:, ...)"
    )


def test_extends_chain_limit(tmp_path, monkeypatch):
    from incept.compiler.limits import MAX_EXTENDS

    write(tmp_path, "b0.yaml", BASE)
    for i in range(1, MAX_EXTENDS + 1):
        write(tmp_path, f"b{i}.yaml", f"extends: b{i - 1}.yaml\n")
    assert build_graph(tmp_path / f"b{MAX_EXTENDS}.yaml").name == "base"  # 8 bases: fine
    line = fails(tmp_path, monkeypatch, f"extends: b{MAX_EXTENDS}.yaml\n", name="child.yaml")
    assert line == "b1.yaml:1:10: error[limit]: extends chains more than 8 bases"  # the 9th


def test_spec_hash_covers_bases_and_nothing_else(tmp_path, monkeypatch):
    """The hash changes iff the content of the spec or a base changes (not its location)."""
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: kid\n")
    first = load_spec(child)[1].sha256
    monkeypatch.chdir(tmp_path)
    assert load_spec("child.yaml")[1].sha256 == first  # another cwd, another spelling
    write(tmp_path, "copy/base.yaml", BASE)
    write(tmp_path, "copy/child.yaml", "extends: base.yaml\nname: kid\n")
    assert load_spec(tmp_path / "copy/child.yaml")[1].sha256 == first  # moved: same content
    write(tmp_path, "base.yaml", BASE + "# a comment\n")
    assert load_spec(child)[1].sha256 != first
    write(tmp_path, "base.yaml", BASE)
    assert load_spec(child)[1].sha256 == first


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            "{row: nope, delete: true}",
            "3:11: error[patch]: no row named 'nope' to patch (rows: stem, pool, mix1, gap, flat, fc, aux)",
        ),
        ("{row: stem, delete: yes please}", "3:25: error[patch]: `delete` takes true"),
        (
            "{row: stem, sett: {out: 1}}",
            "3:17: error[unknown-key]: unknown key 'sett' in a patch edit (did you mean 'set'?)",
        ),
        (
            "{after: stem, set: {out: 1}}",
            "3:5: error[patch]: a patch edit is {row: R, set|unset|replace|delete|rename: ...} "
            "or {before|after: R, insert: [...]}",
        ),
        ("{row: stem, unset: [bogus]}", "3:25: error[patch]: row 'stem' has no key 'bogus'"),
        ("{row: '*', delete: true}", "3:16: error[patch]: row '*' takes set or unset, not delete"),
        (  # renaming a row that is not there
            "{row: mixx, rename: mix2}",
            "3:11: error[patch]: no row named 'mixx' to patch (rows: stem, pool, mix1, gap, flat, "
            "fc, aux) (did you mean 'mix1'?)",
        ),
        (  # to a name another row (or aux head) has: located at the new name
            "{row: mix1, rename: aux}",
            "3:25: error[duplicate-name]: cannot rename 'mix1' to 'aux': a row is already named "
            "'aux' (base.yaml:21:12)",
        ),
        (
            "{row: mix1, rename: [a]}",
            "3:25: error[patch]: `rename` takes the row's new name, got a list",
        ),
        ("{row: '*', rename: x}", "3:16: error[patch]: row '*' takes set or unset, not rename"),
        (  # a new name that is no identifier: the schema's error, at the patch
            "{row: mix1, rename: 2nd}",
            "3:25: error[value]: row name '2nd' must be an identifier (no leading digit)",
        ),
    ],
)
def test_bad_patch(tmp_path, monkeypatch, edit, expected):
    write(tmp_path, "base.yaml", BASE)
    line = fails(
        tmp_path, monkeypatch, f"extends: base.yaml\npatch:\n  - {edit}\n", name="child.yaml"
    )
    assert line == f"child.yaml:{expected}"


def test_width_rounding_is_exact_half_up(tmp_path):
    """45 * 0.7 is 31.5 exactly (31.499... in floats): half up gives 32."""
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "c.yaml",
        "extends: base.yaml\nwidth_multiplier: 0.7\n"
        "patch:\n  - {row: '*', unset: [output]}\n  - {row: stem, set: {out: 45}}\n",
    )
    assert build_graph(child).nodes["stem"].attrs.out == 32


def test_patch_rename(tmp_path):
    """A renamed row keeps its place and keys; aux heads that tapped it follow; later edits
    use the new name."""
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        "extends: base.yaml\npatch:\n  - {row: mix1, rename: block1}\n"
        "  - {row: block1, set: {a: 5, output: 8x8x11}}\n  - {row: stem, rename: conv1}\n",
    )
    graph = build_graph(child)
    assert [r.name for r in graph.rows] == ["conv1", "pool", "block1", "gap", "flat", "fc"]
    assert graph.aux_heads[0].tap == "block1" and graph.aux_heads[0].input == "block1_output"
    assert graph.nodes["block1_c1"].attrs.out == 5
    assert graph.nodes["block1_output"].shape == (11, 8, 8)
    # a later error about the renamed row points at the rename, in the child
    child.write_text(
        child.read_text() + "  - {after: flat, insert: [{name: conv1, op: flatten}]}\n"
    )
    with pytest.raises(SpecError) as info:
        build_graph(child)
    assert str(info.value).startswith(
        f"{child}:6:35: error[duplicate-name]: row name 'conv1' is already used (line 5)"
    )


def test_googlenet_torchvision_is_googlenet_patched():
    """specs/googlenet-torchvision.yaml extends googlenet.yaml, renaming rows to torchvision's
    names; the table it resolves to is torchvision's."""
    from conftest import SPECS

    path = SPECS / "googlenet-torchvision.yaml"
    assert load_spec(path)[1].data["layers"][5]["name"] == "inception3a"
    graph = build_graph(path)
    assert [r.name for r in graph.rows] == [
        "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
        "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
        "maxpool4", "inception5a", "inception5b", "avgpool", "dropout", "flatten", "fc",
    ]  # fmt: skip
    assert [(h.name, h.tap, h.op) for h in graph.aux_heads] == [
        ("aux1", "inception4a", "inception_aux"),
        ("aux2", "inception4d", "inception_aux"),
    ]
    assert (graph.params(), graph.params(aux=True)) == (6_624_904, 13_004_888)
