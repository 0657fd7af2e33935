"""A sort proxy that compares the models' SORT_ROLE values natively (Decimal, int, datetime),
with empty values last whatever the direction (vorta's sort_proxy)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from billing_desk.ui.models import SORT_ROLE

Index = QModelIndex | QPersistentModelIndex


class SortProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)

    def lessThan(self, left: Index, right: Index) -> bool:
        a: Any = left.data(SORT_ROLE)
        b: Any = right.data(SORT_ROLE)
        if a is None or b is None:
            return a is not None  # a value sorts before an empty cell
        try:
            return bool(a < b)
        except TypeError:  # mixed kinds in one column: fall back to their text
            return str(a) < str(b)
