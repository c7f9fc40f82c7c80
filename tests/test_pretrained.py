"""`incept.create_model(..., pretrained=SOURCE)` against the libraries' own loaders, offline.

Each library's reference model with random weights (torchvision and timm with every
weight and batch-norm statistic randomised, keras.applications with weights=None and
randomised statistics) is saved where that library's loader looks for its download:
torch.hub's TORCH_HOME/hub/checkpoints/<the URL's file name>, the Hugging Face cache's
models--timm--<name>/snapshots/<revision>/model.safetensors with refs/main naming the
revision, KERAS_HOME/models/<keras.applications' file name> in Keras' legacy h5 format.
So the real loading code runs, without a network, and the incept model must compute
the reference's eval outputs to 1e-5 relative. Then paths, files that do not fit and a
pickle that would run code, through every path that reads weights.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_family import _randomize, _rel, assert_same_outputs

import incept
from incept.compiler.errors import UserError
from incept.runtime import pretrained
from incept.runtime.data import WHOLE, Resize

TOLERANCE = 1e-5  # relative, fp32
CROSS = 1e-4  # relative, torch weights in a Keras model (the backends' agreement tests')


def _small(spec: str, size: int) -> dict:
    """The spec at size x size as a mapping (its name, hence its sources, kept)."""
    return {"extends": spec, "input": {"size": size}, "patch": [{"row": "*", "unset": ["output"]}]}


def _outputs(model, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(x).numpy()


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """torch.hub's cache (TORCH_HOME/hub/checkpoints), empty."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face hub cache, offline (huggingface_hub reads the variable when
    it is imported, so its constant is set too)."""
    import huggingface_hub.constants

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def _canary_pickle(path: Path, canary: Path) -> None:
    """A torch file whose unpickling would create `canary`."""

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {canary}",))

    torch.save({"conv1.conv.weight": Evil()}, path)


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    text = str(err.value)
    assert "\n" not in text, text
    for part in parts:
        assert part in text, text
    return text


# -- the input each library's weights expect ---------------------------------------------

KERAS_MODULES = {
    "InceptionV3": "inception_v3",
    "InceptionResNetV2": "inception_resnet_v2",
    "Xception": "xception",
}


def _library_input(source: str, name: str) -> tuple[tuple[float, ...], tuple[float, ...], Resize]:
    """(mean, std) per RGB channel on [0, 1] and the evaluation's centre crop and filter
    as the library itself states them: torchvision's weights transforms, timm's
    pretrained_cfg, keras.applications' preprocess_input (solved from what it makes of 0
    and 255; it prescribes no crop)."""
    if source == "torchvision":
        from torchvision.models import get_model_weights

        transform = get_model_weights(name).DEFAULT.transforms()
        crop = transform.crop_size[0] / transform.resize_size[0]
        resize = Resize(crop, transform.interpolation.value)
        return tuple(transform.mean), tuple(transform.std), resize
    if source == "timm":
        import timm.models

        cfg = timm.models.get_pretrained_cfg(name)
        return tuple(cfg.mean), tuple(cfg.std), Resize(cfg.crop_pct, cfg.interpolation)
    import importlib

    module = importlib.import_module(f"keras.applications.{KERAS_MODULES[name]}")
    low, high = np.asarray(module.preprocess_input(np.array([[[0.0] * 3, [255.0] * 3]])))[0]
    std = 1.0 / (high - low)  # (x - mean) / std at x = 0 and 1
    return tuple(-low * std), tuple(std), WHOLE


@pytest.mark.parametrize(
    "spec_name, source",
    [(spec, source) for spec, table in pretrained.SOURCES.items() for source in table],
)
def test_each_source_preprocesses_as_its_library_says(spec_name, source):
    """The mean and std a run, eval or predict normalises with for a library's weights
    (timm's Inception ports take x / 127.5 - 1, not ImageNet's statistics), and the
    centre crop and filter eval and predict resize image files with for them (timm's
    bicubic, torchvision's bilinear)."""
    pytest.importorskip(source)
    reference = pretrained.SOURCES[spec_name][source]
    mean, std, resize = _library_input(source, reference.name)
    np.testing.assert_allclose(reference.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(reference.std, std, rtol=1e-6)
    assert reference.resize == resize


# -- torchvision -------------------------------------------------------------------------

TORCHVISION = [("googlenet-torchvision", "googlenet", 64), ("inception-v3", "inception_v3", 75)]


def _torchvision_file(name: str, folder: Path) -> Path:
    """Where torch.hub keeps torchvision's default weights: the URL's file name."""
    from torchvision.models import get_model_weights

    return folder / os.path.basename(get_model_weights(name).DEFAULT.url)


@pytest.mark.parametrize("spec, name, size", TORCHVISION, ids=[t[1] for t in TORCHVISION])
def test_torchvision(spec, name, size, torch_home):
    torchvision = pytest.importorskip("torchvision")
    reference = getattr(torchvision.models, name)(weights=None, aux_logits=True, init_weights=False)
    _randomize(reference)
    torch.save(reference.state_dict(), _torchvision_file(name, torch_home))
    ours = incept.create_model(spec, pretrained="torchvision")
    # torchvision switches transform_input on with its weights; incept's loader does where
    # the generated module offers it (a builder option), and the reference follows
    reference.transform_input = bool(getattr(ours, "transform_input", False))
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    expected = _outputs(reference, x)
    assert_same_outputs(_outputs(ours, x), expected, TOLERANCE)
    fresh = incept.create_model(spec)  # not the reference's outputs without the weights
    assert _rel(_outputs(fresh, x), expected) > 0.1


def test_pretrained_true_is_the_specs_own_library(torch_home):
    """timm's spelling: True loads the one library whose weights fit the spec (googlenet's
    torchvision here), False is no weights; a spec that none fits is one line."""
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    _randomize(reference)
    torch.save(reference.state_dict(), _torchvision_file("googlenet", torch_home))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    named = _outputs(incept.create_model("googlenet-torchvision", pretrained="torchvision"), x)
    assert np.array_equal(
        _outputs(incept.create_model("googlenet_torchvision", pretrained=True), x), named
    )
    torch.manual_seed(0)
    unloaded = incept.create_model("googlenet-torchvision", pretrained=False).state_dict()
    torch.manual_seed(0)
    fresh = incept.create_model("googlenet-torchvision").state_dict()
    assert all(torch.equal(unloaded[k], fresh[k]) for k in fresh)
    assert [pretrained.library_for(n, b) for n, b in [
        ("inception_v3", "keras"), ("xception", "torch"), ("xception_keras", "torch")
    ]] == ["torchvision", "timm", "keras"]  # fmt: skip
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet", pretrained=True)
    _one_line(
        err,
        "pretrained=True: error[pretrained]: no library's weights fit the spec named 'googlenet'",
    )


def test_torchvision_at_another_class_count(torch_home):
    """Everything but the classifiers loads; they keep their fresh initialisation, and a
    warning names them."""
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    _randomize(reference)
    torch.save(reference.state_dict(), _torchvision_file("googlenet", torch_home))
    with pytest.warns(UserWarning) as record:
        ours = incept.create_model("googlenet-torchvision", num_classes=7, pretrained="torchvision")
    assert [str(w.message) for w in record] == [
        "pretrained='torchvision': fc.weight, fc.bias, aux1.fc2.weight, aux1.fc2.bias, "
        "aux2.fc2.weight, aux2.fc2.bias keep their fresh initialisation: the model has 7 "
        "classes, the weights another count"
    ]
    assert record[0].filename == __file__  # the warning points at the caller
    theirs, mine = reference.state_dict(), ours.state_dict()
    assert tuple(mine["fc.weight"].shape) == (7, 1024)
    fresh = {"aux1.fc2.weight", "aux1.fc2.bias", "aux2.fc2.weight", "aux2.fc2.bias"}
    fresh |= {"fc.weight", "fc.bias"}
    assert set(mine) == set(theirs)
    for key in set(mine) - fresh:
        assert torch.equal(mine[key], theirs[key]), key
    # aux heads off: their weights are left out of the model, without a complaint
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bare = incept.create_model(
            "googlenet-torchvision", aux_logits=False, pretrained="torchvision"
        )
    assert not any(k.startswith("aux") for k in bare.state_dict())


def _keras_outputs(model, x: torch.Tensor) -> np.ndarray:
    """The Keras model's eval outputs (its first: the logits) for the NCHW batch `x`."""
    import keras

    out = model(x.numpy().transpose(0, 2, 3, 1), training=False)
    return keras.ops.convert_to_numpy(out[0] if isinstance(out, list) else out)


def _keras_stem(model, x: torch.Tensor) -> np.ndarray:
    """The output of the Keras model's first convolution, NCHW (random deep nets forget
    their input: the stem shows what transform_input did)."""
    import keras

    first = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    stem = keras.Model(model.input, first.output)
    out = stem(x.numpy().transpose(0, 2, 3, 1), training=False)
    return keras.ops.convert_to_numpy(out).transpose(0, 3, 1, 2)


def test_torchvision_into_keras(torch_home):
    """torchvision's googlenet weights through incept's torch -> Keras transfer, with
    transform_input on in the Keras builder as in torchvision's: its eval logits and stem;
    its pooled features with include_top=False; a classifier of another width stays fresh."""
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(
        weights=None, aux_logits=True, transform_input=True, init_weights=False
    )
    _randomize(reference)
    torch.save(reference.state_dict(), _torchvision_file("googlenet", torch_home))
    small = _small("googlenet-torchvision", 64)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    expected = _outputs(reference, x)
    ours = incept.create_model(small, backend="keras", pretrained="torchvision")
    assert len(ours.outputs) == 3  # the aux heads' weights came too
    assert "input_transform" in [layer.name for layer in ours.layers]
    assert_same_outputs(_keras_outputs(ours, x), expected, CROSS)
    stem: list[torch.Tensor] = []
    reference.conv1.conv.register_forward_hook(lambda _m, _args, out: stem.append(out))
    _outputs(reference, x)
    assert _rel(_keras_stem(ours, x), stem[0].detach().numpy()) < CROSS
    plain = incept.create_model(
        small, backend="keras", pretrained="torchvision", transform_input=False
    )
    assert _rel(_keras_stem(plain, x), stem[0].detach().numpy()) > 0.1  # the option did it
    fresh = incept.create_model(small, backend="keras")
    assert _rel(_keras_outputs(fresh, x), expected) > 0.1
    reference.fc = torch.nn.Identity()
    features = incept.create_model(
        small, backend="keras", aux_logits=False, pretrained="torchvision",
        include_top=False, pooling="avg",
    )  # fmt: skip
    got, expected = _keras_outputs(features, x), _outputs(reference, x)
    assert got.shape == expected.shape == (2, 1024)
    assert _rel(got, expected) < CROSS
    with pytest.warns(UserWarning) as record:
        seven = incept.create_model(
            small, backend="keras", num_classes=7, aux_logits=False, pretrained="torchvision"
        )
    assert [str(w.message) for w in record] == [
        "pretrained='torchvision': fc.weight, fc.bias keep their fresh initialisation: the "
        "model has 7 classes, the weights another count"
    ]
    assert record[0].filename == __file__
    assert _keras_outputs(seven, x).shape == (2, 7)


# -- timm --------------------------------------------------------------------------------

TIMM = [  # spec, timm's model, input size, pooled features
    ("inception-v4", "inception_v4", 75, 1536),
    ("inception-resnet-v2", "inception_resnet_v2", 75, 1536),
    ("xception", "legacy_xception", 71, 2048),
]


def _timm_cache(model, hf_cache: Path, torch_home: Path) -> Path:
    """`model`'s weights where timm's loader finds its pretrained ones: the Hugging Face
    cache for hub-hosted weights, torch.hub's for a URL (legacy_xception)."""
    from safetensors.torch import save_file

    config = model.pretrained_cfg
    if not config.get("hf_hub_id"):
        path = torch_home / os.path.basename(config["url"])
        torch.save(model.state_dict(), path)
        return path
    repo = hf_cache / f"models--{config['hf_hub_id'].replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    path = repo / "snapshots" / revision / "model.safetensors"
    path.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("spec, name, size, features", TIMM, ids=[t[1] for t in TIMM])
def test_timm(spec, name, size, features, hf_cache, torch_home):
    timm = pytest.importorskip("timm")
    reference = timm.create_model(name, pretrained=False)
    _randomize(reference)
    _timm_cache(reference, hf_cache, torch_home)
    ours = incept.create_model(spec, pretrained="timm")
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    expected = _outputs(reference, x)
    assert_same_outputs(_outputs(ours, x), expected, TOLERANCE)
    # without a classifier (timm's reset_classifier(0)): the same pooled features
    reference.reset_classifier(0)
    ours.reset_classifier(0)
    expected, got = _outputs(reference, x), _outputs(ours, x)
    assert got.shape == expected.shape == (2, features)
    assert _rel(got, expected) < TOLERANCE


def test_timm_into_keras(hf_cache, torch_home):
    """timm's inception_v4, whose tensors pair with the spec's by position, into Keras."""
    timm = pytest.importorskip("timm")
    reference = timm.create_model("inception_v4", pretrained=False)
    _randomize(reference)
    _timm_cache(reference, hf_cache, torch_home)
    ours = incept.create_model(_small("inception-v4", 75), backend="keras", pretrained="timm")
    x = torch.randn(1, 3, 75, 75, generator=torch.Generator().manual_seed(5))
    assert _rel(_keras_outputs(ours, x), _outputs(reference, x)) < CROSS


def test_timm_without_its_file_is_one_line(hf_cache):
    pytest.importorskip("timm")
    with pytest.raises(UserError) as err:
        incept.create_model("inception-v4", pretrained="timm")
    _one_line(err, "pretrained='timm': error[pretrained]: timm could not load inception_v4's")


# -- keras.applications ------------------------------------------------------------------

KERAS = [
    ("inception-v3-keras", "InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    (
        "inception-resnet-v2-keras",
        "InceptionResNetV2",
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
    ),
    ("xception-keras", "Xception", "xception_weights_tf_dim_ordering_tf_kernels.h5"),
]
KERAS_SIZE = 75


def _keras_reference(app: str, keras_home: Path | None, file: str):
    """keras.applications' `app` with random weights and statistics; with `keras_home`,
    saved as keras.applications' download (Keras' legacy h5 weights format)."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    reference = getattr(keras.applications, app)(
        weights=None, input_shape=(KERAS_SIZE, KERAS_SIZE, 3), classifier_activation=None
    )
    rng = np.random.default_rng(0)
    for w in reference.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path:
            w.assign((rng.random(shape) + 0.5).astype("float32"))
        elif len(shape) == 1:
            w.assign((rng.standard_normal(shape) * 0.1 + ("gamma" in w.path)).astype("float32"))
    if keras_home is not None:
        (keras_home / "models").mkdir(parents=True, exist_ok=True)
        with h5py.File(keras_home / "models" / file, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    return reference


@pytest.mark.parametrize("spec, app, file", KERAS, ids=[k[1] for k in KERAS])
def test_keras(spec, app, file, tmp_path, monkeypatch):
    """Into the Keras model, and into the torch module through incept's transfer."""
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    reference = _keras_reference(app, tmp_path / "keras", file)
    x = np.random.default_rng(1).standard_normal((1, KERAS_SIZE, KERAS_SIZE, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    assert np.linalg.norm(expected) > 0
    small = _small(spec, KERAS_SIZE)
    ours = incept.create_model(small, backend="keras", pretrained="keras")
    assert _rel(keras.ops.convert_to_numpy(ours(x, training=False)), expected) < TOLERANCE
    module = incept.create_model(small, pretrained="keras")
    got = _outputs(module, torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    assert _rel(got, expected) < TOLERANCE


def test_keras_without_its_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr("urllib.request.urlretrieve", _no_network)
    with pytest.raises(UserError) as err:
        incept.create_model("inception-v3-keras", backend="keras", pretrained="keras")
    _one_line(err, "pretrained='keras': error[pretrained]: keras could not load InceptionV3's")


def _no_network(*args, **kwargs):
    raise OSError("no network in tests")


# -- paths -------------------------------------------------------------------------------


def _googlenet_state() -> dict:
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    _randomize(reference)
    return reference.state_dict()


def test_a_state_dict_file_and_an_incept_checkpoint(tmp_path):
    from incept.runtime.torch import checkpoint

    state = _googlenet_state()
    plain = tmp_path / "weights.pth"
    torch.save(state, plain)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"backend": "torch"}')
    checkpoint.save(run / "checkpoints" / "last.pt", {"model": state})
    for source in (plain, str(plain), run / "checkpoints" / "last.pt", run):
        ours = incept.create_model("googlenet-torchvision", pretrained=source)
        mine = ours.state_dict()
        assert all(torch.equal(mine[k], v) for k, v in state.items()), source


@pytest.mark.parametrize(
    "spec_name, source",
    [(spec, source) for spec, table in pretrained.SOURCES.items() for source in table],
)
def test_data_config_is_each_librarys_own_preprocessing(spec_name, source):
    """incept.data_config gives what the library itself states (the mean and std its
    weights take, the crop and filter it evaluates with) for the model create_model
    builds with those weights: torchvision's transform_input is switched on in it, so
    its images are ImageNet-normalised as torchvision's own transforms normalise them."""
    pytest.importorskip(source)
    backend = "keras" if source == "keras" else "torch"
    config = incept.data_config(spec_name, source, backend=backend)
    mean, std, resize = _library_input(source, pretrained.SOURCES[spec_name][source].name)
    np.testing.assert_allclose(config["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(config["std"], std, rtol=1e-6)
    assert (config["crop_pct"], config["interpolation"]) == (resize.crop_pct, resize.interpolation)
    from incept.compiler.pipeline import build_graph
    from incept.compiler.spec import catalog

    c, h, w = build_graph(catalog.find(spec_name)).input.shape
    assert config["input_size"] == ((h, w, c) if backend == "keras" else (c, h, w))


def test_data_config_feeds_the_created_model_as_the_library_feeds_its_own(torch_home, tmp_path):
    """An image on [0, 1] normalised with data_config's mean and std gives the created
    model the logits torchvision's googlenet gives for the image normalised by
    torchvision's weights transforms; a run gives its data's statistics; a weights
    file, which records none, is one line."""
    from torchvision.models import GoogLeNet_Weights, googlenet
    from torchvision.transforms.functional import normalize

    reference = googlenet(weights=None, aux_logits=True, init_weights=False)
    _randomize(reference)
    torch.save(reference.state_dict(), _torchvision_file("googlenet", torch_home))
    reference.eval().transform_input = True  # as torchvision builds it with its weights
    config = incept.data_config("googlenet-torchvision")  # True: torchvision's
    ours = incept.create_model("googlenet-torchvision", pretrained=True).eval()
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    theirs = GoogLeNet_Weights.IMAGENET1K_V1.transforms()
    mean, std = torch.tensor(config["mean"]), torch.tensor(config["std"])
    with torch.no_grad():
        want = reference(normalize(image, theirs.mean, theirs.std)).numpy()
        got = ours((image - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).numpy()
    assert_same_outputs(got, want, TOLERANCE)

    from incept.runtime.torch import checkpoint

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"backend": "torch"}')
    stats = {"mean": [0.25, 0.5, 0.75], "std": [0.1, 0.2, 0.3]}
    checkpoint.save(run / "checkpoints" / "last.pt", {"model": {}, "data": stats})
    config = incept.data_config("googlenet-torchvision", run)
    assert (config["mean"], config["std"]) == ((0.25, 0.5, 0.75), (0.1, 0.2, 0.3))
    assert (config["crop_pct"], config["input_size"]) == (None, (3, 224, 224))
    torch.save(reference.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(UserError) as err:
        incept.data_config("googlenet-torchvision", tmp_path / "plain.pth")
    plain = tmp_path / "plain.pth"
    _one_line(err, f"pretrained='{plain}': error[pretrained]: {plain} is a weights file")
    with pytest.raises(ValueError, match="pretrained=False has none"):
        incept.data_config("googlenet-torchvision", False)


LITE = "googlenet-fmnist-lite"


def test_keras_files(tmp_path):
    """A .keras archive and a .weights.h5 file of the spec's Keras model, into either backend."""
    import keras

    source = incept.create_model(LITE, backend="keras")
    rng = np.random.default_rng(3)
    for w in source.weights:
        if "moving_variance" in w.path:
            w.assign((rng.random(tuple(w.shape)) + 0.5).astype("float32"))
        elif len(w.shape) == 1:
            w.assign(rng.standard_normal(tuple(w.shape)).astype("float32"))
    x = rng.standard_normal((2, 28, 28, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(source(x, training=False))
    source.save(tmp_path / "model.keras")
    source.save_weights(tmp_path / "model.weights.h5")
    from incept.runtime.keras import checkpoint

    run = tmp_path / "run"  # an incept Keras run folder: its checkpoints/last.keras
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"backend": "keras"}')
    checkpoint.save(run / "checkpoints" / "last.keras", source, {"epoch": 1})
    fresh = incept.create_model(LITE, backend="keras")
    assert _rel(keras.ops.convert_to_numpy(fresh(x, training=False)), expected) > 0.1
    for path in (tmp_path / "model.keras", run, tmp_path / "model.weights.h5"):
        ours = incept.create_model(LITE, backend="keras", pretrained=path)
        assert_same_outputs(
            keras.ops.convert_to_numpy(ours(x, training=False)), expected, TOLERANCE
        )
    with pytest.warns(
        UserWarning, match=r"keep their fresh initialisation: the model has 7 "
    ) as rec:
        seven = incept.create_model(LITE, backend="keras", num_classes=7, pretrained=path)
    fresh_paths = str(rec[0].message).split(": ")[1].split(" keep")[0].split(", ")
    left = [tuple(v.shape) for v in seven.weights if v.path in fresh_paths]
    assert len(left) == 6  # kernel and bias of the classifier and of two aux heads
    assert all(shape[-1] == 7 for shape in left)
    assert np.shape(keras.ops.convert_to_numpy(seven(x, training=False))) == (3, 2, 7)
    module = incept.create_model(LITE, pretrained=tmp_path / "model.keras")
    got = _outputs(module, torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    assert np.shape(expected) == (3, 2, 10)  # the Keras model's outputs: logits, 2 aux heads
    assert _rel(got, expected[0]) < TOLERANCE  # torch in eval mode: the logits


# -- what does not fit -------------------------------------------------------------------


def test_weights_that_do_not_fit_are_one_line_naming_the_tensor(tmp_path):
    state = _googlenet_state()
    bad = dict(state)
    bad["inception3a.branch2.1.conv.weight"] = torch.zeros(128, 96, 3, 2)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet-torchvision", pretrained=tmp_path / "bad.pt")
    assert str(err.value) == (
        f"pretrained='{tmp_path / 'bad.pt'}': error[pretrained]: does not fit: "
        "inception3a.branch2.1.conv.weight is 128x96x3x2 in the weights, 128x96x3x3 in the model"
    )
    torch.save(state, tmp_path / "googlenet.pt")  # GoogLeNet's weights for Inception-v3
    with pytest.raises(UserError) as err:
        incept.create_model("inception-v3", pretrained=tmp_path / "googlenet.pt")
    _one_line(
        err, "error[pretrained]: does not fit: the model's Conv2d_1a_3x3.conv.weight (32x3x3x3)"
    )
    extra = {**state, "head.weight": torch.zeros(3)}
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet-torchvision", pretrained=tmp_path / "extra.pt")
    _one_line(err, "does not fit: the weights' head.weight has no place in the model")


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"not a torch file", "not a readable torch checkpoint"),
        (b"", "not a readable torch checkpoint"),
    ],
)
def test_a_wrong_file_is_one_line(content, expected, tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet-torchvision", pretrained=path)
    _one_line(err, str(path), expected)


def test_wrong_keras_files_are_one_line(tmp_path):
    """Not an archive; another spec's weights (Keras would warn and leave layers fresh)."""
    (tmp_path / "junk.keras").write_bytes(b"not a zip archive")
    other = incept.create_model("googlenet-fmnist", backend="keras")
    other.save_weights(tmp_path / "other.weights.h5")
    for name in ("junk.keras", "other.weights.h5"):
        with pytest.raises(UserError) as err:
            incept.create_model(LITE, backend="keras", pretrained=tmp_path / name)
        _one_line(err, f"{tmp_path / name}: error[pretrained]: not readable as Keras weights (")


def test_sources_that_do_not_apply_are_one_line(tmp_path):
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet", pretrained="timm")
    assert str(err.value) == (
        "pretrained='timm': error[pretrained]: no timm model has the layout of the spec named "
        "'googlenet'; timm's weights fit the specs named inception_resnet_v2, inception_v4, "
        "xception (incept list shows each model's sources)"
    )
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet", pretrained=tmp_path / "missing.pt")
    _one_line(err, "error[pretrained]: not a source (torchvision, timm, keras) and no such file")
    with pytest.raises(UserError) as err:
        incept.create_model("googlenet", pretrained=tmp_path)
    _one_line(err, "error[checkpoint]: is not a run folder (no config.json)")


# -- a pickle that would run code ---------------------------------------------------------


def test_a_pickle_that_runs_code_is_refused_everywhere(tmp_path, torch_home, hf_cache):
    """torch.hub's cache (torchvision, timm's URL weights), a state_dict file, an incept
    checkpoint and a run folder: each refused in one line, and the canary never appears."""
    canary = tmp_path / "CANARY"
    _canary_pickle(_torchvision_file("googlenet", torch_home), canary)
    pytest.importorskip("timm")
    _canary_pickle(torch_home / "xception-43020ad28.pth", canary)
    _canary_pickle(tmp_path / "evil.pt", canary)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"backend": "torch"}')
    _canary_pickle(run / "checkpoints" / "last.pt", canary)
    cases = [
        ("googlenet-torchvision", "torchvision"),
        ("xception", "timm"),
        ("googlenet-torchvision", tmp_path / "evil.pt"),
        ("googlenet-torchvision", run),
    ]
    for spec, source in cases:
        with pytest.raises(UserError) as err:
            incept.create_model(spec, pretrained=source)
        _one_line(err, "error[checkpoint]: holds Python objects", "runs no code")
    assert not canary.exists()
