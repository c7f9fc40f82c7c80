"""The preflight's verdicts, shared by the backends: each backend measures its built
model (parameter count, every row's output shape on a probe batch) its own way, and
these functions compare the measurements with what the compiler inferred."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import Code, InputError


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_parameters(have: int, want: int, where: str, kind: str = "parameters") -> None:
    if have != want:
        raise InputError(
            Code.PREFLIGHT,
            where,
            f"the built model has {have:,} {kind}, the compiler predicts {want:,}",
        )


def check_shapes(
    seen: Mapping[str, tuple[int, ...]],
    expected: Mapping[str, tuple[int, ...]],
    where: str,
    layout: str = "",
) -> None:
    """`seen[name]` must equal `expected[name]` for every row output the IR predicts."""
    for name, shape in expected.items():
        if seen.get(name) != shape:
            got = _size(seen[name]) if name in seen else "nothing"
            raise InputError(
                Code.PREFLIGHT,
                where,
                f"{name} produced {got}, the compiler predicts {_size(shape)}{layout}",
            )
