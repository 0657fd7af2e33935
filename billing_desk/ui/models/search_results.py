"""Search results: one customer per row, with the badges that flag it at a glance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from billing_desk.ui import format as fmt
from billing_desk.ui.adapters import Badges
from billing_desk.ui.models import OBJECT_ROLE, SORT_ROLE

Index = QModelIndex | QPersistentModelIndex

COL_NAME = 0
COL_EMAIL = 1
COL_ID = 2
COL_STRIPE_ID = 3
COL_BADGES = 4
HEADERS = ("Name", "Email", "Customer id", "Stripe id", "Flags")


@dataclass(frozen=True)
class Badge:
    text: str
    accent: str  # an accent of billing_desk.ui.theme
    tooltip: str


def badges_of(badges: Badges) -> list[Badge]:
    out: list[Badge] = []
    if badges.drift:
        out.append(Badge("Drift", "differs", "Stripe's invoice differs from the ledger"))
    if badges.pending_approvals:
        n = badges.pending_approvals
        noun = "correction waits" if n == 1 else "corrections wait"
        out.append(Badge(f"{n} pending", "stripe_only", f"{n} {noun} for a lead's approval"))
    if badges.held:
        out.append(Badge("Hold", "local_only", "Finalization is on hold"))
    if badges.sync_error:
        out.append(Badge("Sync error", "danger", "Stripe refused a change; see the Sync panel"))
    if badges.finalizes_soon is not None:
        when = fmt.countdown(badges.finalizes_soon, datetime.now(UTC))
        out.append(Badge(f"Finalizes {when}", "differs", f"The draft invoice finalizes {when}"))
    if badges.amount_due:
        due = fmt.money(badges.amount_due, badges.currency)
        out.append(Badge(f"{due} due", "muted", f"Amount due on the invoice: {due}"))
    return out


class Customer(Protocol):
    """What a result row needs of a customer (a search hit, or one needing attention)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...

    @property
    def stripe_customer_id(self) -> str | None: ...


@dataclass(frozen=True)
class SearchResult:
    hit: Customer
    badges: Badges | None = None

    @property
    def badge_list(self) -> list[Badge]:
        return [] if self.badges is None else badges_of(self.badges)

    def spoken(self) -> str:
        """The row as a screen reader says it."""
        parts = [self.hit.name or self.hit.id, self.hit.id, self.hit.email]
        parts += [badge.tooltip for badge in self.badge_list]
        return ", ".join(part for part in parts if part)


class SearchResultsModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[SearchResult] = []

    def set_rows(self, hits: Sequence[Customer]) -> None:
        self.beginResetModel()
        self._rows = [SearchResult(hit) for hit in hits]
        self.endResetModel()

    def set_badges(self, badges: Mapping[str, Badges]) -> None:
        """Badges arrive after the hits (a second read); rows not in `badges` keep theirs."""
        for row, result in enumerate(self._rows):
            found = badges.get(result.hit.id)
            if found is not None and found != result.badges:
                self._rows[row] = replace(result, badges=found)
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    def customer_ids(self) -> list[str]:
        return [result.hit.id for result in self._rows]

    def result_at(self, row: int) -> SearchResult:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        result = self._rows[index.row()]
        col = index.column()
        if role == OBJECT_ROLE:
            return result
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            hit = result.hit
            if col == COL_NAME:
                return hit.name
            if col == COL_EMAIL:
                return hit.email
            if col == COL_ID:
                return hit.id
            if col == COL_STRIPE_ID:
                return hit.stripe_customer_id or ""
            return ", ".join(badge.text for badge in result.badge_list)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(badge.tooltip for badge in result.badge_list) or None
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return result.spoken()
        return None
