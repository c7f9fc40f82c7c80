"""ruamel's composer, refusing what plain data does not need (plain.py says why).

Apart from plain.py so that a spec the quick reader (quick.py) reads never loads ruamel.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.composer import Composer
from ruamel.yaml.events import AliasEvent

from .. import limits
from ..errors import Code


class Refused(Exception):
    """Raised by the composer; read_source adds the file name."""

    def __init__(self, code: Code, message: str, mark: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.mark = code, message, mark


class PlainComposer(Composer):
    """ruamel's composer, refusing what plain data does not need before it can cost much.

    The composer recurses once per nesting level, so depth is checked before Python's
    recursion limit is near. Aliases share the node they name, so a billion-laughs
    document is small until something walks it: each node's expanded size is known
    once it is composed, and the running total is checked as each alias is met.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.level = 0
        self.expanded = 0  # nodes so far, every alias counted as the nodes it names
        self.sizes: dict[int, int] = {}  # id(node) -> its expanded size, once composed

    def count(self, n: int, mark: Any) -> None:
        self.expanded += n
        if self.expanded > limits.MAX_YAML_NODES:
            raise Refused(
                Code.LIMIT,
                f"the spec has more than {limits.MAX_YAML_NODES:,} YAML nodes "
                "(aliases counted as what they expand to)",
                mark,
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self.sizes:
                raise Refused(
                    Code.YAML_ALIAS,
                    f"alias *{event.anchor} is inside the node it names (it would never end)",
                    event.start_mark,
                )
            node = super().compose_node(parent, index)  # an undefined alias: ruamel's error
            self.count(self.sizes[id(node)], event.start_mark)
            return node
        if event.tag is not None:
            raise Refused(
                Code.YAML_TAG,
                f"YAML tags are not allowed in a spec (found {event.tag}): specs are plain data",
                event.start_mark,
            )
        self.level += 1
        if self.level > limits.MAX_DEPTH:
            raise Refused(
                Code.LIMIT,
                f"the spec nests deeper than {limits.MAX_DEPTH} levels",
                event.start_mark,
            )
        self.count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self.level -= 1
        children = node.value if isinstance(node.value, list) else []
        flat = [n for c in children for n in (c if isinstance(c, tuple) else (c,))]
        self.sizes[id(node)] = 1 + sum(self.sizes[id(c)] for c in flat)
        return node
