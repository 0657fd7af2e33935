"""A guard against a reference-counting defect of PySide6 6.12.0 on Python 3.11.

Its bindings hand Python's `None`, `True` and `False` back without taking a reference, as if
they were immortal — which they are from Python 3.12 on, but not on 3.11. Every call of a
method returning nothing (`QTimer.singleShot`, `QWidget.update`, `processEvents`, …) or a bool
(`SignalInstance.emit`, …) then drops one reference, and after some thousands of calls the
interpreter aborts ("none_dealloc: deallocating None"). PySide6 6.11 does not have the defect.

`apply()` measures once, at import, whether such calls drop references; only then does it give
those three objects what Python 3.12 gives them: a reference count no program can exhaust. Where
the binding is sound (PySide6 6.11, or Python 3.12+) nothing is changed.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 64
# Far more references than any session could drop, far from overflowing the count.
_RESERVE = 1 << 40
SINGLETONS = (None, True, False)


class _Probe(QObject):
    fired = Signal()


def _drops_references() -> bool:
    probe = _Probe()
    before = {id(obj): sys.getrefcount(obj) for obj in SINGLETONS}
    for _ in range(_PROBES):
        probe.setObjectName("probe")  # returns None
        probe.fired.emit()  # returns True
    return any(sys.getrefcount(obj) <= before[id(obj)] - _PROBES // 2 for obj in SINGLETONS)


def _reserve(obj: object) -> None:
    # CPython: a PyObject starts with its reference count (Py_ssize_t) at the object's address.
    count = ctypes.c_ssize_t.from_address(id(obj))
    count.value += _RESERVE


def apply() -> bool:
    """Reserve references for None, True and False if this PySide6 drops them; True if it did."""
    if sys.version_info >= (3, 12) or not _drops_references():
        return False
    for obj in SINGLETONS:
        _reserve(obj)
    return True


APPLIED = apply()
