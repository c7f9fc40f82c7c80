"""Pictures and pages made from the IR: Graphviz diagrams and per-spec Markdown pages.

Imported only by `incept diagram` and `incept docs`, never on `incept compile`'s path.
"""
