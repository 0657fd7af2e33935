"""What every in-memory table model shares: its rows, its headers, a resetting set_rows, and
sorting by the SORT_ROLE values.

Sorting happens here, in one Python sort over the rows (`sort`, which a QTableView with sorting
enabled calls when a header is clicked), not in a QSortFilterProxyModel: the proxy calls back
into Python twice for every comparison, and each call from Qt into Python waits for the GIL,
which the sync worker's threads hold much of the time — sorting a thousand drafts that way
stalled the window for tens of milliseconds.

Order: native values (Decimal, int, datetime), empty cells last whatever the direction, text
when a column mixes kinds; equal values keep the order `set_rows` gave. Column -1 is that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from billing_desk.ui.models import SORT_ROLE

Index = QModelIndex | QPersistentModelIndex
R = TypeVar("R")


class RowsTableModel(QAbstractTableModel, Generic[R]):
    """A table over a list of rows; subclasses name their columns in `HEADERS` and give `data`
    (with the SORT_ROLE value of each cell)."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._given: list[R] = []  # as set_rows had them
        self._shown: list[int] = []  # positions in `_given`, in the order shown
        self._rows: list[R] = []  # the rows in the order shown
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    def set_rows(self, rows: Sequence[R]) -> None:
        """Show `rows`, in the current sort order. Rows already shown stay put: the update is
        told to the views as the rows removed, inserted and changed, not as a reset, so a view
        repaints (and asks the model, in Python, about) only the changed rows it shows — a
        list re-read every few seconds while the worker holds the GIL mostly has none."""
        old = self._rows
        given = list(rows)
        self._given, self._rows = given, given
        shown = self._order()
        new = [given[g] for g in shown]
        self._rows = old
        steps = _edits(old, new) if old and new else None
        if steps is None:
            self.beginResetModel()
            self._given = given
            self._show(shown)
            self.endResetModel()
            return
        last = self.columnCount() - 1
        for tag, i1, i2, j1, j2 in reversed(steps):  # from the end: earlier rows keep their place
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == j2 - j1:
                self._rows[i1:i2] = new[j1:j2]
                self.dataChanged.emit(self.index(i1, 0), self.index(i2 - 1, last))
                continue
            if i2 > i1:
                self.beginRemoveRows(QModelIndex(), i1, i2 - 1)
                del self._rows[i1:i2]
                self.endRemoveRows()
            if j2 > j1:
                self.beginInsertRows(QModelIndex(), i1, i1 + j2 - j1 - 1)
                self._rows[i1:i1] = new[j1:j2]
                self.endInsertRows()
        self._given, self._shown, self._rows = given, shown, new

    def _set_given(self, rows: Sequence[R]) -> None:
        """For subclasses' own resets: take `rows`, shown in the current sort order."""
        self._given = list(rows)
        self._show(self._order())

    def _extend_given(self, rows: Sequence[R]) -> None:
        """For subclasses' own inserts (of unsorted tables): `rows` go after the others."""
        start = len(self._given)
        self._given.extend(rows)
        self._shown.extend(range(start, len(self._given)))
        self._rows = [*self._rows, *rows]

    def _show(self, shown: list[int]) -> None:
        self._shown = shown
        self._rows = [self._given[g] for g in shown]

    def rows(self) -> list[R]:
        return list(self._rows)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    # Sorting

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        before = self._shown
        after = self._order()
        row_of = {g: n for n, g in enumerate(after)}
        self._show(after)
        old = self.persistentIndexList()  # the selection, the current cell: they follow the rows
        self.changePersistentIndexList(
            old, [self.index(row_of[before[i.row()]], i.column()) for i in old]
        )
        self.layoutChanged.emit()

    def _order(self) -> list[int]:
        """Positions in `_given` in the current sort order."""
        positions = list(range(len(self._given)))
        column = self._sort_column
        if column < 0 or column >= self.columnCount():
            return positions
        rows, self._rows = self._rows, self._given  # `data` reads `_rows`: read `_given` here
        try:
            values = [self.data(self.index(n, column), SORT_ROLE) for n in positions]
        finally:
            self._rows = rows
        filled = [n for n in positions if values[n] is not None]
        empty = [n for n in positions if values[n] is None]
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        try:
            filled.sort(key=values.__getitem__, reverse=descending)
        except TypeError:  # mixed kinds in one column: compare their text
            filled.sort(key=lambda n: str(values[n]), reverse=descending)
        return filled + empty


def _edits(old: list[R], new: list[R]) -> Sequence[tuple[str, int, int, int, int]] | None:
    """The steps from `old` to `new` (difflib's opcodes); None when the rows cannot be compared
    that way (unhashable) or hardly any stayed (a reset is then the cheaper message)."""
    try:
        matcher = SequenceMatcher(None, old, new, autojunk=False)
        steps = matcher.get_opcodes()
    except TypeError:
        return None
    kept = sum(i2 - i1 for tag, i1, i2, _, _ in steps if tag == "equal")
    return steps if kept * 2 >= min(len(old), len(new)) else None
