"""The side-by-side table: local compiled lines on the left, the Stripe invoice's items on the
right, aligned by line, with the status between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from billing_desk.domain.reconcile import Row
from billing_desk.ui import format as fmt
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE
from billing_desk.ui.models.rows import RowsTableModel
from billing_desk.ui.status_style import style_for, tooltip_for
from billing_desk.ui.theme import accent

Index = QModelIndex | QPersistentModelIndex

COL_ITEM = 0
COL_DESCRIPTION = 1
COL_QUANTITY = 2
COL_UNIT_PRICE = 3
COL_AMOUNT = 4
COL_CORRECTIONS = 5
COL_SYNC = 6
COL_STATUS = 7
COL_STRIPE_DESCRIPTION = 8
COL_STRIPE_AMOUNT = 9
COL_DIFFERENCE = 10

HEADERS = (
    "Item",
    "Description",
    "Quantity",
    "Unit price",
    "Amount",
    "Corrections",
    "Sync",
    "Status",
    "Stripe item",
    "Stripe amount",
    "Difference",
)
LOCAL_COLUMNS = range(COL_ITEM, COL_SYNC + 1)
STRIPE_COLUMNS = range(COL_STRIPE_DESCRIPTION, COL_DIFFERENCE + 1)
_NUMERIC = {COL_QUANTITY, COL_UNIT_PRICE, COL_AMOUNT, COL_STRIPE_AMOUNT, COL_DIFFERENCE}


@dataclass(frozen=True)
class LineRow:
    """One aligned row as the customer view shows it."""

    row: Row
    currency: str
    # What corrections did to the line, in words ("adjusted to 40.00, applied"); "" for none.
    corrections: str = ""
    # The push state of the local line(s): "synced", "pending", "needs attention"; "" if none.
    sync_state: str = ""

    @property
    def line_ids(self) -> tuple[int, ...]:
        return tuple(line.id for line in self.row.lines)


class SideBySideModel(RowsTableModel[LineRow]):
    HEADERS = HEADERS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stale = False

    @property
    def stale(self) -> bool:
        return self._stale

    def set_stale(self, stale: bool) -> None:
        """Mark the Stripe side as older than it should be (greyed, said in tooltips)."""
        if stale == self._stale:
            return
        self._stale = stale
        if self._rows:
            self.dataChanged.emit(
                self.index(0, COL_STRIPE_DESCRIPTION),
                self.index(len(self._rows) - 1, COL_DIFFERENCE),
            )
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, COL_STATUS, COL_DIFFERENCE)

    def row_at(self, row: int) -> LineRow:
        return self._rows[row]

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == COL_DIFFERENCE:
                return "Stripe minus the ledger: positive when Stripe bills more"
            if section in LOCAL_COLUMNS:
                return "From the local ledger (compiled from usage, after corrections)"
            if section in STRIPE_COLUMNS:
                stale = " (stale: a refresh from Stripe is due)" if self._stale else ""
                return f"From the Stripe invoice, as last fetched{stale}"
            return "How the two sides compare"
        if role == Qt.ItemDataRole.TextAlignmentRole and section in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        line_row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(line_row, col)
        if role == SORT_ROLE:
            return self._sort_value(line_row, col)
        if role == OBJECT_ROLE:
            return line_row
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if col == COL_STATUS:
            style = style_for(line_row.row.status)
            if role == Qt.ItemDataRole.DecorationRole:
                return style.icon()
            if role == Qt.ItemDataRole.ForegroundRole:
                return style.colour()
            if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
                return tooltip_for(line_row.row)
        if role == Qt.ItemDataRole.ForegroundRole and col in STRIPE_COLUMNS and self._stale:
            return accent("muted")
        if col == COL_DIFFERENCE and role == Qt.ItemDataRole.ForegroundRole:
            difference = line_row.row.difference
            return accent("differs") if difference and line_row.row.drift else None
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_STRIPE_DESCRIPTION:
            stripe = line_row.row.stripe
            return None if stripe is None else f"Stripe invoice item {stripe.id}"
        return None

    def _display(self, line_row: LineRow, col: int) -> str:
        row, code = line_row.row, line_row.currency
        lines = row.lines
        first = lines[0] if lines else None
        if col == COL_STATUS:
            return style_for(row.status).label
        if col == COL_STRIPE_DESCRIPTION:
            return "" if row.stripe is None else row.stripe.description
        if col == COL_STRIPE_AMOUNT:
            return "—" if row.stripe is None else fmt.amount(row.stripe.amount, code)
        if col == COL_DIFFERENCE:
            return fmt.signed(row.difference, code)
        if first is None:
            return "—" if col == COL_AMOUNT else ""
        if col == COL_ITEM:
            return f"{len(lines)} lines (roll-up)" if row.is_rollup else first.item
        if col == COL_DESCRIPTION:
            text = first.description if not row.is_rollup else "Rolled up into one Stripe item"
            return f"{text} (voided)" if first.voided and not row.is_rollup else text
        if col == COL_QUANTITY:
            return "" if row.is_rollup else fmt.quantity(first.quantity)
        if col == COL_UNIT_PRICE:
            return "" if row.is_rollup else fmt.unit_price(first.unit_amount, code)
        if col == COL_AMOUNT:
            return fmt.amount(row.local_amount or 0, code)
        if col == COL_CORRECTIONS:
            return line_row.corrections
        if col == COL_SYNC:
            return line_row.sync_state
        return ""

    def _sort_value(self, line_row: LineRow, col: int) -> Any:
        row = line_row.row
        first = row.lines[0] if row.lines else None
        if col == COL_QUANTITY:
            return first.quantity if first is not None else None
        if col == COL_UNIT_PRICE:
            return first.unit_amount if first is not None else None
        if col == COL_AMOUNT:
            return row.local_amount
        if col == COL_STRIPE_AMOUNT:
            return row.stripe_amount
        if col == COL_DIFFERENCE:
            return row.difference
        if col == COL_STATUS:
            return row.status.value
        return self._display(line_row, col)
