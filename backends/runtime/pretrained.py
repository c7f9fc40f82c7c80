"""Pretrained weights for `incept.create_model(..., pretrained=SOURCE)`.

A source is "torchvision", "timm" or "keras" — the library's own loader, which downloads
into its own cache with a network and reads that cache without one — or a path: an
incept run folder or checkpoint, a torch state_dict file (.pt/.pth) or a Keras weights
file (.keras/.h5). Weights are data, never code: torch files are read with
`weights_only=True` (a pickle that would build other objects is refused unexecuted),
Keras files with `load_weights`, which reads arrays and deserialises no model config.

Which shipped spec takes which library's weights is the table `SOURCES`, keyed by the
spec's `name:`. It lives here, not in the specs: a spec describes an architecture; which
upstream checkpoint fits it, and how that checkpoint names its tensors, is the loader's
knowledge, and sits beside the code that uses it (`incept list` reads it too).

The weights read here go into the model through pretrained_fit.py: every tensor must
fit, but for the classifiers when `num_classes` differs.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from incept.compiler.ir.graph import Graph

from .data import WHOLE, Resize
from .errors import Code, InputError, short_reason
from .pretrained_fit import load, mismatch, torch_twin

#: The library sources; anything else is read as a path.
LIBRARIES = ("torchvision", "timm", "keras")

Stats = tuple[float, float, float]
#: ImageNet's per-channel mean and std of RGB on [0, 1]: torchvision's input.
IMAGENET_MEAN: Stats = (0.485, 0.456, 0.406)
IMAGENET_STD: Stats = (0.229, 0.224, 0.225)
#: The Inception ports' input, x / 127.5 - 1 on [0, 255]: on [0, 1] mean 0.5, std 0.5 for
#: every channel. keras.applications' InceptionV3, InceptionResNetV2 and Xception
#: (preprocess_input mode="tf") and timm's inception_v4, inception_resnet_v2 and
#: legacy_xception (pretrained_cfg IMAGENET_INCEPTION_MEAN / _STD) take it.
HALF: Stats = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Reference:
    """One library model whose weights fit a spec."""

    name: str  # torchvision's / timm's model name, keras.applications' function
    #: Keys paired by position (the library numbers what the spec names); shapes checked.
    positional: bool = False
    #: The weights expect torchvision's transform_input (ImageNet-normalised input is
    #: re-scaled to the range the original weights were trained on).
    transform_input: bool = False
    #: Keras: the weights file in KERAS_HOME/models/ and where keras.applications gets it.
    file: str = ""
    origin: str = ""
    #: Keras: its layer names -> the spec's, for models whose layers are built in another
    #: order than the spec's (keras.applications.Xception).
    layer_names: Callable[[Sequence[str]], dict[str, str]] | None = field(default=None)
    #: The input the library's model expects: (x - mean) / std per RGB channel of an
    #: image on [0, 1] (torchvision's transform_input then applies, where set).
    mean: Stats = IMAGENET_MEAN
    std: Stats = IMAGENET_STD
    #: How the library evaluates its weights: its centre-crop fraction (torchvision's
    #: resize 256, crop 224; timm's pretrained_cfg crop_pct) and resampling filter
    #: (torchvision's bilinear, timm's bicubic); WHOLE: none prescribed (Keras).
    resize: Resize = WHOLE
    #: Its classifier's classes, in the library's order (all three use the same one).
    classes: str = "imagenet-1k"
    num_classes: int = 1000

    def input_stats(self, transform_input: bool) -> tuple[Stats, Stats]:
        """The (mean, std) a model of the spec with these weights expects: the library's,
        or, for a model that does not apply the transform_input the weights need, the
        normalisation that ImageNet's followed by transform_input amounts to: (x - 0.5) / 0.5
        (transform_input maps (x - mean) / std to x * std / 0.5 + (mean - 0.5) / 0.5)."""
        if self.transform_input and not transform_input:
            return HALF, HALF
        return self.mean, self.std


_KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _xception_layers(theirs: Sequence[str]) -> dict[str, str]:
    """keras.applications.Xception's layers -> xception-keras.yaml's (timm's names). Keras
    numbers its blocks from the stem (block1 is conv1/conv2), so its block b is timm's
    b - 1; its shortcut convs and norms are unnamed, in creation order: timm's blocks 1,
    2, 3 and 12."""
    names = {
        "block1_conv1": "conv1",
        "block1_conv1_bn": "bn1",
        "block1_conv2": "conv2",
        "block1_conv2_bn": "bn2",
        "block14_sepconv1": "conv3",
        "block14_sepconv1_bn": "bn3",
        "block14_sepconv2": "conv4",
        "block14_sepconv2_bn": "bn4",
        "predictions": "fc",
    }
    for block in range(2, 14):
        first = 0 if block == 2 else 1  # block 2 has no ReLU before its first sepconv
        for k in (1, 2, 3):
            index = 3 * (k - 1) + first
            names[f"block{block}_sepconv{k}"] = f"block{block - 1}_rep_{index}"
            names[f"block{block}_sepconv{k}_bn"] = f"block{block - 1}_rep_{index + 1}"
    convs = [n for n in theirs if n.startswith("conv2d")]
    norms = [n for n in theirs if n.startswith("batch_normalization")]
    for conv, norm, block in zip(convs, norms, (1, 2, 3, 12), strict=True):
        names[conv], names[norm] = f"block{block}_skip", f"block{block}_skipbn"
    return names


#: spec `name:` -> source -> the library model whose weights it loads.
SOURCES: dict[str, dict[str, Reference]] = {
    "googlenet_torchvision": {
        "torchvision": Reference("googlenet", transform_input=True, resize=Resize(224 / 256))
    },
    "inception_v3": {
        "torchvision": Reference("inception_v3", transform_input=True, resize=Resize(299 / 342))
    },
    "inception_v4": {
        "timm": Reference(
            "inception_v4", positional=True, mean=HALF, std=HALF, resize=Resize(0.875, "bicubic")
        )
    },
    "inception_resnet_v2": {
        "timm": Reference(
            "inception_resnet_v2", mean=HALF, std=HALF, resize=Resize(0.8975, "bicubic")
        )
    },
    "xception": {
        "timm": Reference("legacy_xception", mean=HALF, std=HALF, resize=Resize(0.8975, "bicubic"))
    },
    "inception_v3_keras": {
        "keras": Reference(
            "InceptionV3",
            mean=HALF,
            std=HALF,
            file="inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            origin=_KERAS_URL + "inception_v3/",
        )
    },
    "inception_resnet_v2_keras": {
        "keras": Reference(
            "InceptionResNetV2",
            mean=HALF,
            std=HALF,
            file="inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
            origin=_KERAS_URL + "inception_resnet_v2/",
        )
    },
    "xception_keras": {
        "keras": Reference(
            "Xception",
            mean=HALF,
            std=HALF,
            file="xception_weights_tf_dim_ordering_tf_kernels.h5",
            origin=_KERAS_URL + "xception/",
            layer_names=_xception_layers,
        )
    },
}


def sources_for(spec_name: str) -> list[str]:
    """The library sources whose weights fit the spec named `spec_name` (`incept list`)."""
    return sorted(SOURCES.get(spec_name, {}))


def library_for(spec_name: str, backend: str) -> str:
    """What `pretrained=True` means for the spec named `spec_name`: the library whose
    weights fit it (the one of `backend`'s framework, were there several)."""
    sources = sorted(sources_for(spec_name), key=lambda s: (s == "keras") != (backend == "keras"))
    if not sources:
        raise InputError(
            Code.PRETRAINED,
            "pretrained=True",
            f"no library's weights fit the spec named {spec_name!r}; "
            f"{', '.join(LIBRARIES)} weights fit the specs named {', '.join(sorted(SOURCES))} "
            "(incept list shows each model's sources); pass a run folder or weights file",
        )
    return sources[0]


@dataclass(frozen=True)
class Target:
    """The model being made: its compiled spec and the generated modules to build it."""

    graph: Graph  # at the model's num_classes
    backend: str  # torch | keras
    module: Callable[[str], ModuleType]  # backend -> its generated module for the spec
    spec_classes: int  # the weights' classes: the spec's own num_classes (files are assumed
    # to hold those; load_into sets a library model's)

    @property
    def name(self) -> str:
        return self.graph.name

    @classmethod
    def of(cls, graph: Graph, backend: str) -> Target:
        """The target of a model the runtime built from `graph` (a new run's, an
        evaluation's): a backend's module, where the weights need one, is the spec's
        generated source imported in memory (the module incept.create_model uses)."""
        from incept.backends import get_backend
        from incept.models import import_text

        def module(name: str) -> ModuleType:
            return import_text(get_backend(name).render(graph), f"{graph.name}_{name}")

        return cls(graph, backend, module, graph.num_classes)


def create(
    source: str | Path, target: Target, aux_logits: bool | None, builder_args: dict[str, Any]
) -> Any:
    """The model of `target`, built with `builder_args` and loaded from `source`."""
    _frameworks_first()
    where = f"pretrained={str(source)!r}"
    reference = reference_of(source, target.name, where)
    build = target.module(target.backend).build
    args = dict(builder_args)
    if reference and _switches_transform(reference, build):
        args.setdefault("transform_input", True)
    model = build(aux_logits=aux_logits, **args)
    load_into(model, source, target, aux_logits, where=where)
    return model


def data_config(source: str | Path, target: Target) -> dict[str, Any]:
    """How to feed the model `create(source, target, ...)` builds: one image's shape (C,
    H, W for torch, H, W, C for Keras), the per-channel mean and std on [0, 1] it expects
    (after the transform_input create switches on), and the centre crop and filter its
    library evaluates with (timm's `resolve_data_config`); a run folder's or
    checkpoint's: its data's statistics."""
    where = f"pretrained={str(source)!r}"
    reference = reference_of(source, target.name, where)
    shape = tuple(target.graph.input.shape or ())  # C, H, W: a Keras model's image is H, W, C
    shape = shape[1:] + shape[:1] if target.backend == "keras" else shape
    if reference is None:
        mean, std = _recorded_stats(Path(source), where)
        return {"input_size": shape, "mean": mean, "std": std, **asdict(WHOLE)}
    applies = _switches_transform(reference, target.module(target.backend).build)
    mean, std = reference.input_stats(applies)
    return {"input_size": shape, "mean": mean, "std": std, **asdict(reference.resize)}


def _recorded_stats(path: Path, where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation a run folder or checkpoint recorded for its data."""
    from .checkpoints import read_checkpoint

    found = read_checkpoint(str(path), best=False)
    if isinstance(found, Path):
        raise InputError(
            Code.PRETRAINED,
            where,
            f"{found} is a weights file, which records no normalisation: the data it was "
            "trained on decides it",
        )
    data = found[2]["data"]
    return tuple(data["mean"]), tuple(data["std"])


def load_into(
    model: Any,
    source: str | Path,
    target: Target,
    aux_logits: bool | None,
    *,
    where: str | None = None,
    fresh_classifiers: bool = True,
) -> Reference | None:
    """`source`'s weights into `model`, a model of `target` built by the caller (a new
    run's, an evaluation's); returns the library model whose weights they are (None for
    a path). `fresh_classifiers=False` refuses weights of another class count, which
    would otherwise leave the classifiers as they are, with a warning."""
    _frameworks_first()
    where = where or f"pretrained={str(source)!r}"
    reference = reference_of(source, target.name, where)
    if reference is None:  # a path (a pathlib.Path always: Path("timm"))
        weights = _read_path(Path(source), target, aux_logits, where)
    elif source == "keras":
        # keras.applications' model has its own class count, whatever the spec's
        target = replace(target, spec_classes=reference.num_classes)
        weights = _application(reference, target, where, model)
        if weights is model:  # they went straight into it: nothing left to copy
            return reference
    else:
        weights = _library_state(str(source), reference, model, target, where)
    load(model, target, weights, where, fresh_classifiers)
    return reference


def is_library(source: str | Path) -> bool:
    return isinstance(source, str) and source in LIBRARIES


def reference_of(source: str | Path, spec_name: str, where: str) -> Reference | None:
    """The library model a library source means for the spec named `spec_name` (one line
    if it has none); None for a path."""
    return _reference(str(source), spec_name, where) if is_library(source) else None


def _frameworks_first() -> None:
    """torchvision or timm may load beside keras.applications: triton before either."""
    from .frameworks import before_tensorflow

    before_tensorflow()


def _reference(source: str, spec_name: str, where: str) -> Reference:
    found = SOURCES.get(spec_name, {}).get(source)
    if found is None:
        fits = sorted(name for name, table in SOURCES.items() if source in table)
        raise InputError(
            Code.PRETRAINED,
            where,
            f"no {source} model has the layout of the spec named {spec_name!r}; "
            f"{source}'s weights fit the specs named {', '.join(fits)} "
            "(incept list shows each model's sources)",
        )
    return found


def _switches_transform(reference: Reference, build: Callable[..., Any]) -> bool:
    """Whether `create` builds the model with transform_input on: the weights need it
    and the generated build() offers it."""
    return reference.transform_input and _accepts(build, "transform_input")


def _accepts(build: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(build).parameters


# -- reading: each source gives torch tensors by state_dict key, or a Keras model ----------


def _library_state(
    source: str, reference: Reference, model: Any, target: Target, where: str
) -> dict[str, Any]:
    """A torch library's weights, under the spec's state_dict keys (a Keras model's: its
    torch twin's, which takes them on their way into it)."""
    try:
        state = _torchvision(reference) if source == "torchvision" else _timm(reference)
    except Exception as exc:  # a refused pickle, no network and no cached file, ...
        raise _failed(where, f"{source} could not load {reference.name}'s weights", exc) from None
    if reference.positional:
        ours = model if target.backend == "torch" else torch_twin(model, target)
        state = _by_position(state, ours.state_dict(), where)
    return state


def _torchvision(reference: Reference) -> dict[str, Any]:
    """torchvision's default weights for the model, through its own weights API: torch.hub
    downloads them into TORCH_HOME/hub/checkpoints once and reads that file afterwards."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(reference.name).DEFAULT  # type: ignore[attr-defined]
    state: dict[str, Any] = weights.get_state_dict(
        progress=False, map_location="cpu", weights_only=True
    )
    return state


def _timm(reference: Reference) -> dict[str, Any]:
    """timm's pretrained model, through its own loader: from the Hugging Face hub's cache
    (HF_HUB_CACHE, else HF_HOME/hub; read at this call, not when huggingface_hub was
    imported) for weights hosted there, safetensors first; from torch.hub's cache
    (TORCH_HOME/hub/checkpoints) for weights at a URL (legacy_xception's)."""
    import timm

    config = timm.models.get_pretrained_cfg(reference.name)
    hosted = bool(config and config.hf_hub_id)
    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    # timm passes cache_dir to torch.hub as its model_dir too: only for hub-hosted weights
    model = timm.create_model(reference.name, pretrained=True, cache_dir=cache if hosted else None)
    return dict(model.state_dict())


def _by_position(state: Mapping[str, Any], ours: Mapping[str, Any], where: str) -> dict:
    """`state` under our keys, pairing both lists in module order (the same tensors in the
    same order, differently named: timm's `features.3` is the spec's `mixed_3a`)."""
    theirs, mine = list(state), list(ours)
    if len(theirs) != len(mine):
        raise InputError(
            Code.PRETRAINED, where, f"holds {len(theirs)} tensors, the model {len(mine)}"
        )
    for t, m in zip(theirs, mine, strict=True):
        if t.rsplit(".", 1)[-1] != m.rsplit(".", 1)[-1]:
            raise InputError(Code.PRETRAINED, where, f"its {t} falls on the model's {m}")
    return {m: state[t] for t, m in zip(theirs, mine, strict=True)}


def _application(reference: Reference, target: Target, where: str, model: Any) -> Any:
    """keras.applications' weights in a Keras model of the spec (at the spec's classes):
    straight into `model` where it holds exactly their tensors (a Keras model at their
    class count), else into a model built for them, which `load` then copies from.
    The file is keras.applications' own, in its cache (KERAS_HOME/models, downloaded
    there by keras.utils.get_file when absent), loaded by keras.applications itself."""
    import keras

    cache = os.environ.get("KERAS_HOME")  # read now: Keras reads it once, at import
    build = getattr(keras.applications, reference.name)
    try:
        path = keras.utils.get_file(
            reference.file,
            reference.origin + reference.file,
            cache_subdir="models",
            cache_dir=cache,
        )
        theirs = build(weights=path, classifier_activation=None)
    except Exception as exc:  # no network and no cached file, a damaged file, ...
        raise _failed(where, f"keras could not load {reference.name}'s weights", exc) from None
    if target.backend == "keras" and _holds_exactly(model, theirs, reference):
        _assign(_pairs(model, theirs, reference, where), where)
        return model
    ours = target.module("keras").build(num_classes=target.spec_classes, aux_logits=False)
    _assign(_pairs(ours, theirs, reference, where), where)
    return ours


def _holds_exactly(model: Any, theirs: Any, reference: Reference) -> bool:
    """Whether each of `model`'s variables has a counterpart of its shape in `theirs`."""
    try:
        pairs = _pairs(model, theirs, reference, "")
    except InputError:
        return False
    same = all(tuple(m.shape) == tuple(o.shape) for m, o in pairs)
    return same and len(pairs) == len(model.weights)


def _pairs(ours: Any, theirs: Any, reference: Reference, where: str) -> list[tuple[Any, Any]]:
    """Each weight of keras.applications' model `theirs` with its variable in `ours`: in
    the order both build them, or through the reference's layer names."""
    if reference.layer_names is None:
        if len(ours.weights) != len(theirs.weights):
            raise InputError(
                Code.PRETRAINED,
                where,
                f"holds {len(theirs.weights)} weights, the model {len(ours.weights)}",
            )
        return list(zip(ours.weights, theirs.weights, strict=True))
    names = reference.layer_names([layer.name for layer in theirs.layers])
    layers = {layer.name: layer for layer in ours.layers}
    pairs: list[tuple[Any, Any]] = []
    for layer in (layer for layer in theirs.layers if layer.weights):
        mine = layers.get(names.get(layer.name, ""))
        if mine is None or len(mine.weights) != len(layer.weights):
            raise InputError(
                Code.PRETRAINED, where, f"{reference.name}'s layer {layer.name} has no match"
            )
        pairs += zip(mine.weights, layer.weights, strict=True)
    return pairs


def _assign(pairs: Sequence[tuple[Any, Any]], where: str) -> None:
    """Each Keras variable takes its counterpart's value (shapes checked first)."""
    for mine, other in pairs:
        if tuple(mine.shape) != tuple(other.shape):
            raise mismatch(where, mine.path, tuple(other.shape), tuple(mine.shape))
    for mine, other in pairs:
        mine.assign(other)


def _read_path(path: Path, target: Target, aux: bool | None, where: str) -> Any:
    """A run folder, an incept checkpoint or a weights file: torch tensors by key, or a
    Keras model of the spec (at the spec's classes, with the aux heads the model has:
    Keras loads a file's weights only into the same layers) holding the file's weights."""
    from .checkpoints import locate

    if not path.exists():
        raise InputError(
            Code.PRETRAINED,
            where,
            f"not a source ({', '.join(LIBRARIES)}) and no such file or run folder",
        )
    file, framework = locate(path)
    if framework == "keras" or file.suffix in (".h5", ".hdf5"):
        from .keras.checkpoint import weights_file

        ours = target.module("keras").build(num_classes=target.spec_classes, aux_logits=aux)
        try:
            with warnings.catch_warnings(), weights_file(file) as weights:
                # Keras warns, and leaves layers fresh, where a file lacks their weights
                warnings.simplefilter("error")
                ours.load_weights(str(weights))
        except Exception as exc:  # Keras raises ValueError, KeyError, OSError ...
            raise _unreadable(file, "Keras weights", exc) from None
        return ours
    from .torch.checkpoint import FORMAT, read_file

    data = read_file(file)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        data = data["model"]  # an incept checkpoint: its weights
    if not isinstance(data, dict) or not data:
        raise InputError(Code.PRETRAINED, file, "holds no state_dict (a dict of tensors)")
    return data


def _unreadable(path: object, kind: str, exc: BaseException) -> InputError:
    return InputError(Code.PRETRAINED, path, f"not readable as {kind} ({short_reason(exc)})")


def _failed(where: str, what: str, exc: Exception) -> InputError:
    """A library loader's exception as one line; a pickle that torch's weights_only reader
    refused is said so (torch words it in paragraphs)."""
    import pickle

    if isinstance(exc, pickle.UnpicklingError):
        from .torch.checkpoint import refused

        return refused(where, exc)
    return InputError(Code.PRETRAINED, where, f"{what} ({short_reason(exc)})")
