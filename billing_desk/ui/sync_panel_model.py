"""What the sync panel shows, as plain values, and the table model of operations needing attention.

The worker's state comes from the worker-thread adapter as it changes; the figures (outbox depth,
calls per hour, the operations needing attention) from the store, read off the UI thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE
from billing_desk.ui.models.rows import RowsTableModel
from billing_desk.ui.sync_panel_chart import HourCalls

Index = QModelIndex | QPersistentModelIndex


class WorkerState(enum.StrEnum):
    RUNNING = "running"
    IDLE = "idle"
    PAUSED = "paused"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]

    @property
    def glyph(self) -> str:
        """An icon glyph of `billing_desk.ui.icons`, so the state is never told by colour alone."""
        return _STATE_GLYPHS[self]

    @property
    def accent(self) -> str:
        """An accent name of `billing_desk.ui.theme`."""
        return _STATE_ACCENTS[self]


_STATE_LABELS = {
    WorkerState.RUNNING: "Syncing",
    WorkerState.IDLE: "Up to date",
    WorkerState.PAUSED: "Paused",
    WorkerState.BACKING_OFF: "Backing off",
    WorkerState.STOPPED: "Stopped",
}
_STATE_GLYPHS = {
    WorkerState.RUNNING: "arrow_up",
    WorkerState.IDLE: "check",
    WorkerState.PAUSED: "pause",
    WorkerState.BACKING_OFF: "dot",
    WorkerState.STOPPED: "cross",
}
_STATE_ACCENTS = {
    WorkerState.RUNNING: "pending",
    WorkerState.IDLE: "ok",
    WorkerState.PAUSED: "muted",
    WorkerState.BACKING_OFF: "differs",
    WorkerState.STOPPED: "danger",
}


def worker_state(text: str) -> WorkerState:
    """A state as the engine or the store names it; unknown names read as stopped."""
    try:
        return WorkerState(text)
    except ValueError:
        return WorkerState.STOPPED


@dataclass(frozen=True, slots=True)
class AttentionItem:
    """An outbox operation Stripe refused for good; a person must look at it, then retry."""

    operation_id: int
    customer_id: str
    operation: str
    attempts: int
    error: str
    since: datetime | None
    period: str | None = None


@dataclass(frozen=True, slots=True)
class SyncFigures:
    """The store's side of the panel: what is waiting, what failed, what was sent."""

    outbox_depth: int = 0
    attention: tuple[AttentionItem, ...] = ()
    hours: tuple[HourCalls, ...] = ()
    budget_per_hour: int = 0
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """One line for the status bar and the tray: the state, what waits, what needs a person."""

    state: WorkerState = WorkerState.IDLE
    reason: str = ""
    outbox_depth: int = 0
    attention: int = 0
    progress: tuple[int, int] | None = field(default=None)

    def text(self) -> str:
        parts = [self.state.label]
        if self.progress is not None:
            done, total = self.progress
            parts[0] += f" {done:,}/{total:,}"
        if self.outbox_depth:
            parts.append(f"{self.outbox_depth:,} waiting")
        if self.attention:
            parts.append(f"{self.attention:,} need{'s' if self.attention == 1 else ''} attention")
        return " · ".join(parts)

    def detail(self) -> str:
        """The tooltip: the summary and, when stopped or backing off, why."""
        return self.text() + (f"\n{self.reason}" if self.reason else "")


def notification_for(before: SyncSummary | None, after: SyncSummary) -> tuple[str, str] | None:
    """The desktop notification (title, message) a change of summary deserves, if any.

    Only what a person must act on: the worker stopping, and more operations needing attention.
    Transient trouble (backing off) is not worth interrupting anyone for.
    """
    was_stopped = before is not None and before.state is WorkerState.STOPPED
    if after.state is WorkerState.STOPPED and not was_stopped:
        return ("Billing Desk stopped syncing", after.reason or "The sync worker stopped.")
    previous = before.attention if before is not None else 0
    if after.attention > previous:
        new = after.attention - previous
        noun = "operation needs" if new == 1 else "operations need"
        return (
            "Stripe refused a change",
            f"{new} {noun} attention; open the Sync panel to see why and retry.",
        )
    return None


class AttentionModel(RowsTableModel[AttentionItem]):
    COL_SINCE, COL_CUSTOMER, COL_OPERATION, COL_ATTEMPTS, COL_ERROR = range(5)
    HEADERS = ("Since", "Customer", "Operation", "Attempts", "Stripe said")
    SORT_ROLE = SORT_ROLE
    OBJECT_ROLE = OBJECT_ROLE

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == self.OBJECT_ROLE:
            return row
        if role == self.SORT_ROLE:
            return self._sort_value(row, col)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_ERROR:
            return row.error
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.COL_ATTEMPTS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: AttentionItem, col: int) -> str:
        if col == self.COL_SINCE:
            return "" if row.since is None else f"{row.since.astimezone():%d %b %H:%M}"
        if col == self.COL_CUSTOMER:
            return row.customer_id
        if col == self.COL_OPERATION:
            return row.operation
        if col == self.COL_ATTEMPTS:
            return str(row.attempts)
        return row.error.splitlines()[0] if row.error else ""

    def _sort_value(self, row: AttentionItem, col: int) -> Any:
        if col == self.COL_SINCE:
            return row.since.timestamp() if row.since is not None else 0.0
        if col == self.COL_ATTEMPTS:
            return row.attempts
        return self._display(row, col)
