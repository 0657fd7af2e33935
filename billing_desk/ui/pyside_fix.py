"""A guard against a reference-counting bug of PySide6 6.12.0, applied when the bug is present.

`SignalInstance.emit()` and `SignalInstance.disconnect(connection)` return Python's `True`
without taking a reference to it, so every call drops one of `True`'s references. On Python
3.11, where `True` is not immortal, a desktop session (or a test run) that emits a few thousand
signals brings the count to zero and the interpreter aborts ("bool_dealloc: deallocating True").
PySide6 6.11 does not have the bug.

`apply()` measures each method once at import and, only where the count drifts, wraps it to
give the returned bool the reference the binding forgot. Where the binding is fixed (or the
Python makes bools immortal) the measurement sees no drift and nothing is wrapped.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    fired = Signal()


def _drops_true(call: Callable[[], object]) -> bool:
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        call()
    return sys.getrefcount(True) <= before - _PROBES


def _mend(method: Callable[..., Any]) -> Callable[..., Any]:
    def mended(self: SignalInstance, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        if result is True or result is False:
            _incref(result)
        return result

    mended.__name__ = method.__name__
    mended.__doc__ = method.__doc__
    return mended


def apply() -> list[str]:
    """Wrap the methods that drop references; returns their names (empty when none do)."""
    probe = _Probe()
    mended: list[str] = []
    if _drops_true(probe.fired.emit):
        SignalInstance.emit = _mend(SignalInstance.emit)  # type: ignore[method-assign]
        mended.append("emit")

    def connect_and_disconnect() -> object:
        return probe.fired.disconnect(probe.fired.connect(probe.deleteLater))

    if _drops_true(connect_and_disconnect):
        SignalInstance.disconnect = _mend(SignalInstance.disconnect)  # type: ignore[method-assign]
        mended.append("disconnect")
    return mended


MENDED = apply()
