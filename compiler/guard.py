"""The old name of command_errors.py, kept while backends/runtime imports one_line_errors
from here (issue 19: the runtime's imports move with its own renames); nothing else may."""

from __future__ import annotations

from .command_errors import DEBUG, one_line_errors

__all__ = ["DEBUG", "one_line_errors"]
