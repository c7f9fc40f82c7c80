"""The backend-neutral plan of a generated module, computed once from the IR.

Every backend emits the same structure: one helper unit per (norm, act) pair of the
convolutions, one class or function per block template with the template's parameters
(and the values that differ between its rows) as arguments, one call per row, aux heads
after the rows they tap, and a shape comment per layer. The plan decides all of that;
a backend only spells it in its framework's syntax. See docs/architecture.md.
"""

from __future__ import annotations

from .build import build_plan
from .model import IN_CHANNELS, BlockPlan, Chan, Column, ConvUnit, ModulePlan, Param, RowPlan

__all__ = [
    "IN_CHANNELS",
    "BlockPlan",
    "Chan",
    "Column",
    "ConvUnit",
    "ModulePlan",
    "Param",
    "RowPlan",
    "build_plan",
]
