"""`gui` commands (see CONTRACT.md)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Not built yet: registers nothing."""
