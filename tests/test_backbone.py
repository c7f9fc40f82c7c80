"""Generated torch modules as backbones: forward_features, forward_head, reset_classifier
and transform_input, against torchvision's googlenet / inception_v3 and timm's models.

Reference models have random weights (every tensor and batch-norm statistic randomised),
no download; their state_dict loads into the generated module, which must then compute
their outputs (eval mode) to 1e-5 relative.
"""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from genload import shipped, torch_module  # noqa: E402
from test_family import _positional_keys, _randomize, _rel, _small, assert_same_outputs  # noqa: E402

TOLERANCE = 1e-5
_names = itertools.count()


def _module(graph, tmp_path):
    return torch_module(graph, tmp_path, f"gen_backbone_{next(_names)}")


def _input(n: int, size: int, seed: int = 1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# -- transform_input against torchvision ---------------------------------------------------

TORCHVISION = [
    ("googlenet-torchvision.yaml", "googlenet", 224),
    ("inception-v3.yaml", "inception_v3", 299),
]


def _first_conv_outputs(model, x):
    """forward(x) and the first convolution's output (random deep nets forget their input:
    the stem shows what transform_input did)."""
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    seen = []
    handle = first.register_forward_hook(lambda _m, _args, out: seen.append(out))
    with torch.no_grad():
        out = model(x)
    handle.remove()
    return out.numpy(), seen[0].numpy()


@pytest.mark.parametrize("spec, name, size", TORCHVISION, ids=[t[1] for t in TORCHVISION])
def test_transform_input_matches_torchvision(spec, name, size, tmp_path):
    models = pytest.importorskip("torchvision.models")
    theirs = getattr(models, name)(
        weights=None, aux_logits=True, transform_input=True, init_weights=False
    ).eval()
    _randomize(theirs)
    module = _module(shipped(spec), tmp_path)
    ours = module.build(transform_input=True).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _input(1, size)
    expected, expected_stem = _first_conv_outputs(theirs, x)
    got, got_stem = _first_conv_outputs(ours, x)
    assert got.shape == (1, 1000)
    assert _rel(got, expected) < TOLERANCE
    assert _rel(got_stem, expected_stem) < TOLERANCE
    ours.transform_input = False
    assert _rel(_first_conv_outputs(ours, x)[1], expected_stem) > 0.1  # the option did it
    assert module.build().transform_input is False  # off unless asked for


def test_transform_input_only_where_the_spec_asks(tmp_path):
    import inspect

    module = _module(shipped("googlenet.yaml"), tmp_path)
    assert "transform_input" not in inspect.signature(module.build).parameters
    assert not hasattr(module.build(), "transform_input")


# -- forward_features / forward_head against timm -------------------------------------------

TIMM = [
    ("inception-v3.yaml", "inception_v3", 299, 2048),  # its aux head needs 299
    ("inception-v4.yaml", "inception_v4", 75, 1536),
    ("inception-resnet-v2.yaml", "inception_resnet_v2", 75, 1536),
    ("xception.yaml", "legacy_xception", 71, 2048),
]


def _timm_pair(spec, name, size, tmp_path):
    timm = pytest.importorskip("timm")
    theirs = timm.create_model(name, pretrained=False).eval()
    _randomize(theirs)
    ours = _module(_small(spec, size), tmp_path).build(aux_logits=False).eval()
    state = theirs.state_dict()
    if name == "inception_v4":
        state = {mine: state[t] for t, mine in _positional_keys(ours, theirs).items()}
    ours.load_state_dict(state, strict=True)
    return theirs, ours


@pytest.mark.parametrize("spec, name, size, features", TIMM, ids=[t[1] for t in TIMM])
def test_forward_features_matches_timm(spec, name, size, features, tmp_path):
    theirs, ours = _timm_pair(spec, name, size, tmp_path)
    x = _input(2, size)
    with torch.no_grad():
        expected = theirs.forward_head(theirs.forward_features(x), pre_logits=True).numpy()
        got = ours.forward_features(x)
        assert got.shape == (2, features)
        assert_same_outputs(got.numpy(), expected, TOLERANCE)
        assert torch.equal(ours.forward_head(got, pre_logits=True), got)  # eval: no dropout
        assert torch.equal(ours.forward_head(got), ours(x))


@pytest.mark.parametrize("spec, name, size, features", TIMM, ids=[t[1] for t in TIMM])
def test_reset_classifier_as_timm(spec, name, size, features, tmp_path):
    theirs, ours = _timm_pair(spec, name, size, tmp_path)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    x = _input(2, size)
    with torch.no_grad():
        pooled = ours.forward_features(x)
    theirs.reset_classifier(7)
    ours.reset_classifier(7)
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    timm_shapes = [tuple(v.shape) for v in theirs.state_dict().values()]
    assert sorted(shapes.values()) == sorted(timm_shapes)
    changed = sorted(k for k in before if shapes[k] != tuple(before[k].shape))
    assert len(changed) == 2 and {shapes[k] for k in changed} == {(7, features), (7,)}
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in before.items() if k not in changed)
    with torch.no_grad():
        assert torch.equal(ours.forward_features(x), pooled)
        assert ours(x).shape == (2, 7)
    # 0: no classifier (nn.Identity), forward returns the pooled features, as timm's does
    theirs.reset_classifier(0)
    ours.reset_classifier(0)
    assert isinstance(ours.get_submodule(changed[0].rsplit(".", 1)[0]), torch.nn.Identity)
    assert sorted(ours.state_dict()) == sorted(k for k in before if k not in changed)
    with torch.no_grad():
        expected = theirs(x).numpy()
        got = ours(x)
    assert got.shape == expected.shape == (2, features)
    assert_same_outputs(got.numpy(), expected, TOLERANCE)
    assert torch.equal(got, pooled)


