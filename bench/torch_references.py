"""The torch networks a generated module is timed against: torchvision's and timm's.

`--vs torchvision` takes torchvision's Inception-v3 for the inception_v3 spec and its
GoogLeNet for every other spec (the weights are shared only where the layouts match:
the torchvision-profile specs). `--vs timm` takes the timm model whose weights the spec
loads with `pretrained="timm"` (incept.runtime.pretrained.SOURCES), without aux heads,
which timm's models do not return.

Weights are shared by name where the state_dicts have the same keys, else by position
where both list the same tensors in the same module order with the same shapes (timm's
inception_v4 numbers its rows inside one nn.Sequential; the spec names them).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from incept.compiler.errors import UserError
from incept.runtime.pretrained import SOURCES

#: spec name -> timm model of the same network
TIMM = {spec: refs["timm"].name for spec, refs in SOURCES.items() if "timm" in refs}
#: spec name -> torchvision model (every other spec: googlenet)
TORCHVISION = {"inception_v3": "inception_v3"}


def reference(vs: str, graph: Any, aux: bool) -> tuple[nn.Module, str]:
    """The reference network for `graph` and its label (e.g. "timm inception_v4")."""
    if vs == "timm":
        return _timm(graph), f"timm {TIMM[graph.name]}"
    import torchvision

    name = TORCHVISION.get(graph.name, "googlenet")
    model = getattr(torchvision.models, name)(
        weights=None, aux_logits=aux, init_weights=False, num_classes=graph.num_classes
    )
    return model, f"torchvision {name}"


def _timm(graph: Any) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise UserError(
            "incept bench: error[missing-extra]: --vs timm needs timm: pip install timm"
        ) from None
    if graph.name not in TIMM:
        known = ", ".join(sorted(TIMM))
        raise UserError(
            f"incept bench: error[reference]: timm has no model of spec {graph.name!r} "
            f"(specs with one: {known})"
        )
    return timm.create_model(TIMM[graph.name], pretrained=False, num_classes=graph.num_classes)


def shared_state(
    generated: nn.Module, reference: nn.Module
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """`generated`'s state_dict keyed as `reference`'s (by name, else by position), or
    None and the reason the layouts differ."""
    ours, theirs = generated.state_dict(), reference.state_dict()
    if set(ours) == set(theirs):
        if all(ours[k].shape == theirs[k].shape for k in ours):
            return ours, "by name"
        return None, "the same names with other shapes"
    if len(ours) != len(theirs):
        return None, f"{len(ours)} tensors vs {len(theirs)}"
    for (mine, a), (their, b) in zip(ours.items(), theirs.items(), strict=True):
        if a.shape != b.shape or mine.rsplit(".", 1)[-1] != their.rsplit(".", 1)[-1]:
            return None, f"{mine} {tuple(a.shape)} vs {their} {tuple(b.shape)}"
    return dict(zip(theirs, ours.values(), strict=True)), "by position"
