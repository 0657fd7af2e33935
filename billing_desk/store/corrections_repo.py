"""Reading the state corrections work on, and changing a correction's status.

Status changes take one road per backend. On PostgreSQL they go through the database's own
functions (`billing_decide`, `billing_transition`: see `pg_roles`), which check the login again
and lock the row, so a refusal there is the database's word, not the app's. On SQLite they are
conditional UPDATEs inside the caller's IMMEDIATE transaction: whoever comes second finds the
status already moved and is told so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, or_, select, text, update
from sqlalchemy.orm import Session

from billing_desk.domain.corrections import (
    AWAITING_DECISION,
    OPEN,
    AppliedView,
    InvoiceStatus,
    InvoiceView,
    Kind,
    LineView,
    Refused,
    Status,
)
from billing_desk.domain.errors import InvalidInput
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.corrections import (
    AWAITING_STATUS_SQL,
    Approval,
    Correction,
    Hold,
)
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.pg_roles import translated
from billing_desk.store.sync_ops import (
    CREDIT_NOTE,
    NEEDS_ATTENTION,
    VOID_INVOICE,
    credit_note_key,
    void_invoice_key,
)

# The outbox keys of a correction's Stripe operations start so; SQL reads the id after them.
_CREDIT_PREFIX = credit_note_key(0).removesuffix("0")
_VOID_PREFIX = void_invoice_key(0).removesuffix("0")

FINALIZED_STATUSES = ("open", "paid", "uncollectible")
# A period invoice the sync engine is still creating is, for corrections, a draft.
_STATUS_OF = {"creating": InvoiceStatus.DRAFT, "draft": InvoiceStatus.DRAFT}
_OPEN = [s.value for s in OPEN]


def _postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


# pg_advisory_xact_lock(class, id) class for corrections ("bdcr"): held while one is applied.
CORRECTION_LOCK_CLASS = 0x62646372


def lock(session: Session, correction_id: int) -> Correction:
    """The correction, re-read under a lock held to the end of the transaction, so two workers
    applying the same approval apply it once. (An advisory lock, because app roles have no
    UPDATE privilege on corrections for FOR UPDATE; SQLite's write lock is already held.)"""
    if _postgres(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :id)"),
            {"cls": CORRECTION_LOCK_CLASS, "id": correction_id},
        )
    return get(session, correction_id)


def get(session: Session, correction_id: int) -> Correction:
    found = session.get(Correction, correction_id, populate_existing=True)
    if found is None:
        raise InvalidInput(f"correction {correction_id} does not exist")
    return found


def line_view(session: Session, line_id: int | None, *, lock: bool = False) -> LineView | None:
    """The line as it is now; `lock` holds its row (PostgreSQL) until the transaction ends, so
    a concurrent ingest cannot change it between this read and the correction's write."""
    if line_id is None:
        return None
    line = session.get(Line, line_id, populate_existing=True, with_for_update=lock or None)
    if line is None:
        return None
    return LineView(
        id=line.id,
        customer_id=line.customer_id,
        period=line.period,
        kind=line.kind,
        description=line.description,
        unit_amount=line.unit_amount,
        currency=line.currency,
        compiled_amount=line.compiled_amount,
        amount=line.amount,
        voided=line.voided,
        version=line.version,
    )


def period_invoice(session: Session, customer_id: str, period: str) -> PeriodInvoice | None:
    return session.scalar(
        select(PeriodInvoice).where(
            PeriodInvoice.customer_id == customer_id, PeriodInvoice.period == period
        )
    )


