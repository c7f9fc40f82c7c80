"""Inception-v4, Inception-ResNet and Xception against implementations nobody here wrote.

torch: timm's inception_v4, inception_resnet_v2 and legacy_xception (pretrained=False,
every weight and batch-norm statistic randomised) give their state_dict to the generated
module, which must compute their eval outputs. Keras: keras.applications'
InceptionResNetV2, Xception and InceptionV3 (weights=None, classifier_activation=None)
give their weights to the generated Keras model of the Keras-profile spec; then incept's
transfer hands them to the generated torch module. Parameter counts are exact.

Small inputs keep CI fast: 75x75 (71x71 for timm's Xception, the smallest each network
takes), one full-size 299x299 forward per timm network.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from genload import assert_sensitive, resized_spec

from incept.compiler.pipeline import build_graph

SPECS = Path(__file__).resolve().parent.parent / "specs"
TOLERANCE = 1e-5  # relative, fp32
_names = itertools.count()

#: spec -> (trainable parameters at 1,000 classes, Keras' count_params(): plus BN statistics)
COUNTS = {
    "inception-v4.yaml": (42_679_816, None),  # timm inception_v4
    "inception-resnet-v2.yaml": (55_843_464, None),  # timm inception_resnet_v2
    "inception-resnet-v2-keras.yaml": (55_813_192, 55_873_736),  # keras InceptionResNetV2
    "xception.yaml": (22_855_952, 22_910_480),  # timm legacy_xception; keras Xception
    "xception-keras.yaml": (22_855_952, 22_910_480),
    "inception-v3-keras.yaml": (23_817_352, 23_851_784),  # keras InceptionV3
    "inception-resnet-v1.yaml": (24_357_096, None),  # the paper's / facenet's widths
    "inception-resnet-v1-cifar.yaml": (5_527_322, None),
}


def _small(spec: str, size: int, optimize: tuple[str, ...] = ()):
    """The spec at size x size: a variant one `extends:` away, declared outputs dropped."""
    return build_graph(resized_spec(spec, size, Path(tempfile.mkdtemp())), optimize=optimize)


def _bn_channels(graph) -> int:
    return sum(n.shape[0] for n in graph.nodes.values() if getattr(n.attrs, "norm", None))


@pytest.mark.parametrize("spec", sorted(COUNTS))
def test_parameter_counts(spec):
    graph = build_graph(SPECS / spec)
    trainable, keras_count = COUNTS[spec]
    assert graph.params() == trainable
    if keras_count is not None:  # moving mean and variance per normalized channel
        assert graph.params() + 2 * _bn_channels(graph) == keras_count


def test_repeated_rows_and_residual_counts():
    graph = build_graph(SPECS / "inception-resnet-v2.yaml")
    rows = {r.name: r for r in graph.rows}
    assert [rows[n].repeat for n in ("repeat", "repeat_1", "repeat_2", "block8")] == [10, 20, 9, 1]
    block35 = rows["repeat"]
    assert len(block35.nodes) == 10 * len(block35.instance(0))
    # one Block35: 3 branches (7 conv units at 35x35) + the 128 -> 320 projection with bias
    assert sum(graph.nodes[n].params for n in block35.instance(0)) == 123_168
    adds = [graph.nodes[n].attrs for n in graph.nodes if n.endswith("_output")]
    scales = sorted({(a.scale, a.act) for a in adds if a.op == "add"})
    assert scales == [(0.1, "relu"), (0.17, "relu"), (0.2, "relu"), (1.0, "none")]


# -- torch: timm -----------------------------------------------------------------------


def _torch_module(graph, tmp_path):
    from genload import torch_module

    return torch_module(graph, tmp_path, f"gen_family_{next(_names)}").build().eval()


def _randomize(model) -> None:
    """Every float tensor of the state_dict, batch-norm statistics included, at scales
    that keep activations O(1) through the depth (He-uniform weights, norm scales on
    [0.5, 1.5]), so the outputs depend on the input and a wrong body shows in them
    (`assert_same_outputs`). Norm scales of 0.1 made the logits the last bias alone."""
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.dtype.is_floating_point:
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.dim() > 1:
                bound = (6.0 / tensor[0].numel()) ** 0.5
                tensor.copy_((torch.rand(tensor.shape, generator=gen) * 2 - 1) * bound)
            elif name.endswith("weight"):  # a norm's scale
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)


def assert_same_outputs(got, expected, tolerance: float = 1e-5) -> None:
    """`got` equals the reference's `expected` (a batch of two or more) within the
    relative `tolerance`, and the reference's outputs differ from one image to the next
    by a hundred times that: the comparison sees the whole network, not its last bias."""
    assert got.shape == expected.shape
    assert _rel(got, expected) < tolerance
    assert_sensitive(expected, tolerance)


@functools.cache
def _timm_model(name: str):
    """timm's `name`, randomised, eval mode: built once for the tests below (a 55M-parameter
    build and its randomisation cost more than the 75x75 forward that checks it)."""
    import timm

    model = timm.create_model(name, pretrained=False).eval()
    _randomize(model)
    return model


@pytest.fixture(scope="module", autouse=True)
def _drop_timm_models():
    yield
    _timm_model.cache_clear()


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _positional_keys(ours, theirs) -> dict[str, str]:
    """timm's inception_v4 numbers its rows inside one `features` nn.Sequential; the spec
    names them (conv1, ..., inception_a.0). Both state_dicts list the same tensors in the
    same module order: pair them by position, checking it is a bijection of equal shapes."""
    mine, timms = ours.state_dict(), theirs.state_dict()
    assert len(mine) == len(timms)
    pairs = dict(zip(timms, mine, strict=True))
    assert sorted(pairs.values()) == sorted(mine)  # onto, hence one to one
    for theirs_key, our_key in pairs.items():
        assert theirs_key.rsplit(".", 1)[1] == our_key.rsplit(".", 1)[1]  # weight <-> weight
        assert timms[theirs_key].shape == mine[our_key].shape, (theirs_key, our_key)
    return pairs


TIMM = [
    ("inception-resnet-v2.yaml", "inception_resnet_v2", 75),
    ("xception.yaml", "legacy_xception", 71),
    ("inception-v4.yaml", "inception_v4", 75),
]


@pytest.mark.parametrize("spec, name, size", TIMM, ids=[t[1] for t in TIMM])
def test_timm_state_dict_and_outputs(spec, name, size, tmp_path):
    pytest.importorskip("timm")
    import torch

    theirs = _timm_model(name)
    state = theirs.state_dict()
    ours = _torch_module(_small(spec, size), tmp_path)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    if name == "inception_v4":
        state = {mine: state[t] for t, mine in _positional_keys(ours, theirs).items()}
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x).numpy(), ours(x).numpy()
    assert_same_outputs(got, expected, TOLERANCE)


@pytest.mark.parametrize("spec, name, _size", TIMM, ids=[t[1] for t in TIMM])
def test_timm_full_size_forward(spec, name, _size, tmp_path):
    pytest.importorskip("timm")
    import torch

    theirs = _timm_model(name)
    ours = _torch_module(build_graph(SPECS / spec), tmp_path)
    state = theirs.state_dict()
    if name == "inception_v4":
        state = {mine: state[t] for t, mine in _positional_keys(ours, theirs).items()}
    ours.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 299, 299, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = theirs(x).numpy(), ours(x).numpy()
    assert got.shape == (1, 1000)
    assert _rel(got, expected) < TOLERANCE


def test_timm_xception_loads_into_the_folded_module(tmp_path):
    """fold_bn: legacy_xception's state_dict loads strictly into the optimized module, its
    34 norms after a separable conv folding into the pointwise convs as it loads; the eval
    outputs stay timm's."""
    pytest.importorskip("timm")
    import torch

    theirs = _timm_model("legacy_xception")
    ours = _torch_module(_small("xception.yaml", 71, ("fold_bn",)), tmp_path)
    assert sum(isinstance(m, torch.nn.Identity) for m in ours.modules()) == 34
    ours.load_state_dict(theirs.state_dict(), strict=True)
    counts = [sum(p.numel() for p in m.parameters()) for m in (theirs, ours)]
    assert counts == [22_855_952, 22_830_920]
    x = torch.randn(2, 3, 71, 71, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x).numpy(), ours(x).numpy()
    assert_same_outputs(got, expected, TOLERANCE)


