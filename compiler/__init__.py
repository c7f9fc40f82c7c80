"""incept.compiler: YAML spec -> IR graph with inferred shapes, parameters and MACs.

The pipeline, one folder per stage:

    spec/    YAML (ruamel, with positions) -> pydantic models
    ir/      the graph: nodes with op attributes, shapes, params, MACs, spec locations
    passes/  named passes over the graph, each followed by the verifier
    report   the paper-style table
    cli      the `incept` command
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("incept")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
