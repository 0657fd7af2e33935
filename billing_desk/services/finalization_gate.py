"""What keeps a due draft invoice from being finalized, and the queues leads work from.

- `blockers`: asked by the sync engine before it finalizes (it adds its own drift check): a hold,
  or any correction not yet decided or applied (pending approval, approved, lapsed), keeps the
  invoice a draft however long its grace period has passed.
- `drafts_queue`: drafts by finalization time, each with what blocks it.
- `approvals_queue`: corrections awaiting a lead, soonest finalization first, those whose
  invoice finalizes within `Settings.approval_warning` (or is already due) flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billing_desk.domain.corrections import Status
from billing_desk.store import corrections_repo as repo
from billing_desk.store.models.corrections import Correction, Hold
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork

DRAFT_STATUSES = ("creating", "draft")


def _hold_text(hold: Hold) -> str:
    return f"held by {hold.placed_by} since {hold.placed_at:%Y-%m-%d %H:%M} UTC"


def _correction_text(c: Correction) -> str:
    waiting = {
        Status.PENDING_APPROVAL.value: "awaits a lead's approval",
        Status.LAPSED.value: "lapsed and awaits a new decision",
        Status.APPROVED.value: "is approved and not applied yet",
    }[c.status]
    return f"correction {c.id} ({c.kind} by {c.requested_by}) {waiting}"


def blockers(session: Session, customer_id: str, period: str) -> list[str]:
    """Plain-words reasons the period's invoice must stay a draft; empty when none."""
    key = (customer_id, period)
    hold = repo.holds_by_invoice(session, [key]).get(key)
    reasons = [] if hold is None else [_hold_text(hold)]
    reasons += [_correction_text(c) for c in repo.open_by_invoice(session, [key])[key]]
    return reasons


@dataclass(frozen=True)
class DraftRow:
    customer_id: str
    period: str
    stripe_invoice_id: str | None
    due_at: datetime
    overdue: bool
    blockers: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer_id,
            "period": self.period,
            "stripe_invoice_id": self.stripe_invoice_id,
            "due_at": self.due_at.isoformat(),
            "overdue": self.overdue,
            "blockers": self.blockers,
        }


def drafts_queue(
    uow: UnitOfWork,
    *,
    now: datetime | None = None,
    limit: int = 100,
    after: tuple[datetime, int] | None = None,
) -> list[DraftRow]:
    """Drafts soonest to finalize first (keyset `after` = (due_at, id) of the last row seen)."""
    session = uow.session
    now = now or datetime.now(UTC)
    query = (
        select(PeriodInvoice)
        .where(PeriodInvoice.status.in_(DRAFT_STATUSES))
        .order_by(PeriodInvoice.due_at, PeriodInvoice.id)
        .limit(limit)
    )
    if after is not None:
        due, last_id = after
        query = query.where(
            or_(
                PeriodInvoice.due_at > due,
                and_(PeriodInvoice.due_at == due, PeriodInvoice.id > last_id),
            )
        )
    invoices = list(session.scalars(query))
    keys = [(i.customer_id, i.period) for i in invoices]
    holds = repo.holds_by_invoice(session, keys)
    open_ones = repo.open_by_invoice(session, keys)
    rows = []
    for inv in invoices:
        key = (inv.customer_id, inv.period)
        reasons = [_hold_text(holds[key])] if key in holds else []
        reasons += [_correction_text(c) for c in open_ones[key]]
        rows.append(
            DraftRow(
                inv.customer_id,
                inv.period,
                inv.stripe_invoice_id,
                inv.due_at,
                inv.due_at <= now,
                reasons,
            )
        )
    return rows


@dataclass(frozen=True)
class ApprovalRow:
    id: int
    customer_id: str
    period: str
    kind: str
    status: str
    impact: int
    currency: str
    requested_by: str
    requested_at: datetime
    reason: str
    note: str | None
    why: str | None  # why it waits (or why it lapsed)
    due_at: datetime | None
    nearing_deadline: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer": self.customer_id,
            "period": self.period,
            "kind": self.kind,
            "status": self.status,
            "impact": self.impact,
            "currency": self.currency,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "reason": self.reason,
            "note": self.note,
            "why": self.why,
            "due_at": None if self.due_at is None else self.due_at.isoformat(),
            "nearing_deadline": self.nearing_deadline,
        }


def approvals_queue(
    uow: UnitOfWork,
    *,
    now: datetime | None = None,
    limit: int = 50,
    after: tuple[datetime | None, int] | None = None,
) -> list[ApprovalRow]:
    """Corrections awaiting a lead; keyset `after` = (due_at, id) of the last row seen."""
    session = uow.session
    now = now or datetime.now(UTC)
    warning = load_settings(session).approval_warning
    rows = []
    for c, due in repo.awaiting_decision(session, limit=limit, after=after):
        rows.append(
            ApprovalRow(
                c.id,
                c.customer_id,
                c.period,
                c.kind,
                c.status,
                c.impact,
                c.currency,
                c.requested_by,
                c.requested_at,
                c.reason,
                c.note,
                c.status_reason,
                due,
                due is not None and due - now <= warning,
            )
        )
    return rows