def test_reset_classifier_to_features_with_aux_heads_as_timm(tmp_path):
    """inception_v3 with its aux head: reset_classifier(0) makes the head's last layer an
    nn.Identity as timm does, so in training it returns the 768 features before it (the
    head has no dropout: its outputs compare; the main path's dropout differs from timm's)."""
    timm = pytest.importorskip("timm")
    theirs = timm.create_model("inception_v3", pretrained=False, aux_logits=True)
    _randomize(theirs)
    ours = _module(shipped("inception-v3.yaml"), tmp_path).build(aux_logits=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.reset_classifier(0)
    ours.reset_classifier(0)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert "AuxLogits.fc.weight" not in ours.state_dict()
    x = _input(2, 299)
    with torch.no_grad():
        expected = theirs.train()(x)[1].numpy()
        got = ours.train()(x).aux_logits.numpy()
    assert got.shape == expected.shape == (2, 768)
    assert_same_outputs(got, expected, TOLERANCE)


def test_reset_classifier_replaces_the_aux_heads(tmp_path):
    """googlenet-torchvision: fc, aux1.fc2 and aux2.fc2 become 5-way; training outputs too."""
    model = _module(shipped("googlenet-torchvision.yaml"), tmp_path).build()
    model.reset_classifier(5)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["fc.weight"] == (5, 1024)
    assert shapes["aux1.fc2.weight"] == shapes["aux2.fc2.weight"] == (5, 1024)
    assert shapes["aux1.fc1.weight"] == (1024, 2048)  # the rest of the head stays
    outputs = model.train()(_input(2, 224))
    assert [tuple(o.shape) for o in outputs] == [(2, 5)] * 3
    model.reset_classifier(0)  # no classifiers: each output is its last layer's input
    assert not any(k.startswith(("fc.", "aux1.fc2.", "aux2.fc2.")) for k in model.state_dict())
    outputs = model.train()(_input(2, 224))
    assert [tuple(o.shape) for o in outputs] == [(2, 1024)] * 3
    with pytest.raises(ValueError, match="num_classes must be 0 or more, not -1"):
        model.reset_classifier(-1)


def test_forward_features_is_what_the_classifier_sees(tmp_path):
    """googlenet (Caffe's layout: pool5, dropout, flatten, fc): in eval mode forward_features
    is the classifier's input, taken by a hook on fc; forward = forward_head after it."""
    model = _module(shipped("googlenet.yaml"), tmp_path).build(aux_logits=False).eval()
    seen = []
    model.fc.register_forward_pre_hook(lambda _module, args: seen.append(args[0]))
    x = _input(2, 224)
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
    assert features.shape == (2, 1024)
    assert torch.equal(seen[0], features)
    assert torch.equal(model.forward_head(features), logits)


def test_reset_classifier_keeps_a_bias_free_classifier(tmp_path):
    from incept.compiler.pipeline import build_graph

    spec = tmp_path / "nobias.yaml"
    spec.write_text(
        "name: nobias\ninput: {channels: 3, size: 8}\nnum_classes: 4\nlayers:\n"
        "  - {name: conv1, op: conv, out: 4, kernel: 3}\n"
        "  - {name: pool, op: adaptive_avgpool, size: 1}\n"
        "  - {name: flatten, op: flatten}\n"
        "  - {name: fc, op: linear, out: 4, bias: false}\n"
    )
    model = _module(build_graph(spec), tmp_path).build()
    model.reset_classifier(6)
    assert sorted(model.state_dict()) == ["conv1.conv.bias", "conv1.conv.weight", "fc.weight"]
    assert model.eval()(_input(2, 8)).shape == (2, 6)
    assert model.forward_features(_input(2, 8)).shape == (2, 4)
