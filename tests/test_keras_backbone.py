"""Generated Keras builders as backbones: include_top, pooling, input_shape and
classifier_activation against keras.applications.InceptionV3 (weights=None, random
weights copied over in order), same shapes and outputs to 1e-5 relative; transform_input
against the torch module's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from genload import shipped  # noqa: E402
from kerasagree import keras_module  # noqa: E402

TOLERANCE = 1e-5
SIZE = 139  # not the spec's 299: input_shape is exercised everywhere
_names = itertools.count()


@pytest.fixture(scope="module")
def inception_v3(tmp_path_factory):
    return keras_module(
        shipped("inception-v3-keras.yaml"), tmp_path_factory.mktemp("kb"), "gen_keras_backbone"
    )


def _random_weights(model) -> None:
    rng = np.random.default_rng(0)
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path:
            value = rng.random(shape) + 0.5
        elif len(shape) > 1:
            value = (rng.random(shape) * 2 - 1) * np.sqrt(6.0 / np.prod(shape[:-1]))
        else:
            value = rng.standard_normal(shape) * 0.1
        w.assign(value.astype("float32"))


def _pair(module, classes: int = 1000, **kwargs):
    shape = (SIZE, SIZE, 3)
    ref = keras.applications.InceptionV3(weights=None, input_shape=shape, classes=classes, **kwargs)
    ours = module.build(classes, input_shape=shape, **kwargs)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in ref.weights]
    _random_weights(ref)
    for mine, theirs in zip(ours.weights, ref.weights, strict=True):
        mine.assign(theirs)
    x = np.random.default_rng(1).standard_normal((2, SIZE, SIZE, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(ref(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    return got, expected


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("pooling, shape", [("avg", (2, 2048)), ("max", (2, 2048))])
def test_include_top_false_pooling(inception_v3, pooling, shape):
    got, expected = _pair(inception_v3, include_top=False, pooling=pooling)
    assert got.shape == expected.shape == shape
    assert _rel(got, expected) < TOLERANCE


def test_include_top_false_feature_map(inception_v3):
    got, expected = _pair(inception_v3, include_top=False)
    assert got.shape == expected.shape == (2, 3, 3, 2048)
    assert _rel(got, expected) < TOLERANCE


def test_include_top_with_classifier_activation(inception_v3):
    got, expected = _pair(inception_v3, classes=10, classifier_activation="softmax")
    assert got.shape == expected.shape == (2, 10)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)  # softmax, not logits
    assert _rel(got, expected) < TOLERANCE


def test_bad_arguments_are_one_clear_error(inception_v3):
    with pytest.raises(ValueError, match=r"input_shape \(32, 32, 3\) is too small"):
        inception_v3.build(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, 3\)"):
        inception_v3.build(input_shape=(139, 139, 1))
    with pytest.raises(ValueError, match="pooling must be None, 'avg' or 'max', not 'sum'"):
        inception_v3.build(include_top=False, pooling="sum")


def test_googlenet_aux_heads_need_the_top(tmp_path):
    module = keras_module(shipped("googlenet.yaml"), tmp_path, f"gen_kb_{next(_names)}")
    features = module.build(include_top=False, aux_logits=False)
    assert tuple(features.output.shape) == (None, 7, 7, 1024)
    pooled = module.build(include_top=False, aux_logits=False, pooling="max")
    assert tuple(pooled.output.shape) == (None, 1024)
    assert module.build(aux_logits=False).count_params() - pooled.count_params() == 1025 * 1000
    with pytest.raises(ValueError, match="aux_logits needs include_top=True"):
        module.build(include_top=False, aux_logits=True)


def test_transform_input_as_the_torch_module(tmp_path):
    """googlenet-torchvision's Keras builder re-scales ImageNet-normalised input per channel
    (channels last) as the torch module's transform_input does; off unless asked for; a
    spec that does not ask has no such option."""
    import inspect

    torch = pytest.importorskip("torch")
    from genload import torch_module

    graph = shipped("googlenet-torchvision.yaml")
    module = keras_module(graph, tmp_path, f"gen_kb_{next(_names)}")
    model = module.build(aux_logits=False, input_shape=(64, 64, 3), transform_input=True)
    rescale = keras.Model(model.input, model.get_layer("input_transform").output)
    x = np.random.default_rng(2).standard_normal((2, 64, 64, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(rescale(x))
    torch_side = torch_module(graph, tmp_path, f"gen_kb_{next(_names)}")
    expected = torch_side._transform_input(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(got, expected.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-7)
    assert not np.allclose(got, x, atol=0.1)
    names = [layer.name for layer in module.build(aux_logits=False).layers]
    assert "input_transform" not in names  # off by default
    other = keras_module(shipped("googlenet.yaml"), tmp_path, f"gen_kb_{next(_names)}")
    assert "transform_input" not in inspect.signature(other.build).parameters
