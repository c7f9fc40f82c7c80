"""The optimization passes (`incept compile --opt`): what each does to the IR, and proof
that an optimized torch module computes what the unoptimized one does, on every shipped
spec and on random specs, loading the unoptimized module's state_dict as it is."""

from __future__ import annotations

import itertools
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from incept.compiler import passes
from incept.compiler.cli import main
from incept.compiler.ir import ops
from incept.compiler.passes import pass_names
from incept.compiler.pipeline import build_graph

SPECS = Path(__file__).resolve().parent.parent / "specs"
SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))
OPT_SETS = (
    ("fuse_siblings",),
    ("fold_bn",),
    ("separable_maxpool",),
    ("fuse_siblings", "fold_bn", "separable_maxpool"),
)


def graphs(name: str, optimize: tuple[str, ...]):
    return build_graph(SPECS / name), build_graph(SPECS / name, optimize=optimize)


def split(optimize: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`--opt` names as (IR passes, torch backend options)."""
    passes = pass_names(optimize)
    return passes, tuple(n for n in optimize if n not in passes)


# -- the IR ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_fusion_keeps_every_count_and_every_value_name(name):
    base, fused = graphs(name, ("fuse_siblings",))
    assert fused.optimized == ("fuse_siblings",)
    for aux in (False, True):
        assert (fused.params(aux), fused.macs(aux)) == (base.params(aux), base.macs(aux))
    assert set(base.nodes) <= set(fused.nodes)  # siblings live on as slices, under their names
    for name_, node in fused.nodes.items():
        if node.op == "slice":
            assert base.nodes[name_].shape == node.shape
            assert fused.nodes[node.inputs[0]].op == "conv"


def test_googlenet_fuses_the_three_convolutions_that_read_each_block_input():
    base, fused = graphs("googlenet-torchvision.yaml", ("fuse_siblings",))
    convs = {n: f for n, f in fused.nodes.items() if n.endswith("_fused_1x1")}
    assert len(convs) == 9
    for row in fused.rows:
        if row.template == "inception":
            conv = convs[f"{row.name}_fused_1x1"].attrs
            assert isinstance(conv, ops.Conv)
            assert conv.out == row.args["ch1x1"] + row.args["ch3x3red"] + row.args["ch5x5red"]
            slices = [
                fused.nodes[f"{row.name}_{layer}"] for layer in ("1x1", "3x3_reduce", "5x5_reduce")
            ]
            assert [s.attrs for s in slices] == [
                ops.Slice(0, row.args["ch1x1"]),
                ops.Slice(row.args["ch1x1"], row.args["ch3x3red"]),
                ops.Slice(row.args["ch1x1"] + row.args["ch3x3red"], row.args["ch5x5red"]),
            ]
    # The pool branch reads the pool, and aux heads have one branch: nothing else fuses.
    assert (
        sum(n.op == "conv" for n in fused.nodes.values())
        == sum(n.op == "conv" for n in base.nodes.values()) - 2 * 9
    )


def test_each_instance_of_a_repeated_row_fuses_alike():
    """Inception-v4's Inception-A/B/C rows repeat 4, 7 and 3 times: every instance fuses
    the 1x1s that read its own input (the row's, or the instance's before it)."""
    base, fused = graphs("inception-v4.yaml", ("fuse_siblings",))
    for row, repeat, members in (
        ("inception_a", 4, ("branch0_0", "branch1_0", "branch2_0")),
        ("inception_b", 7, ("branch0_0", "branch1_0", "branch2_0")),
        ("inception_c", 3, ("branch0", "branch1_0", "branch2_0")),
    ):
        (r,) = (r for r in fused.rows if r.name == row)
        assert r.repeat == repeat
        sizes = {len(r.instance(i)) for i in range(repeat)}
        assert sizes == {len(next(b for b in base.rows if b.name == row).instance(0)) + 1}
        for i in range(repeat):
            conv = fused.nodes[f"{row}_{i}_fused_1x1"]
            assert conv.name in r.instance(i)
            feed = r.input if i == 0 else r.instance(i - 1)[-1]
            assert conv.inputs == (feed,)
            outs = [base.nodes[f"{row}_{i}_{m}"].attrs.out for m in members]
            starts = [sum(outs[:k]) for k in range(len(outs))]
            slices = [fused.nodes[f"{row}_{i}_{m}"].attrs for m in members]
            assert slices == [ops.Slice(a, n) for a, n in zip(starts, outs, strict=True)]
            assert conv.attrs.out == sum(outs)


@pytest.mark.parametrize("name", SHIPPED)
def test_folding_replaces_each_norm_by_a_bias(name):
    base, folded = graphs(name, ("fold_bn",))
    norms = [n for n in base.nodes.values() if isinstance(n.attrs, ops.Conv) and n.attrs.norm]
    for node in norms:  # with or without a learned scale (keras profiles: scale=False)
        conv = folded.nodes[node.name].attrs
        assert isinstance(conv, ops.Conv) and isinstance(node.attrs, ops.Conv)
        assert (conv.norm, conv.bias, conv.folded) == (None, True, node.attrs.norm)
    # bn layers folded into the separable conv they read: that conv holds the bias.
    layers = [base.nodes[n] for n in folded_layers(folded)]
    for node in layers:
        sep = base.nodes[node.inputs[0]]
        assert isinstance(sep.attrs, ops.SepConv) and isinstance(node.attrs, ops.Norm)
        want = replace(sep.attrs, bias=True, folded=node.attrs.norm)
        assert folded.nodes[sep.name].attrs == want

    # Each norm's beta and gamma (if it learns a scale) give way to one bias per channel
    # (if the conv had none): a scale-less norm after a bias-less conv saves nothing.
    def saved_by(channels: int, norm: ops.BatchNorm, bias: bool) -> int:
        return channels * (int(norm.scale) + int(bias))

    saved = sum(saved_by(n.attrs.out, n.attrs.norm, n.attrs.bias) for n in norms)  # type: ignore[union-attr, arg-type]
    biased = [base.nodes[n.inputs[0]].attrs.bias for n in layers]  # type: ignore[union-attr]
    saved += sum(
        saved_by(n.shape[0], n.attrs.norm, b)  # type: ignore[union-attr]
        for n, b in zip(layers, biased, strict=True)
    )
    assert folded.params(aux=True) == base.params(aux=True) - saved
    assert folded.macs(aux=True) == base.macs(aux=True)


def folded_layers(graph) -> list[str]:
    """The bn layers (ops.Norm) that fold_bn folded into the separable conv they read."""
    return [
        n.name for n in graph.nodes.values() if isinstance(n.attrs, ops.Norm) and n.attrs.folded
    ]


@pytest.mark.parametrize("name", ["xception.yaml", "xception-keras.yaml"])
def test_xception_folds_the_norm_after_each_separable_conv(name):
    base, folded = graphs(name, ("fold_bn",))
    norms = [n for n in base.nodes.values() if isinstance(n.attrs, ops.Norm)]
    after_sepconv = {n.name for n in norms if base.nodes[n.inputs[0]].op == "sepconv"}
    assert (len(norms), len(after_sepconv)) == (40, 34)
    assert set(folded_layers(folded)) == after_sepconv
    for node in norms:
        if node.name in after_sepconv:  # an identity now, its sepconv has the bias
            assert folded.nodes[node.name].params == 0
            sep = folded.nodes[node.inputs[0]].attrs
            assert isinstance(sep, ops.SepConv) and (sep.bias, sep.folded) == (
                True,
                node.attrs.norm,
            )
        else:  # bn1, bn2 and the shortcuts' skipbn read a plain conv: left as they are
            assert folded.nodes[node.name] == node
            assert base.nodes[node.inputs[0]].op == "conv"
    # 25,032 channels' gamma and beta become a pointwise bias each
    assert (base.params(), folded.params()) == (22_855_952, 22_830_920)
    assert folded.macs() == base.macs()


#: A separable conv that an aux head reads too (its unnormalized output), and one that
#: only its norm reads.
TWICE_READ = """\
name: twice
input: {channels: 3, size: 12}
num_classes: 5
defaults:
  conv: {bias: false, norm: none, act: none}
blocks:
  head:
    doc: A classifier on the raw output of the separable conv it taps.
    branches:
      fc:
        - {op: adaptive_avgpool, size: 1}
        - {op: flatten}
        - {op: linear, out: $num_classes}
layers:
  - {name: sep1, op: sepconv, out: 8, kernel: 3, padding: 1}
  - {name: bn1, op: bn}
  - {name: sep2, op: sepconv, out: 8, kernel: 3, padding: 1}
  - {name: bn2, op: bn}
  - {name: pool, op: adaptive_avgpool, size: 1}
  - {name: flatten, op: flatten}
  - {name: fc, op: linear, out: $num_classes}
aux_heads:
  - {name: aux, from: sep1, op: head, loss_weight: 0.3}
"""


def twice_read_spec(directory: Path) -> Path:
    path = directory / "twice.yaml"
    path.write_text(TWICE_READ)
    return path


def test_a_norm_after_a_separable_conv_read_twice_is_not_folded(tmp_path):
    path = twice_read_spec(tmp_path)
    base, folded = build_graph(path), build_graph(path, optimize=["fold_bn"])
    assert folded_layers(folded) == ["bn2"]
    for name in ("sep1", "bn1"):  # the aux head reads sep1 before its norm
        assert folded.nodes[name] == base.nodes[name]
    assert folded.params(aux=True) == base.params(aux=True) - 8  # bn2's 8 channels


def test_verifier_rejects_a_half_done_sepconv_fold(monkeypatch):
    """A pass that marks the conv folded but leaves its bn layer normalizing (the norm
    would apply twice) is caught after fold_bn, at the conv."""
    from incept.compiler.errors import Code, SpecError
    from incept.compiler.passes import fold_bn

    real = fold_bn.run

    def half(graph):
        out = real(graph)
        nodes = dict(out.nodes)
        bn = nodes["bn3"]
        nodes["bn3"] = replace(bn, attrs=replace(bn.attrs, folded=False), params=bn.params)
        return replace(out, nodes=nodes)

    fuse, fold = passes.OPTIMIZATIONS
    monkeypatch.setattr(passes, "OPTIMIZATIONS", [fuse, replace(fold, run=half)])
    with pytest.raises(SpecError) as info:
        build_graph(SPECS / "xception.yaml", optimize=["fold_bn"])
    assert info.value.code is Code.INTERNAL
    assert "after 'fold_bn': node 'conv3': has a folded batch norm, but not one folded bn" in str(
        info.value
    )


def test_separable_maxpool_is_a_torch_option_not_a_pass():
    """The IR knows no separable_maxpool: only the torch backend takes it (`--opt`)."""
    assert "separable_maxpool" not in [p.name for p in passes.OPTIMIZATIONS]
    assert "separable" not in {f.name for f in fields(ops.Pool)}
    assert passes.parse_optimizations("all") == ("fuse_siblings", "fold_bn")
    options = ("separable_maxpool",)
    assert passes.parse_optimizations("all", options) == ("fuse_siblings", "fold_bn", *options)
    assert passes.parse_optimizations("separable_maxpool,fold_bn", options) == ("fold_bn", *options)
    with pytest.raises(ValueError, match="unknown optimization 'separable_maxpool'"):
        passes.parse_optimizations("separable_maxpool")


def test_googlenet_torchvision_folded_parameter_count():
    base, folded = graphs("googlenet-torchvision.yaml", ("fold_bn",))
    assert (base.params(), folded.params()) == (6_624_904, 6_617_624)  # 7,280 BN channels


def test_opt_flag_errors_are_one_line_usage_errors(tmp_path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), prog_name="incept")

    spec = str(SPECS / "googlenet.yaml")
    out = str(tmp_path / "m.py")
    result = invoke("compile", spec, "-b", "torch", "--opt", "fuse", "-o", out)
    assert result.exit_code == 2
    assert result.stderr == (
        "incept compile: error[usage]: Invalid value for '--opt': unknown optimization 'fuse' "
        "(choose from all, fuse_siblings, fold_bn, separable_maxpool) (see 'incept compile --help')\n"
    )
    result = invoke("compile", spec, "-b", "keras", "--opt", "fold_bn,separable_maxpool", "-o", out)
    assert result.exit_code == 2
    assert result.stderr == (
        "incept compile: error[usage]: Invalid value for '--opt': unknown optimization "
        "'separable_maxpool' (choose from all, fuse_siblings, fold_bn) (see 'incept compile --help')\n"
    )
    assert invoke("check", spec, "--opt", "none").exit_code == 0  # `none`: what the default is
    result = invoke("check", spec, "--dump-ir", "fold_bn")
    assert result.exit_code == 2
    assert "'fold_bn' runs only when asked for: add --opt fold_bn" in result.stderr
    assert not Path(out).exists()


def test_compile_with_opt_writes_beside_the_unoptimized_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = str(SPECS / "googlenet-torchvision.yaml")
    result = CliRunner().invoke(main, ["compile", spec, "-b", "torch", "--opt", "all"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "generated" / "googlenet_torchvision_torch_opt.py").read_text()
    assert "--backend torch --opt fuse_siblings,fold_bn,separable_maxpool`" in text
    assert "class FoldedConvBNReLU(nn.Module):" in text
    assert "torch.split(self.fused_1x1(x), self.fused_1x1_split, 1)" in text
    assert not (tmp_path / "generated" / "googlenet_torchvision_torch.py").exists()


# -- torch: the same numbers ------------------------------------------------------------------

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from genload import assert_sensitive, reduced, torch_module  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from specgen import examples, specs, write_spec  # noqa: E402
from test_property_torch import assert_module_matches  # noqa: E402

_names = itertools.count()


def randomize(model, seed: int = 0) -> None:
    """Weights and batch-norm statistics far from their defaults, so folding shows, at
    scales that keep activations O(1) through the depth (He-uniform weights, biases on
    +-0.2), so the outputs depend on the input (`unoptimized` checks it): with half that
    weight variance and +-0.55 biases, inception-v3's two images gave outputs 1e-4 apart."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=gen)
                if name.endswith("running_var"):
                    tensor.copy_(values + 0.5)
                elif name.endswith(("bn.weight", "running_mean")):
                    tensor.copy_(values + 0.5 if name.endswith("weight") else values - 0.5)
                elif tensor.dim() > 1:
                    tensor.copy_((values * 2 - 1) * (6.0 / tensor[0].numel()) ** 0.5)
                else:
                    tensor.copy_((values * 2 - 1) * 0.2)


def optimized(graph, base, optimize, directory: Path):
    """(its module, the optimized model loaded strictly from `base`'s state_dict in eval
    mode, its graph). `optimize`: `--opt` names, IR passes and torch options alike."""
    passes, options = split(optimize)
    opt_graph = graph if not passes else build_graph(graph.spec_path, optimize=passes)
    module = torch_module(opt_graph, directory, f"opt_{next(_names)}", options)
    opt = module.build()
    opt.load_state_dict(base.state_dict())
    return module, opt.eval(), opt_graph


def pair(graph, optimize, directory: Path, seed: int = 0):
    """(unoptimized model, optimized model loaded strictly from its state_dict), eval mode."""
    base = torch_module(graph, directory, f"opt_base_{next(_names)}").build()
    randomize(base, seed)
    _, opt, opt_graph = optimized(graph, base, optimize, directory)
    return base.eval(), opt, opt_graph


_unoptimized: dict[str, tuple] = {}


def unoptimized(name: str, directory: Path):
    """(reduced graph, randomized unoptimized model, input, its output) of a shipped spec,
    built once for all --opt sets (the tests run spec by spec: only the current is kept)."""
    if name not in _unoptimized:
        _unoptimized.clear()
        graph = reduced(name, directory)  # a pass's equivalence does not depend on the input size
        base = torch_module(graph, directory, f"opt_base_{next(_names)}").build()
        randomize(base)
        x = torch.randn(2, *graph.input.shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            want = base.eval()(x)
        assert_sensitive(want, 1e-5)  # assert_close's
        _unoptimized[name] = graph, base, x, want
    return _unoptimized[name]


def assert_close(got, want, rtol: float = 1e-5) -> None:
    err = ((got - want).norm() / want.norm()).item()
    assert err < rtol, f"relative error {err:.2e}"


@pytest.mark.parametrize("optimize", OPT_SETS, ids="+".join)
@pytest.mark.parametrize("name", SHIPPED)
def test_optimized_module_loads_the_unoptimized_weights_and_agrees(
    name, optimize, tmp_path, tmp_path_factory
):
    graph, base, x, want = unoptimized(name, tmp_path_factory.mktemp("unoptimized"))
    module, opt, opt_graph = optimized(graph, base, optimize, tmp_path)
    assert sum(p.numel() for p in opt.parameters()) == opt_graph.params(aux=True)
    with torch.no_grad():
        assert_close(opt(x), want)
    again = module.build().eval()
    again.load_state_dict(opt.state_dict())  # its own checkpoints load back unchanged
    with torch.no_grad():
        assert torch.equal(again(x), opt(x))


@pytest.mark.parametrize("name", SHIPPED)
def test_fused_module_trains_as_the_unfused_one(name, tmp_path):
    """Train mode (batch statistics, aux heads), one SGD step: the fused model's new
    state equals the unfused model's new state mapped through the load-time mapping.
    In float64: through a dozen train-mode batch norms, random-weight gradients are so
    ill-conditioned that float32 rounding alone moves them by 1e-2 (the unfused model
    against itself in channels_last), which would hide a real difference."""
    graph = reduced(name, tmp_path)
    base, fused, fused_graph = pair(graph, ("fuse_siblings",), tmp_path)
    # batch 2: train-mode batch norm needs more than one value per channel, no more
    x = torch.randn(2, *graph.input.shape, generator=torch.Generator().manual_seed(2))
    x = x.double()
    for model in (base, fused):
        model.double().train()
        step = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(0)  # the same dropout masks
        out = model(x)
        loss = sum(o.square().mean() for o in (out if isinstance(out, tuple) else (out,)))
        loss.backward()
        step.step()
    mapped = torch_module(fused_graph, tmp_path, f"opt_mapped_{next(_names)}").build()
    mapped.double().load_state_dict(base.state_dict())
    want = mapped.state_dict()
    for key, value in fused.state_dict().items():
        if value.is_floating_point():
            assert_close(value, want[key], rtol=1e-9)
        else:
            assert torch.equal(value, want[key]), key


def test_a_folded_bn_layer_beside_a_kept_one_loads_and_agrees(tmp_path):
    graph = build_graph(twice_read_spec(tmp_path))
    base, opt, _ = pair(graph, ("fold_bn",), tmp_path)
    assert isinstance(opt.bn1, torch.nn.BatchNorm2d) and isinstance(opt.bn2, torch.nn.Identity)
    assert opt.sep2.pointwise.bias is not None and opt.sep1.pointwise.bias is None
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert_close(opt(x), base(x))


def test_optimized_module_scripts_and_keeps_its_numbers(tmp_path):
    graph = build_graph(SPECS / "googlenet-torchvision.yaml")
    _, opt, _ = pair(graph, ("fuse_siblings", "fold_bn", "separable_maxpool"), tmp_path)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(torch.jit.script(opt)(x), opt(x))


# Each example builds and runs 2 models per --opt set (8) and checks 4 modules node by node.
@settings(max_examples=examples(6, 150), deadline=None)
@given(spec=specs())
def test_optimized_random_specs_agree_and_match_their_ir(spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_spec(spec, Path(tmp) / "spec.yaml")
        graph = build_graph(path)
        for optimize in OPT_SETS:
            base, opt, opt_graph = pair(graph, optimize, Path(tmp))
            x = torch.randn(2, *graph.input.shape, generator=torch.Generator().manual_seed(3))
            with torch.no_grad():
                assert_close(opt(x), base(x), rtol=1e-4)
            assert_module_matches(opt_graph, Path(tmp))


_pool_module = None


def separable_pool_class(directory: Path):
    """SeparableMaxPool2d as a generated module defines it (googlenet --opt separable_maxpool)."""
    global _pool_module
    if _pool_module is None:
        graph = build_graph(SPECS / "googlenet.yaml")
        name = f"opt_pool_{next(_names)}"
        _pool_module = torch_module(graph, directory, name, ("separable_maxpool",))
    return _pool_module.SeparableMaxPool2d


@settings(max_examples=200, deadline=None)
@given(
    size=st.tuples(st.integers(1, 17), st.integers(1, 17)),
    kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    ceil_mode=st.booleans(),
)
def test_separable_max_pool_is_torchs_to_the_bit(size, kernel, stride, pad, ceil_mode):
    """Every valid pool torch takes (padding at most half the kernel, at least one window):
    eval mode gives F.max_pool2d's values exactly; train mode is F.max_pool2d."""
    pad = (min(pad[0], kernel[0] // 2), min(pad[1], kernel[1] // 2))
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    try:
        want = F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil_mode)
    except RuntimeError:
        return  # torch refuses it (no window fits): so does the spec's shape inference
    with tempfile.TemporaryDirectory() as tmp:
        pool = separable_pool_class(Path(tmp))(kernel, stride, pad, ceil_mode)
    assert torch.equal(pool.eval()(x), want)
    assert torch.equal(pool.eval()(x.contiguous(memory_format=torch.channels_last)), want)
    assert torch.equal(pool.train()(x), want)


@pytest.mark.parametrize("name", ["googlenet.yaml", "inception-v3.yaml"])
def test_separable_option_makes_every_max_pool_separable_and_nothing_else(name, tmp_path):
    from incept.backends.torch import module_paths

    graph = build_graph(SPECS / name)
    module = torch_module(graph, tmp_path, f"opt_sep_{next(_names)}", ("separable_maxpool",))
    modules = dict(module.build().named_modules())
    kinds = {
        n.name: type(modules[module_paths(graph)[n.name]]).__name__
        for n in graph.nodes.values()
        if isinstance(n.attrs, ops.Pool)
    }
    want = {
        n: "SeparableMaxPool2d" if graph.nodes[n].attrs.kind == "max" else "AvgPool2d"  # type: ignore[union-attr]
        for n in kinds
    }
    assert kinds == want and "SeparableMaxPool2d" in kinds.values()
    plain = torch_module(graph, tmp_path, f"opt_plain_{next(_names)}")
    assert not hasattr(plain, "SeparableMaxPool2d") and not hasattr(plain, "_running_max")


def _captured(fn, x: torch.Tensor) -> list:
    """The functions dynamo captures when it compiles `fn` (run as captured: no kernels)."""
    captured: list = []

    def record(gm, inputs):
        captured.append(gm)
        return gm.forward

    torch._dynamo.reset()
    torch.compile(fn, backend=record, fullgraph=True)(x)
    return [n.target for gm in captured for n in gm.graph.nodes if n.op == "call_function"]


def test_separable_max_pool_takes_torchs_pooling_where_it_is_not_faster(tmp_path):
    """The separable maxima only in eager, eval-mode inference on channels-first CPU
    tensors; torch.compile, tracing, channels_last input and training run F.max_pool2d
    (issue 19: under torch.compile the separable module ran at 0.61x torchvision in bf16)."""
    cls = separable_pool_class(tmp_path)
    x = torch.randn(2, 8, 9, 9)
    want = F.max_pool2d(x, 3, 1, 1, ceil_mode=True)
    pool = cls(3, 1, 1, True).eval()
    calls: list[str] = []
    real = torch.maximum

    def counting(*args):
        calls.append("maximum")
        return real(*args)

    module = sys.modules[cls.__module__]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module.torch, "maximum", counting)
        assert torch.equal(pool(x), want) and calls  # eager, eval, CPU, NCHW: separable
        calls.clear()
        assert torch.equal(pool(x.contiguous(memory_format=torch.channels_last)), want)
        assert torch.equal(pool.train()(x), want)
        assert not calls
    pool.eval()
    assert _captured(pool, x) == [F.max_pool2d]  # torch.compile: no torch.maximum
    traced = torch.jit.trace(pool, x)
    kinds = [n.kind() for n in traced.graph.nodes()]
    assert "aten::max_pool2d" in kinds and "aten::maximum" not in kinds
    assert torch.equal(traced(x), want)