def test_timm_strict_keys_are_timms():
    """Inception-ResNet-v2 and Xception need no key map: the spec's names are timm's."""
    pytest.importorskip("timm")
    from incept.backends.torch import weight_modules

    for spec, name in (
        ("inception-resnet-v2.yaml", "inception_resnet_v2"),
        ("xception.yaml", "legacy_xception"),
    ):
        keys = set(_timm_model(name).state_dict())  # the keys of timm's fresh model
        paths = {
            p
            for parts in weight_modules(build_graph(SPECS / spec)).values()
            for p in parts.values()
        }
        assert {k.rsplit(".", 1)[0] for k in keys if not k.endswith("num_batches_tracked")} == paths


# -- Keras: keras.applications ------------------------------------------------------------


KERAS = [
    ("inception-resnet-v2-keras.yaml", "InceptionResNetV2"),
    ("xception-keras.yaml", "Xception"),
    ("inception-v3-keras.yaml", "InceptionV3"),
]


@pytest.mark.parametrize("spec, app", KERAS, ids=[k[1] for k in KERAS])
def test_keras_applications_weights_and_outputs(spec, app, tmp_path):
    import keras
    import torch._dynamo  # noqa: F401  before TensorFlow (tests/kerasagree.py says why)
    from kerasagree import keras_module, torch_outputs

    from incept.backends.transfer import keras_to_torch

    size = 75
    graph = _small(spec, size)
    ref = getattr(keras.applications, app)(
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    ours = keras_module(graph, tmp_path, f"gen_family_keras_{next(_names)}").build()
    assert ours.count_params() == ref.count_params()
    rng = np.random.default_rng(0)
    for w in ref.weights:  # random weights, non-trivial statistics
        shape = tuple(w.shape)
        if "moving_variance" in w.path:
            value = rng.random(shape) + 0.5
        elif len(shape) > 1:
            fan_in = np.prod(shape[:2] if "depthwise" in w.path else shape[:-1])
            value = (rng.random(shape) * 2 - 1) * np.sqrt(6.0 / fan_in)
        else:
            value = rng.standard_normal(shape) * 0.1 + ("gamma" in w.path)
        w.assign(value.astype("float32"))
    if app == "Xception":
        by_name = {layer.name: layer for layer in ours.layers}
        from incept.runtime.pretrained import SOURCES  # the map pretrained="keras" loads with

        layer_names = SOURCES["xception_keras"]["keras"].layer_names
        assert layer_names is not None
        mapping = layer_names([layer.name for layer in ref.layers])
        for layer in ref.layers:
            if layer.weights:
                for mine, theirs in zip(
                    by_name[mapping[layer.name]].weights, layer.weights, strict=True
                ):
                    mine.assign(theirs)
    else:  # one functional graph built in the same order: the same weights, in order
        assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in ref.weights]
        for mine, theirs in zip(ours.weights, ref.weights, strict=True):
            mine.assign(theirs)
    x = rng.standard_normal((2, size, size, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(ref(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    assert_same_outputs(got, expected, TOLERANCE)
    from genload import torch_module

    module = torch_module(graph, tmp_path, f"gen_family_torch_{next(_names)}").build()
    keras_to_torch(graph, ours, module)
    assert sum(p.numel() for p in module.parameters()) == graph.params()
    through = torch_outputs(graph, module, x.transpose(0, 3, 1, 2))[0]
    assert_same_outputs(through, expected, TOLERANCE)
