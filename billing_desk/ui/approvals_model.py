"""Table models of the approvals tab: corrections awaiting a lead, and drafts due to finalize.

Rows are the finalization gate's own values (`ApprovalRow`, `DraftRow`); the clock the
countdowns are read against is set by the view (`set_now`), so the models stay pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from billing_desk.services.finalization_gate import ApprovalRow, DraftRow
from billing_desk.ui import format as fmt
from billing_desk.ui.dialogs.wording import kind_label, reason_label
from billing_desk.ui.icons import glyph_icon
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE
from billing_desk.ui.models.rows import RowsTableModel
from billing_desk.ui.theme import accent

Index = QModelIndex | QPersistentModelIndex
R = TypeVar("R")

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def deadline_text(due_at: datetime | None, now: datetime) -> str:
    """When the invoice finalizes, as a countdown; "not closed yet" before close."""
    if due_at is None:
        return "not closed yet"
    return fmt.countdown(due_at, now)


class _RowsModel(RowsTableModel[R]):
    """Rows with countdowns (column 0), read against a clock the view sets."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._now = datetime.now(UTC)

    def set_rows(self, rows: Sequence[R], now: datetime | None = None) -> None:
        before = self._now
        if now is not None:
            self._now = now  # before the rows are placed: the countdowns read it
        super().set_rows(rows)
        self._countdowns_moved(before)

    def set_now(self, now: datetime) -> None:
        """Move the clock the countdowns are read against."""
        before, self._now = self._now, now
        self._countdowns_moved(before)

    def _countdowns_moved(self, before: datetime) -> None:
        """One dataChanged over the countdowns whose text the new clock changed (most keep
        theirs: they are read to the minute)."""
        if before == self._now or not self._rows:
            return
        now = self._now
        texts = [self._display(row, 0) for row in self._rows]
        self._now = before
        changed = [n for n, row in enumerate(self._rows) if self._display(row, 0) != texts[n]]
        self._now = now
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], 0))

    def _display(self, row: R, col: int) -> str:
        raise NotImplementedError


class ApprovalsModel(_RowsModel[ApprovalRow]):
    COL_DEADLINE, COL_CUSTOMER, COL_KIND, COL_IMPACT, COL_REQUESTER, COL_REASON = range(6)
    HEADERS = ("Finalizes", "Customer · period", "Kind", "Impact", "Requested by", "Reason")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == SORT_ROLE:
            return self._sort_value(row, col)
        if role == OBJECT_ROLE:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.COL_IMPACT:
            return _RIGHT
        if col == self.COL_DEADLINE and row.nearing_deadline:
            if role == Qt.ItemDataRole.DecorationRole:
                return glyph_icon("bolt", accent("danger"))
            if role == Qt.ItemDataRole.ForegroundRole:
                return accent("danger")
            if role == Qt.ItemDataRole.ToolTipRole:
                return "The invoice finalizes soon: decide before it does."
        if col == self.COL_KIND and row.status == "lapsed":
            if role == Qt.ItemDataRole.DecorationRole:
                return glyph_icon("not_equal", accent("differs"))
            if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
                return f"Lapsed: {row.why or 'what was approved changed'}"
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_REASON and row.note:
            return row.note
        return None

    def _display(self, row: ApprovalRow, col: int) -> str:
        if col == self.COL_DEADLINE:
            return deadline_text(row.due_at, self._now)
        if col == self.COL_CUSTOMER:
            return f"{row.customer_id} · {row.period}"
        if col == self.COL_KIND:
            lapsed = " (lapsed)" if row.status == "lapsed" else ""
            return f"{kind_label(row.kind)}{lapsed}"
        if col == self.COL_IMPACT:
            return f"{fmt.signed(row.impact, row.currency)} {row.currency.upper()}"
        if col == self.COL_REQUESTER:
            return row.requested_by
        label = reason_label(row.reason)
        return f"{label}: {row.note}" if row.note else label

    def _sort_value(self, row: ApprovalRow, col: int) -> Any:
        if col == self.COL_DEADLINE:
            return row.due_at  # None (not closed yet) sorts last
        if col == self.COL_IMPACT:
            return abs(row.impact)
        return self._display(row, col)


class DraftsModel(_RowsModel[DraftRow]):
    COL_DUE, COL_CUSTOMER, COL_INVOICE, COL_BLOCKERS = range(4)
    HEADERS = ("Finalizes", "Customer · period", "Stripe invoice", "Blocked by")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == SORT_ROLE:
            if col == self.COL_DUE:
                return row.due_at
            if col == self.COL_BLOCKERS:
                return len(row.blockers)
            return self._display(row, col)
        if role == OBJECT_ROLE:
            return row
        if col == self.COL_BLOCKERS:
            if role == Qt.ItemDataRole.DecorationRole:
                blocked = bool(row.blockers)
                return glyph_icon(
                    "pause" if blocked else "check", accent("differs" if blocked else "ok")
                )
            if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
                return "\n".join(row.blockers) or "Nothing blocks it: it finalizes when due."
        if col == self.COL_DUE and row.overdue and role == Qt.ItemDataRole.ToolTipRole:
            return "Past its finalization time: it finalizes as soon as nothing blocks it."
        return None

    def _display(self, row: DraftRow, col: int) -> str:
        if col == self.COL_DUE:
            return "due now" if row.overdue else fmt.countdown(row.due_at, self._now)
        if col == self.COL_CUSTOMER:
            return f"{row.customer_id} · {row.period}"
        if col == self.COL_INVOICE:
            return row.stripe_invoice_id or "being created"
        if not row.blockers:
            return "nothing"
        first = row.blockers[0]
        more = len(row.blockers) - 1
        return f"{first} (+{more} more)" if more else first
