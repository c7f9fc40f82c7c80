"""Turn DOT source into the file the user asked for: .dot as is, .svg or .png via Graphviz.

The `graphviz` Python package builds the DOT text; the Debian package `graphviz`
provides the `dot` program that lays it out. Without `dot`, .dot output still works
and SVG or PNG fail with one line saying how to install it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError, one_line

#: Output formats by file suffix (None: the DOT text itself).
FORMATS = {".dot": None, ".gv": None, ".svg": "svg", ".png": "png"}
INSTALL_DOT = (
    "the Graphviz `dot` program is not installed (Debian/Ubuntu: apt-get install graphviz; "
    "macOS: brew install graphviz); .dot output works without it"
)
INSTALL_PY = "the graphviz Python package is not installed: pip install 'incept[diagram]'"


class ViewError(UserError):
    """A picture or page cannot be made: `where: error[code]: message`, exit 2."""

    def __init__(self, code: str, where: object, message: str) -> None:
        super().__init__(message)
        self.code, self.where, self.message = code, str(where), message

    def __str__(self) -> str:
        return one_line(f"{self.where}: error[{self.code}]: {self.message}")


def output_format(path: Path) -> str | None:
    """The Graphviz format for `path`'s suffix; ViewError for any other suffix."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ViewError(
            "flag", path, f"-o must end in .svg, .png or .dot (got {suffix or 'no suffix'!r})"
        )
    return FORMATS[suffix]


def require_graphviz() -> None:
    """ViewError(tool) unless the graphviz Python package imports."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise ViewError("tool", "incept", INSTALL_PY) from None


def render(source: str, fmt: str | None) -> bytes:
    """The DOT text as UTF-8, or laid out by `dot` as SVG or PNG bytes."""
    if fmt is None:
        return source.encode("utf-8")
    import graphviz

    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise ViewError("tool", "dot", INSTALL_DOT) from None
    except graphviz.CalledProcessError as exc:  # a bug in the DOT we wrote
        reason = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"dot failed: {reason[0] if reason else exc}") from None
