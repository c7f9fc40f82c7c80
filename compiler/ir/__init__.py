"""The IR graph, its operators, lowering from the spec, and the verifier."""

from .graph import Graph, Node, Row, Template
from .lower import lower
from .verify import verify

__all__ = ["Graph", "Node", "Row", "Template", "lower", "verify"]
