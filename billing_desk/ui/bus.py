"""The one "what changed" notice every open view listens to (anki's operation-changes pattern).

An operation that changed something broadcasts one `Change` after it succeeded; each view asks
the change whether it concerns what the view shows before it redraws, so a correction applied
to one customer does not make every open screen reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

# Kinds of data a change can touch; views compare them with what they show.
CUSTOMERS = "customers"
LINES = "lines"
STRIPE = "stripe"
CORRECTIONS = "corrections"
SYNC = "sync"
SETTINGS = "settings"
AUDIT = "audit"


@dataclass(frozen=True)
class Change:
    """What an operation changed: kinds of data, and the customers concerned (empty = any)."""

    kinds: frozenset[str]
    customers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *kinds: str, customers: tuple[str, ...] | list[str] = ()) -> Change:
        return cls(frozenset(kinds), frozenset(customers))

    def touches(self, kind: str, customer_id: str | None = None) -> bool:
        """Whether a view showing `kind` data (of `customer_id`, if given) must redraw."""
        if kind not in self.kinds:
            return False
        return customer_id is None or not self.customers or customer_id in self.customers


class ChangeBus(QObject):
    """The application-wide broadcast of `Change` notices; lives on the UI thread."""

    changed = Signal(object)  # Change

    def notify(self, change: Change) -> None:
        self.changed.emit(change)
