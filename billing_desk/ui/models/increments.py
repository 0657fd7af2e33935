"""The drill-down table of one line's increments: a virtual table over up to millions of rows.

The row count is known up front; rows are read in pages of PAGE_SIZE when the view first asks
for them, off the UI thread, and kept in a small LRU cache. Until its page arrives a row shows
"…", so scrolling never waits on the store and memory stays flat whatever the line's size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from billing_desk.ui import format as fmt
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE

Index = QModelIndex | QPersistentModelIndex

COL_OCCURRED = 0
COL_QUANTITY = 1
COL_EVENT = 2
COL_BATCH = 3
HEADERS = ("Occurred (UTC)", "Quantity", "Event id", "Ingest batch")

PAGE_SIZE = 500
CACHED_PAGES = 40
LOADING = "…"


@dataclass(frozen=True, slots=True)
class IncrementRow:
    event_id: str
    occurred_at: datetime
    quantity: Decimal
    batch_id: int


# Asks for one page: (offset, limit, deliver). `deliver(rows)` must be called on the UI thread,
# with None when the page could not be read (it is asked for again when next shown).
Deliver = Callable[[Sequence[IncrementRow] | None], None]
PageRequester = Callable[[int, int, Deliver], None]


class IncrementsModel(QAbstractTableModel):
    page_loaded = Signal(int)  # page number

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._count = 0
        self._request: PageRequester | None = None
        self._pages: OrderedDict[int, Sequence[IncrementRow]] = OrderedDict()
        self._asked: set[int] = set()
        self._generation = 0

    def set_source(self, count: int, request: PageRequester | None) -> None:
        """Show `count` rows read through `request`; `set_source(0, None)` empties the table."""
        self.beginResetModel()
        self._generation += 1
        self._count = count
        self._request = request
        self._pages.clear()
        self._asked.clear()
        self.endResetModel()

    def set_rows(self, rows: Sequence[IncrementRow]) -> None:
        """Show rows already in memory (small lines, tests)."""
        self.set_source(len(rows), None)
        for number in range(0, (len(rows) + PAGE_SIZE - 1) // PAGE_SIZE):
            self._pages[number] = rows[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def row_at(self, row: int) -> IncrementRow | None:
        number, offset = divmod(row, PAGE_SIZE)
        page = self._pages.get(number)
        if page is None:
            self._ask(number)
            return None
        self._pages.move_to_end(number)
        return page[offset] if offset < len(page) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.TextAlignmentRole,
            SORT_ROLE,
            OBJECT_ROLE,
        ):
            return None
        col = index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col == COL_QUANTITY:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        item = self.row_at(index.row())
        if item is None:
            return LOADING if role == Qt.ItemDataRole.DisplayRole else None
        if role == OBJECT_ROLE:
            return item
        if role == SORT_ROLE:
            return (item.occurred_at, item.quantity, item.event_id, item.batch_id)[col]
        if col == COL_OCCURRED:
            return item.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
        if col == COL_QUANTITY:
            return fmt.quantity(item.quantity)
        if col == COL_EVENT:
            return item.event_id
        return str(item.batch_id)

    def _ask(self, number: int) -> None:
        if self._request is None or number in self._asked:
            return
        self._asked.add(number)
        generation = self._generation
        offset = number * PAGE_SIZE

        def deliver(rows: Sequence[IncrementRow] | None) -> None:
            self._asked.discard(number)
            if rows is None or generation != self._generation:
                return  # failed, or the table shows another line by now
            self._pages[number] = rows
            while len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
            last = min(offset + PAGE_SIZE, self._count) - 1
            if last >= offset:
                self.dataChanged.emit(self.index(offset, 0), self.index(last, len(HEADERS) - 1))
            self.page_loaded.emit(number)

        self._request(offset, PAGE_SIZE, deliver)
