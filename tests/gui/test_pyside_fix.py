"""Emitting and disconnecting signals leaves Python's `True` with its references (PySide6 6.12.0
drops one per call; billing_desk.ui.pyside_fix gives it back)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

import billing_desk.ui  # noqa: F401  (applies the fix, as every GUI entry point does)


class _Emitter(QObject):
    changed = Signal(int)


def test_signals_do_not_consume_references_to_true() -> None:
    emitter = _Emitter()
    seen: list[int] = []
    before = sys.getrefcount(True)
    for i in range(5_000):
        emitter.changed.emit(i)
        emitter.changed.disconnect(emitter.changed.connect(seen.append))
    # Without the fix the count falls by 10,000; a few references held elsewhere may come and go.
    assert abs(sys.getrefcount(True) - before) < 10
