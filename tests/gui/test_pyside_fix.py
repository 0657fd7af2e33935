"""Calls returning None or a bool leave Python's singletons their references, even on
PySide6 6.12.0, which drops one per call on Python 3.11 (billing_desk.ui.pyside_fix)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QWidget

import billing_desk.ui  # noqa: F401  (applies the fix, as every GUI entry point does)
from billing_desk.ui import pyside_fix


class _Emitter(QObject):
    changed = Signal(int)


def test_a_long_session_of_calls_never_runs_the_singletons_out(qapp: QApplication) -> None:
    emitter = _Emitter()
    widget = QWidget()
    seen: list[int] = []
    for i in range(20_000):
        emitter.changed.emit(i)
        emitter.changed.disconnect(emitter.changed.connect(seen.append))
        widget.update()
        QTimer.singleShot(0, widget.update)
        qapp.processEvents()
    # Without the fix this process would have aborted ("deallocating None") long before.
    for obj in pyside_fix.SINGLETONS:
        assert sys.getrefcount(obj) > 1_000