def lines_total(session: Session, customer_id: str, period: str) -> int:
    """The sum of the period's lines after corrections (void lines bill nothing)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Line.amount), 0)).where(
            Line.customer_id == customer_id, Line.period == period, Line.voided.is_(False)
        )
    )
    return int(total or 0)


def _credited(session: Session, customer_id: str, period: str) -> int:
    """Credit notes asked for on the finalized invoice and not failed."""
    total = session.scalar(
        select(func.coalesce(func.sum(Correction.amount), 0)).where(
            Correction.customer_id == customer_id,
            Correction.period == period,
            Correction.kind == Kind.CREDIT.value,
            Correction.invoice_status.in_(FINALIZED_STATUSES),
            Correction.status == Status.APPLIED.value,
        )
    )
    return int(total or 0)


def active_hold(session: Session, customer_id: str, period: str) -> Hold | None:
    return session.scalar(
        select(Hold).where(
            Hold.customer_id == customer_id, Hold.period == period, Hold.released_at.is_(None)
        )
    )


def invoice_view(session: Session, customer_id: str, period: str) -> InvoiceView:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise InvalidInput(f"customer {customer_id!r} does not exist")
    invoice = period_invoice(session, customer_id, period)
    status = (
        InvoiceStatus.NONE
        if invoice is None
        else _STATUS_OF.get(invoice.status) or InvoiceStatus(invoice.status)
    )
    if status.finalized:
        assert invoice is not None
        # Stripe's invoice total stays as finalized; what is left to credit is what we have not.
        total = (invoice.total or 0) - _credited(session, customer_id, period)
    else:
        total = lines_total(session, customer_id, period)
    hold = active_hold(session, customer_id, period)
    return InvoiceView(
        customer_id=customer_id,
        period=period,
        currency=invoice.currency if invoice is not None else customer.currency,
        status=status,
        total=total,
        stripe_invoice_id=None if invoice is None else invoice.stripe_invoice_id,
        held_by=None if hold is None else hold.placed_by,
    )


def applied_view(session: Session, correction_id: int | None) -> AppliedView | None:
    if correction_id is None:
        return None
    c = session.get(Correction, correction_id, populate_existing=True)
    if c is None:
        return None
    later = None
    if c.line_id is not None:
        later = session.scalar(
            select(func.max(Correction.id)).where(
                Correction.line_id == c.line_id,
                Correction.id > c.id,
                Correction.status == Status.APPLIED.value,
                Correction.kind.in_((Kind.ADJUST.value, Kind.VOID.value)),
            )
        )
    return AppliedView(
        id=c.id,
        kind=Kind(c.kind),
        status=Status(c.status),
        customer_id=c.customer_id,
        period=c.period,
        line_id=c.line_id,
        created_line_id=c.created_line_id,
        line_amount_before=c.line_amount_before,
        compiled_at_apply=c.compiled_at_apply,
        superseded_by=later,
    )


def open_on_target(session: Session, target_key: str) -> Correction | None:
    return session.scalar(
        select(Correction).where(Correction.target_key == target_key, Correction.status.in_(_OPEN))
    )


def active_approval(session: Session, correction_id: int) -> Approval | None:
    return session.scalar(
        select(Approval).where(Approval.correction_id == correction_id, Approval.state == "active")
    )


def decide(
    session: Session,
    correction: Correction,
    *,
    approve: bool,
    binding: str,
    line_version: int | None,
    note: str | None,
    actor: str,
    now: datetime,
) -> None:
    """Approve (recording what was approved) or reject; the second of two deciders is refused."""
    cid = correction.id
    if _postgres(session):
        with translated():
            session.execute(
                text("SELECT billing_decide(:id, :decision, :binding, :version, :note, :actor)"),
                {
                    "id": cid,
                    "decision": "approve" if approve else "reject",
                    "binding": binding,
                    "version": line_version,
                    "note": note,
                    "actor": actor,
                },
            )
        session.refresh(correction)
        return
    target = Status.APPROVED if approve else Status.REJECTED
    moved = session.execute(
        update(Correction)
        .where(Correction.id == cid, Correction.status.in_([s.value for s in AWAITING_DECISION]))
        .values(status=target.value, status_reason=note, status_at=now, status_by=actor)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Refused(f"correction {cid} was decided on by someone else first")
    if approve:
        session.add(
            Approval(
                correction_id=cid,
                approver=actor,
                approved_at=now,
                binding_hash=binding,
                line_version=line_version,
                note=note,
                state="active",
            )
        )
    session.flush()
    session.refresh(correction)


def transition(
    session: Session,
    correction: Correction,
    target: Status,
    *,
    reason: str | None,
    actor: str,
    now: datetime,
    effect: dict[str, Any] | None = None,
) -> None:
    """approved → applied | lapsed | failed, applied → failed | reverted, with what applying
    did (`effect`: line_amount_before/after, compiled_at_apply, created_line_id)."""
    cid, current = correction.id, correction.status
    if _postgres(session):
        with translated():
            session.execute(
                text(
                    "SELECT billing_transition(:id, :to, :reason, :actor, CAST(:effect AS jsonb))"
                ),
                {
                    "id": cid,
                    "to": target.value,
                    "reason": reason,
                    "actor": actor,
                    "effect": json.dumps(effect or {}),
                },
            )
        session.refresh(correction)
        return
    values: dict[str, Any] = {
        "status": target.value,
        "status_reason": reason,
        "status_at": now,
        "status_by": actor,
        **(effect or {}),
    }
    if target is Status.APPLIED:
        values.update(applied_at=now, applied_by=actor)
    moved = session.execute(
        update(Correction)
        .where(Correction.id == cid, Correction.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Refused(f"correction {cid} changed under us (it was {current})")
    if target is Status.LAPSED:
        session.execute(
            update(Approval)
            .where(Approval.correction_id == cid, Approval.state == "active")
            .values(state="lapsed", lapsed_at=now, lapse_reason=reason)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    session.refresh(correction)


def list_corrections(
    session: Session,
    *,
    statuses: Sequence[Status] | None = None,
    customer_id: str | None = None,
    period: str | None = None,
    limit: int = 200,
    before_id: int | None = None,
) -> list[Correction]:
    """Newest first, keyset-paged by id."""
    query = select(Correction).order_by(Correction.id.desc()).limit(limit)
    if statuses:
        query = query.where(Correction.status.in_([s.value for s in statuses]))
    if customer_id is not None:
        query = query.where(Correction.customer_id == customer_id)
    if period is not None:
        query = query.where(Correction.period == period)
    if before_id is not None:
        query = query.where(Correction.id < before_id)
    return list(session.scalars(query))


def approved_ids(session: Session, customer_id: str | None = None) -> list[int]:
    query = select(Correction.id).where(Correction.status == Status.APPROVED.value)
    if customer_id is not None:
        query = query.where(Correction.customer_id == customer_id)
    return list(session.scalars(query.order_by(Correction.id)))


def refused_by_stripe(session: Session) -> list[tuple[Correction, str | None]]:
    """Applied credit notes and voids whose outbox operation Stripe refused for good: read from
    the few operations needing attention, each joined to its correction by the id in its key."""
    prefix = case(
        (OutboxOperation.kind == CREDIT_NOTE, len(_CREDIT_PREFIX)),
        else_=len(_VOID_PREFIX),
    )
    correction_id = cast(func.substr(OutboxOperation.idempotency_key, prefix + 1), Integer)
    rows = session.execute(
        select(Correction, OutboxOperation.last_error)
        .select_from(OutboxOperation)
        .join(Correction, Correction.id == correction_id)
        .where(
            OutboxOperation.state == NEEDS_ATTENTION,
            OutboxOperation.kind.in_((CREDIT_NOTE, VOID_INVOICE)),
            Correction.status == Status.APPLIED.value,
        )
    ).all()
    return [(c, error) for c, error in rows]


def awaiting_decision(
    session: Session, *, limit: int, after: tuple[datetime | None, int] | None = None
) -> list[tuple[Correction, datetime | None]]:
    """Corrections a lead must decide on, with their invoice's finalization time, soonest
    deadline first (no invoice yet: last), then oldest request.

    The page is picked on narrow rows from the partial index `ix_corrections_awaiting` (its
    condition spelled literally, so SQLite can prove the index applies), then loaded whole."""
    due = PeriodInvoice.due_at
    query = (
        select(Correction.id, due)
        .outerjoin(
            PeriodInvoice,
            and_(
                PeriodInvoice.customer_id == Correction.customer_id,
                PeriodInvoice.period == Correction.period,
            ),
        )
        .where(text(f"corrections.{AWAITING_STATUS_SQL}"))
        .order_by(due.is_(None), due, Correction.id)
        .limit(limit)
    )
    if after is not None:
        after_due, after_id = after
        if after_due is None:
            query = query.where(due.is_(None), Correction.id > after_id)
        else:
            query = query.where(
                or_(
                    due.is_(None), due > after_due, and_(due == after_due, Correction.id > after_id)
                )
            )
    page = session.execute(query).all()
    found = {
        c.id: c
        for c in session.scalars(select(Correction).where(Correction.id.in_([r[0] for r in page])))
    }
    return [(found[cid], due_at) for cid, due_at in page]


def open_by_invoice(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[Correction]]:
    """Open corrections of each (customer, period), for the drafts queue."""
    wanted = set(keys)
    out: dict[tuple[str, str], list[Correction]] = {k: [] for k in wanted}
    if not wanted:
        return out
    customers = {c for c, _ in wanted}
    rows = session.scalars(
        select(Correction)
        .where(Correction.status.in_(_OPEN), Correction.customer_id.in_(customers))
        .order_by(Correction.id)
    )
    for c in rows:
        if (c.customer_id, c.period) in wanted:
            out[(c.customer_id, c.period)].append(c)
    return out


def holds_by_invoice(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Hold]:
    wanted = set(keys)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Hold).where(Hold.released_at.is_(None), Hold.customer_id.in_({c for c, _ in wanted}))
    )
    return {(h.customer_id, h.period): h for h in rows if (h.customer_id, h.period) in wanted}
