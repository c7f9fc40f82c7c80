"""The backend-neutral plan (backends/plan), on its own: which units, blocks, parameters,
per-row arguments, symbolic channels and comment shapes a generated module has."""

from __future__ import annotations

from functools import cache

from genload import shipped

from incept.backends.plan import IN_CHANNELS, BlockPlan, Chan, ConvUnit, ModulePlan, build_plan
from incept.compiler.ir.ops import BatchNorm

INCEPTION_PARAMS = ["ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"]


@cache
def plan(spec: str) -> ModulePlan:
    return build_plan(shipped(spec))


def block(p: ModulePlan, template: str) -> BlockPlan:
    (found,) = [b for b in p.blocks if b.template.name == template]
    return found


def params(b: BlockPlan) -> list[tuple[str, str]]:
    return [(p.name, p.kind) for p in b.params]


def test_googlenet_blocks_units_and_rows():
    p = plan("googlenet.yaml")
    assert p.units == {
        (False, True, False, True): ConvUnit(
            bn=False, relu=True, folded=False, scale=True, norm=None
        )
    }
    assert [(b.template.name, b.layout, len(b.rows)) for b in p.blocks] == [
        ("reduce_conv", "sequence", 1),
        ("inception", "branches", 9),
        ("aux_classifier", "sequence", 2),
    ]
    assert p.globals == ["num_classes"]
    inception = block(p, "inception")
    assert params(inception) == [(n, "arg") for n in INCEPTION_PARAMS]
    assert [v for _, v in inception.arguments(0)] == [64, 96, 128, 16, 32, 32]  # 3a
    assert [v for _, v in inception.arguments(8)] == [384, 192, 384, 48, 128, 128]  # 5b
    assert params(block(p, "reduce_conv")) == [("ch3x3red", "arg"), ("ch3x3", "arg")]
    assert [(r.row.name, [t.name for t in r.taps]) for r in p.rows if r.taps] == [
        ("inception_4a", ["aux1"]),
        ("inception_4d", ["aux2"]),
    ]


def test_googlenet_symbolic_channels_and_comments():
    p = plan("googlenet.yaml")
    cols = block(p, "inception").columns
    assert [(c.node.layer, c.cin, c.cout) for c in cols[1:3]] == [
        ("3x3_reduce", Chan((IN_CHANNELS,)), Chan(("ch3x3red",))),
        ("3x3", Chan(("ch3x3red",)), Chan(("ch3x3",))),
    ]
    assert cols[-1].cout == Chan(("ch1x1", "ch3x3", "ch5x5", "pool_proj"))
    assert cols[-1].cout.render() == "ch1x1 + ch3x3 + ch5x5 + pool_proj"
    assert {c.shape for c in cols} == {None}  # 3a..5b differ in size: no comment
    aux = block(p, "aux_classifier")
    assert params(aux) == [("num_classes", "global")]
    assert aux.arguments(1) == [(aux.params[0], None)]  # passed through from the model
    assert [c.shape for c in aux.columns] == [
        (IN_CHANNELS, 4, 4),  # 512 or 528 channels: only the input knows
        (128, 4, 4),
        (2048,),
        (1024,),
        (1024,),
        ("num_classes",),  # never the spec's 1000
    ]
    assert [c.cin for c in aux.columns][3] is None  # a linear after a flatten
    assert [(r.row.name, r.shape) for r in p.rows[-3:]] == [
        ("dropout", (1024, 1, 1)),
        ("flatten", (1024,)),
        ("fc", ("num_classes",)),
    ]
    assert [(a.row.name, a.shape) for a in p.aux] == [
        ("aux1", ("num_classes",)),
        ("aux2", ("num_classes",)),
    ]


def test_googlenet_torchvision_units_carry_the_first_norm():
    p = plan("googlenet-torchvision.yaml")
    unit = ConvUnit(
        bn=True, relu=True, folded=False, scale=True, norm=BatchNorm(eps=0.001, momentum=0.1)
    )
    assert p.units == {(True, True, False, True): unit}
    assert [b.template.name for b in p.blocks] == ["inception", "inception_aux"]
    assert [r.name for r in block(p, "inception").rows][:2] == ["inception3a", "inception3b"]


def test_inception_v3_flat_blocks_and_derived_values():
    p = plan("inception-v3.yaml")
    assert [(b.template.name, b.layout, len(b.rows)) for b in p.blocks] == [
        ("inception_a", "flat", 3),
        ("inception_b", "flat", 1),
        ("inception_c", "flat", 4),
        ("inception_d", "flat", 1),
        ("inception_e", "flat", 2),
        ("inception_aux", "sequence", 1),
    ]
    c = block(p, "inception_c")
    assert [v for _, v in c.arguments(0)] == [128]
    assert [v for _, v in c.arguments(3)] == [192]
    assert c.columns[1].shape == ("channels_7x7", 17, 17)  # rows differ in that parameter
    e = block(p, "inception_e")
    assert e.columns[4].cout == Chan((384, 384))  # a split inside a branch
    # A value that differs between rows becomes a parameter, once, with each row's value.
    a = block(build_plan(shipped("inception-v3.yaml")), "inception_a")  # fresh: derive() adds
    pool = a.columns[6]
    assert a.derive(pool, "hint", [1, 1, 1]) == 1
    derived = a.derive(pool, "hint", [1, 2, 3])
    assert a.derive(pool, "hint", [1, 2, 3]) is derived
    assert [(x.name, x.kind, x.values) for x in a.params] == [
        ("pool_features", "arg", ()),
        ("pool_hint", "derived", (1, 2, 3)),
    ]
    assert [v for _, v in a.arguments(2)] == [64, 3]
    assert [(r.row.name, [t.name for t in r.taps]) for r in p.rows if r.taps] == [
        ("Mixed_6e", ["AuxLogits"])
    ]
