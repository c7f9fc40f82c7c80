"""incept.compiler: YAML spec -> IR graph with inferred shapes, parameters and MACs.

The pipeline, one folder per stage:

    spec/    YAML (ruamel, with positions) -> pydantic models
    ir/      the graph: nodes with op attributes, shapes, params, MACs, spec locations
    passes/  named passes over the graph, each followed by the verifier
    report   the paper-style table
    cli      the `incept` command
"""


def __getattr__(name: str) -> str:
    # Looked up on demand: importlib.metadata costs tens of milliseconds at startup.
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("incept")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"
