"""The audit trail as a table: newest first, loaded a page at a time as the agent scrolls.

`AuditModel` is thin: rows are the trail's own `ChainedRow`s; when the view scrolls near the
end and more rows exist, Qt calls `fetchMore`, which emits `more_wanted` for the view to load
the next page off the UI thread and `append_rows` it. `change_summary` puts a row's before and
after into a few words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from billing_desk.domain.audit import ChainedRow
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE
from billing_desk.ui.models.rows import RowsTableModel

Index = QModelIndex | QPersistentModelIndex
MAX_CHANGES_SHOWN = 3
# Keys that say most about a change, shown before the others.
_FIRST = ("status", "kind", "role", "value", "amount", "customer")


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _short(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def change_summary(before: str | None, after: str | None) -> str:
    """ "status: pending_approval → approved", the changed keys of two recorded JSON values."""
    old, new = _load(before), _load(after)
    if isinstance(old, dict) or isinstance(new, dict):
        old = old if isinstance(old, dict) else {}
        new = new if isinstance(new, dict) else {}
        keys = [k for k in new if old.get(k) != new[k]] + [k for k in old if k not in new]
        keys.sort(key=lambda k: (_FIRST.index(k) if k in _FIRST else len(_FIRST), k))
        parts = []
        for key in keys[:MAX_CHANGES_SHOWN]:
            if key not in new:
                parts.append(f"{key} removed")
            elif key in old:
                parts.append(f"{key}: {_short(old[key])} → {_short(new[key])}")
            else:
                parts.append(f"{key}: {_short(new[key])}")
        if len(keys) > MAX_CHANGES_SHOWN:
            parts.append(f"+{len(keys) - MAX_CHANGES_SHOWN} more")
        return "; ".join(parts)
    if old is None and new is None:
        return ""
    if old is None:
        return _short(new)
    return f"{_short(old)} → {_short(new)}"


def describe_row(row: ChainedRow) -> str:
    """Everything a row records, for the detail pane (before and after in full)."""
    e = row.entry

    def pretty(text: str | None) -> str:
        value = _load(text)
        if value is None:
            return "—"
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)

    return "\n".join(
        [
            f"#{row.seq}  {e.at.astimezone():%Y-%m-%d %H:%M:%S %Z}  by {e.actor}",
            f"{e.action} on {e.subject}",
            f"Reason: {e.reason or '—'}",
            "",
            "Before:",
            pretty(e.before),
            "",
            "After:",
            pretty(e.after),
            "",
            f"Hash: {row.hash}",
            f"Previous: {row.prev_hash}",
        ]
    )


class AuditModel(RowsTableModel[ChainedRow]):
    COL_WHEN, COL_ACTOR, COL_ACTION, COL_SUBJECT, COL_CHANGE, COL_REASON = range(6)
    HEADERS = ("When", "Person", "Action", "Subject", "Change", "Reason")

    # Qt asked for more rows (the view scrolled near the end): load the next page.
    more_wanted = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._has_more = False
        self._fetching = False

    @property
    def has_more(self) -> bool:
        return self._has_more

    def set_rows(self, rows: Sequence[ChainedRow], has_more: bool = False) -> None:
        self.beginResetModel()
        self._set_given(rows)
        self._has_more = has_more
        self._fetching = False
        self.endResetModel()

    def append_rows(self, rows: Sequence[ChainedRow], has_more: bool) -> None:
        self._fetching = False
        self._has_more = has_more
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._extend_given(rows)
        self.endInsertRows()

    def fetch_failed(self) -> None:
        """The next page could not be read; scrolling to the end asks again."""
        self._fetching = False

    def last_seq(self) -> int | None:
        return self._rows[-1].seq if self._rows else None

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and self._has_more and not self._fetching

    def fetchMore(self, parent: Index) -> None:
        if self.canFetchMore(parent):
            self._fetching = True
            self.more_wanted.emit()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == OBJECT_ROLE:
            return row
        if role == SORT_ROLE:
            return row.seq if col == self.COL_WHEN else self._display(row, col)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ToolTipRole and col in (self.COL_CHANGE, self.COL_REASON):
            return self._display(row, col) or None
        return None

    def _display(self, row: ChainedRow, col: int) -> str:
        e = row.entry
        if col == self.COL_WHEN:
            return f"{e.at.astimezone():%Y-%m-%d %H:%M:%S}"
        if col == self.COL_ACTOR:
            return e.actor
        if col == self.COL_ACTION:
            return e.action
        if col == self.COL_SUBJECT:
            return e.subject
        if col == self.COL_CHANGE:
            return change_summary(e.before, e.after)
        return e.reason or ""
