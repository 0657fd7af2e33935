"""Results that arrive after their widget is gone.

A service call runs off the UI thread; if the agent closes the dialog (or the window) meanwhile,
Qt deletes the widget, and a callback touching it would raise. `while_alive(owner, slot)` is
`slot`, called only while `owner` still exists: a late result is dropped, as nobody waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QObject
from shiboken6 import isValid

T = TypeVar("T")


def while_alive(owner: QObject, slot: Callable[[T], object]) -> Callable[[T], None]:
    def call(value: T) -> None:
        if isValid(owner):
            slot(value)

    return call
