"""incept's Python face: models by name, compiled and built in memory.

    import incept
    incept.list_models("*fmnist*")          # ['googlenet-fmnist', 'googlenet-fmnist-lite']
    source = incept.compile("googlenet", backend="keras")   # the generated module's text
    model = incept.create_model("googlenet-fmnist-lite", num_classes=7)   # an nn.Module

A spec is a model name (compiler/spec/catalog.py: INCEPT_PATH, then the shipped specs),
a path to a YAML file, or the spec itself as a mapping. These run the commands' own
pipeline (compiler/pipeline.py) and backends; create_model imports the generated source
as a module in memory (nothing is written, generated/ is not read) and calls its
`build()`. This module imports only the standard library: the compiler loads on the
first call, torch or keras when a model is built.
"""

from __future__ import annotations

import builtins
import hashlib
import linecache
import sys
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

#: A spec: a model name, a YAML file's path, or the spec as a mapping.
SpecLike = str | Path | Mapping[str, Any]

#: Modules of generated source and their graphs, by (spec hash, backend, num_classes): a
#: process compiles and imports each model once.
_MODULES: dict[tuple[str, str, int | None], tuple[types.ModuleType, Any]] = {}


def list_models(pattern: str | None = None) -> list[str]:
    """The model names `create_model` accepts, sorted: INCEPT_PATH's specs and the
    shipped ones. `pattern` filters them: a glob (`"*fmnist*"`) or a substring."""
    from incept.compiler.spec import catalog

    return list(catalog.models(pattern))


def compile(  # noqa: A001  (incept.compile, as `incept compile`)
    spec: SpecLike, backend: str = "torch", optimize: str | Iterable[str] | None = None
) -> str:
    """The source of the generated `backend` module for `spec`, as `incept compile` writes
    it (nothing is written here). `optimize`: optimization names as for `--opt`
    (`"all"`, `"fuse_siblings,fold_bn"` or a list of names; docs/passes.md).

    Raises SpecError (one located line) for a bad spec or unknown name, ValueError for an
    unknown backend or optimization."""
    from incept.backends import get_backend
    from incept.compiler.passes import parse_optimizations, pass_names
    from incept.compiler.pipeline import compile_spec

    module = get_backend(backend)
    text = optimize if optimize is None or isinstance(optimize, str) else ",".join(optimize)
    names = parse_optimizations(text, module.OPTIONS)
    passes = pass_names(names)
    graph = compile_spec(spec, None, passes).graph
    rendered: str = module.render(graph, tuple(n for n in names if n not in passes))
    return rendered


def create_model(
    spec: SpecLike,
    backend: str = "torch",
    num_classes: int | None = None,
    aux_logits: bool | None = None,
    pretrained: bool | str | Path | None = None,
    **builder_args: Any,
) -> Any:
    """A freshly initialised model for `spec`: a torch `nn.Module` (backend="torch") or a
    `keras.Model` (backend="keras"), built by the generated module's `build()`.

    num_classes: the classifier's width; None keeps the spec's. Another number compiles
        the spec with that `num_classes` (every layer written `$num_classes` follows).
    aux_logits: attach the aux heads; None keeps the spec's choice.
    pretrained: "torchvision", "timm" or "keras" (the library's weights for a spec
        whose layout matches one of its models; `incept list` names them), or a path:
        an incept run folder or checkpoint, a torch state_dict (.pt/.pth) or a Keras
        weights file (.keras/.h5). True, as in timm, means the one library whose weights
        fit the spec (InputError where none does); False is None. Weights are read as
        data, never code. A classifier
        whose width differs (num_classes) keeps its fresh initialisation, with a
        warning; any other tensor that does not fit raises InputError, one line naming
        it (incept.runtime.pretrained; docs/library.md).
    builder_args: further keyword arguments of the generated `build()`.

    The spec is compiled and its module imported once per process for each spec hash,
    backend and num_classes; every call builds a new model from it."""
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive integer, received {num_classes!r}")
    if pretrained is None or pretrained is False:
        return _module(spec, backend, num_classes)[0].build(aux_logits=aux_logits, **builder_args)
    from incept.runtime import pretrained as weights

    source, target = _weights_target(spec, backend, num_classes, pretrained)
    return weights.create(source, target, aux_logits, builder_args)


def data_config(
    spec: SpecLike, pretrained: bool | str | Path = True, backend: str = "torch"
) -> dict[str, Any]:
    """How to prepare images for `create_model(spec, backend=backend,
    pretrained=pretrained)` (timm's `resolve_data_config`): {"input_size": one image's
    shape, (C, H, W) for torch and (H, W, C) for Keras,
    "mean": ..., "std": ... (per channel, of images on [0, 1]), "crop_pct": the centre
    crop's fraction or None (the whole image), "interpolation": "bilinear" or "bicubic"}.
    A library's weights give that library's evaluation transform, with the mean and std
    the built model expects; a run folder or checkpoint gives its data's statistics."""
    from incept.runtime import pretrained as weights

    if pretrained is False:
        raise ValueError("data_config describes pretrained weights: pretrained=False has none")
    return weights.data_config(*_weights_target(spec, backend, None, pretrained))


def _weights_target(
    spec: SpecLike, backend: str, num_classes: int | None, pretrained: Literal[True] | str | Path
) -> tuple[str | Path, Any]:
    """(the weights' source, True resolved to the spec's library; the model they are for)."""
    from incept.runtime import pretrained as weights

    graph = _module(spec, backend, num_classes)[1]
    source = weights.library_for(graph.name, backend) if pretrained is True else pretrained
    target = weights.Target(
        graph=graph,
        backend=backend,
        module=lambda other: _module(spec, other, num_classes)[0],
        spec_classes=_module(spec, backend, None)[1].num_classes,
    )
    return source, target


def _module(spec: SpecLike, backend: str, num_classes: int | None) -> tuple[types.ModuleType, Any]:
    """The generated module for `spec` and its graph, from the cache or compiled and
    imported now."""
    from incept.backends import get_backend
    from incept.compiler.pipeline import classes_mismatch, compile_source, with_num_classes
    from incept.compiler.spec.load import read_spec

    renderer = get_backend(backend)  # ValueError for an unknown backend, before any reading
    source = read_spec(spec)
    if num_classes is not None:
        changed = with_num_classes(source, num_classes)
        num_classes = None if changed is source else num_classes  # the spec's own count
        source = changed
    key = (source.sha256, backend, num_classes)
    if key not in _MODULES:
        graph = compile_source(source).graph
        wrong = num_classes and classes_mismatch(graph, num_classes)
        if wrong:
            raise ValueError(f"{source.path}: {wrong}")
        if backend == "keras":  # the module loads TensorFlow: triton first, or a later
            from incept.runtime.frameworks import before_tensorflow  # torch.compile crashes

            before_tensorflow()
        module = import_text(renderer.render(graph), f"{graph.name}_{backend}")
        _MODULES[key] = (module, graph)
    return _MODULES[key]


def import_text(text: str, label: str) -> types.ModuleType:
    """Generated source as a module, in memory. Its text is registered with linecache
    under a pseudo file name, so tracebacks, `inspect.getsource` and torch.jit.script see
    its lines. The module is named by its text's hash as the runtime names the modules it
    imports (backends/runtime/model_source.py), so both share one module per source."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    name = f"incept_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    filename = f"<incept {label} {digest}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # before running it: NamedTuple and dataclasses look it up
    try:
        exec(builtins.compile(text, filename, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module
