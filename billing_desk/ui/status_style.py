"""How each side-by-side status looks: a word, an icon shape, a colour and a tooltip — never
colour alone, so the difference is clear to colour-blind agents and screen readers too."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QIcon

from billing_desk.domain.reconcile import Row, RowStatus
from billing_desk.ui.icons import glyph_icon
from billing_desk.ui.theme import accent


@dataclass(frozen=True)
class StatusStyle:
    label: str
    glyph: str
    accent: str
    tooltip: str

    def colour(self) -> QColor:
        return accent(self.accent)

    def icon(self) -> QIcon:
        return glyph_icon(self.glyph, self.colour())


STYLES: dict[RowStatus, StatusStyle] = {
    RowStatus.IN_SYNC: StatusStyle(
        "In sync", "check", "ok", "Stripe bills exactly what the ledger says for this line."
    ),
    RowStatus.WAITING_TO_PUSH: StatusStyle(
        "Waiting to push",
        "arrow_up",
        "pending",
        "The ledger changed since the last push; the next sync sends the new amount to Stripe.",
    ),
    RowStatus.AMOUNT_DIFFERS: StatusStyle(
        "Amount differs",
        "not_equal",
        "differs",
        "Stripe bills a different amount than the ledger and no push is pending: the item "
        "was changed in Stripe. Adjust the line, or push the ledger's amount with Sync now.",
    ),
    RowStatus.ONLY_IN_STRIPE: StatusStyle(
        "Only in Stripe",
        "plus",
        "stripe_only",
        "This item is on the Stripe invoice but not in the ledger (for example added in the "
        "Stripe Dashboard).",
    ),
    RowStatus.ONLY_LOCAL: StatusStyle(
        "Only local",
        "minus",
        "local_only",
        "This line is in the ledger but not in Stripe yet; the next sync pushes it.",
    ),
}

_DELETED_IN_STRIPE = (
    "This line was pushed before, but Stripe no longer has it (deleted in the Stripe "
    "Dashboard). Sync now pushes it again; void the line if it should not be billed."
)


def style_for(status: RowStatus) -> StatusStyle:
    return STYLES[status]


def tooltip_for(row: Row) -> str:
    if row.status is RowStatus.ONLY_LOCAL and row.drift:
        return _DELETED_IN_STRIPE
    return STYLES[row.status].tooltip
