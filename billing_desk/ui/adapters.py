"""Store reads the GUI needs that no service offers (yet): a line's increments page by page and
its usage per day, the badges of search results, and what corrections did to each line. Plain
functions over an Engine, called off the UI thread.

A line is (customer, period, item, unit price, currency), so its increments are found by those
columns and the period's UTC month, in time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, String, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from billing_desk.services.customer_view import CustomerView, Mode, customer_view, list_periods
from billing_desk.store import sync_repo
from billing_desk.store.models import Customer, Increment, Line, OutboxOperation
from billing_desk.store.models.corrections import Correction, Hold
from billing_desk.store.models.stripe_cache import StripeInvoiceCache
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui import format as fmt
from billing_desk.ui.models.increments import IncrementRow


@dataclass(frozen=True)
class LineKey:
    """What identifies a line's increments."""

    line_id: int
    customer_id: str
    period: str
    item: str
    unit_amount: Decimal
    currency: str
    description: str
    increment_count: int


def period_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def line_key(engine: Engine, line_id: int) -> LineKey:
    with UnitOfWork(engine) as uow:
        line = uow.session.get(Line, line_id)
        if line is None:
            raise LookupError(f"line {line_id} does not exist")
        return LineKey(
            line.id,
            line.customer_id,
            line.period,
            line.item,
            line.unit_amount,
            line.currency,
            line.description,
            line.increment_count,
        )


def _of_line(key: LineKey) -> list[ColumnElement[bool]]:
    start, end = period_bounds(key.period)
    return [
        Increment.customer_id == key.customer_id,
        Increment.item == key.item,
        Increment.unit_amount == key.unit_amount,
        Increment.currency == key.currency,
        Increment.occurred_at >= start,
        Increment.occurred_at < end,
    ]


def increment_page(engine: Engine, key: LineKey, offset: int, limit: int) -> list[IncrementRow]:
    """Rows `offset`..`offset+limit` of the line's increments in time order."""
    query = (
        select(Increment.event_id, Increment.occurred_at, Increment.quantity, Increment.batch_id)
        .where(*_of_line(key))
        .order_by(Increment.occurred_at, Increment.event_id)
        .offset(offset)
        .limit(limit)
    )
    with UnitOfWork(engine) as uow:
        return [IncrementRow(e, o, q, b) for e, o, q, b in uow.session.execute(query)]


def usage_by_day(engine: Engine, key: LineKey) -> list[tuple[date, Decimal]]:
    """The line's quantity summed per UTC day of the period (exact; days without usage: 0)."""
    start, end = period_bounds(key.period)
    totals: dict[str, Decimal] = {}
    with UnitOfWork(engine) as uow:
        if uow.dialect == "sqlite":
            # Raw text columns: no datetime parsing per row, and the quantity stays exact.
            day = func.substr(type_coerce(Increment.occurred_at, String), 1, 10)
            raw = select(day, type_coerce(Increment.quantity, String)).where(*_of_line(key))
            rows = uow.session.execute(raw)
            for text_day, text_quantity in rows:
                totals[text_day] = totals.get(text_day, Decimal(0)) + Decimal(text_quantity)
        else:
            day = func.to_char(func.timezone("UTC", Increment.occurred_at), "YYYY-MM-DD")
            grouped = select(day, func.sum(Increment.quantity)).where(*_of_line(key)).group_by(day)
            totals = {str(d): Decimal(q) for d, q in uow.session.execute(grouped)}
    days = (end - start).days
    return [
        (
            current := date.fromordinal(start.date().toordinal() + offset),
            totals.get(current.isoformat(), Decimal(0)),
        )
        for offset in range(days)
    ]


def total_quantity(points: Sequence[tuple[date, Decimal]]) -> Decimal:
    return sum((q for _, q in points), Decimal(0))


# Badges of search results


@dataclass(frozen=True)
class Badges:
    """What a search result flags at a glance."""

    drift: bool = False
    pending_approvals: int = 0
    held: bool = False
    sync_error: bool = False
    # The latest open invoice's amount remaining, else the draft's amount due (minor units).
    amount_due: int | None = None
    currency: str = "usd"
    # When a draft finalizes, if that is within the settings' warning window.
    finalizes_soon: datetime | None = None


def customer_badges(engine: Engine, customer_ids: Sequence[str]) -> dict[str, Badges]:
    """Badges for a page of search results (a few dozen customers at most)."""
    ids = list(customer_ids)
    if not ids:
        return {}
    with UnitOfWork(engine) as uow:
        s = uow.session
        currencies: dict[str, str] = dict(
            s.execute(select(Customer.id, Customer.currency).where(Customer.id.in_(ids))).all()
        )
        pending = dict(
            s.execute(
                select(Correction.customer_id, func.count())
                .where(Correction.customer_id.in_(ids), Correction.status == "pending_approval")
                .group_by(Correction.customer_id)
            ).all()
        )
        held = set(
            s.scalars(
                select(Hold.customer_id).where(
                    Hold.customer_id.in_(ids), Hold.released_at.is_(None)
                )
            )
        )
        failing = set(
            s.scalars(
                select(OutboxOperation.customer_id).where(
                    OutboxOperation.customer_id.in_(ids),
                    OutboxOperation.state == "needs_attention",
                )
            )
        )
        due = _amounts_due(s, ids)
        soon = datetime.now(UTC) + load_settings(s).approval_warning
        finalizing = dict(
            s.execute(
                select(PeriodInvoice.customer_id, func.min(PeriodInvoice.due_at))
                .where(
                    PeriodInvoice.customer_id.in_(ids),
                    PeriodInvoice.status.in_(("creating", "draft")),
                    PeriodInvoice.due_at < soon,
                )
                .group_by(PeriodInvoice.customer_id)
            ).all()
        )
        latest = dict(
            s.execute(
                select(Line.customer_id, func.max(Line.period))
                .where(Line.customer_id.in_(ids))
                .group_by(Line.customer_id)
            ).all()
        )
        drifting = {cid for cid, period in latest.items() if _has_drift(uow, cid, period)}
    return {
        cid: Badges(
            drift=cid in drifting,
            pending_approvals=int(pending.get(cid, 0)),
            held=cid in held,
            sync_error=cid in failing,
            amount_due=due.get(cid),
            currency=currencies.get(cid, "usd"),
            finalizes_soon=finalizing.get(cid),
        )
        for cid in ids
        if cid in currencies
    }


def _amounts_due(s: Session, ids: list[str]) -> dict[str, int]:
    """What the customer owes on open invoices; with none open, what its newest draft asks."""
    rows = s.execute(
        select(
            StripeInvoiceCache.customer_id,
            StripeInvoiceCache.status,
            StripeInvoiceCache.amount_remaining,
            StripeInvoiceCache.amount_due,
        )
        .where(
            StripeInvoiceCache.customer_id.in_(ids),
            StripeInvoiceCache.deleted.is_(False),
            StripeInvoiceCache.status.in_(("open", "draft")),
        )
        .order_by(StripeInvoiceCache.created)
    )
    owed: dict[str, int] = {}
    drafts: dict[str, int] = {}
    for cid, status, remaining, amount_due in rows:
        if cid is None:
            continue
        if status == "open":
            owed[cid] = owed.get(cid, 0) + remaining
        else:
            drafts[cid] = amount_due  # ordered by creation: the newest wins
    return {**drafts, **owed}


def _has_drift(uow: UnitOfWork, customer_id: str, period: str) -> bool:
    return customer_view(uow, customer_id, period).reconciliation.has_drift


# What corrections did to each line (the side-by-side "Corrections" column)

_STATUS_WORDS = {
    "pending_approval": "waiting for approval",
    "approved": "approved, applying",
    "applied": "applied",
    "lapsed": "approval lapsed",
}
_KIND_WORDS = {
    "adjust": "adjusted",
    "void": "voided",
    "credit": "credit",
    "one-off": "one-off charge",
}


_INVOICE_KIND_WORDS = {
    "credit": "Credit",
    "one-off": "One-off charge",
    "void-invoice": "Void the invoice",
    "hold": "Hold finalization",
    "release": "Release the hold",
}


def line_corrections(engine: Engine, customer_id: str, period: str) -> dict[int, str]:
    """Line id -> what corrections did or will do to it, in words, newest first."""
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(
            select(
                Correction.line_id,
                Correction.created_line_id,
                Correction.kind,
                Correction.status,
                Correction.currency,
                Correction.impact,
            )
            .where(
                Correction.customer_id == customer_id,
                Correction.period == period,
                Correction.status.in_(tuple(_STATUS_WORDS)),
            )
            .order_by(Correction.requested_at.desc())
        )
        out: dict[int, list[str]] = {}
        for line_id, created_line_id, kind, status, code, impact in rows:
            target = line_id if line_id is not None else created_line_id
            if target is None:
                continue
            words = _KIND_WORDS.get(kind, kind)
            text = f"{words} {fmt.signed(impact, code)}, {_STATUS_WORDS[status]}"
            out.setdefault(target, []).append(text)
    return {line_id: "; ".join(texts) for line_id, texts in out.items()}


# The customer view, as one read


@dataclass(frozen=True)
class CustomerSnapshot:
    """Everything the customer page shows, read from the store in one go (no Stripe call)."""

    view: CustomerView
    periods: tuple[str, ...]
    corrections: dict[int, str]
    held: bool
    # The newest applied correction an undo would revert: (id, what it did in words).
    undo_candidate: tuple[int, str] | None
    # Invoice-wide corrections not applied yet (a credit, a one-off, a hold…), in words.
    waiting: tuple[str, ...] = ()

    @property
    def undoable(self) -> bool:
        return self.undo_candidate is not None


def load_customer(
    engine: Engine, customer_id: str, period: str | None, mode: Mode = "test"
) -> CustomerSnapshot:
    """The customer's `period` (default: its newest) as cached; raises InvalidInput if unknown."""
    with UnitOfWork(engine) as uow:
        periods = tuple(list_periods(uow, customer_id))
        if period is None:
            period = periods[0] if periods else datetime.now(UTC).strftime("%Y-%m")
        view = customer_view(uow, customer_id, period, mode=mode)
        held = (
            uow.session.scalar(
                select(func.count())
                .select_from(Hold)
                .where(
                    Hold.customer_id == customer_id,
                    Hold.period == period,
                    Hold.released_at.is_(None),
                )
            )
            or 0
        ) > 0
        latest = uow.session.execute(
            select(Correction.id, Correction.kind, Correction.impact, Correction.currency)
            .where(
                Correction.customer_id == customer_id,
                Correction.period == period,
                Correction.status == "applied",
                Correction.kind.in_(tuple(_KIND_WORDS)),
            )
            .order_by(Correction.applied_at.desc(), Correction.id.desc())
            .limit(1)
        ).first()
        waiting = tuple(
            f"{_INVOICE_KIND_WORDS.get(kind, kind)}"
            f"{' ' + fmt.signed(impact, code) if impact else ''} by {who}, "
            f"{_STATUS_WORDS.get(status, status.replace('_', ' '))}"
            for kind, impact, code, who, status in uow.session.execute(
                select(
                    Correction.kind,
                    Correction.impact,
                    Correction.currency,
                    Correction.requested_by,
                    Correction.status,
                )
                .where(
                    Correction.customer_id == customer_id,
                    Correction.period == period,
                    Correction.line_id.is_(None),
                    Correction.status.in_(("pending_approval", "approved")),
                )
                .order_by(Correction.requested_at)
            )
        )
    undo = None
    if latest is not None:
        cid, kind, impact, code = latest
        undo = (cid, f"{_KIND_WORDS[kind]} {fmt.signed(impact, code)} (correction {cid})")
    if period not in periods:
        periods = (period, *periods)
    return CustomerSnapshot(
        view, periods, line_corrections(engine, customer_id, period), held, undo, waiting
    )


def retry_operation(engine: Engine, actor: str, operation_id: int) -> None:
    """The Sync panel's Retry: `sync_repo.requeue` in its own write transaction."""
    with UnitOfWork(engine, write=True) as uow:
        sync_repo.requeue(uow.session, operation_id, actor)
        uow.commit()


# Who needs attention (the search list while nothing is typed)


@dataclass(frozen=True)
class CustomerRef:
    """A customer as a result list shows it."""

    id: str
    name: str
    email: str
    stripe_customer_id: str | None


def attention_customers(
    engine: Engine, now: datetime | None = None, limit: int = 25
) -> list[CustomerRef]:
    """Customers a desk should look at first: Stripe refused a change, a correction waits for
    a lead, a draft finalizes within the approval warning window (settings), finalization is
    held. Most urgent first."""
    now = now or datetime.now(UTC)
    with UnitOfWork(engine) as uow:
        s = uow.session
        soon = now + load_settings(s).approval_warning
        ordered: list[str] = []
        queries = (
            select(OutboxOperation.customer_id)
            .where(OutboxOperation.state == "needs_attention")
            .order_by(OutboxOperation.last_attempt_at.desc()),
            select(Correction.customer_id)
            .where(Correction.status == "pending_approval")
            .order_by(Correction.requested_at),
            select(PeriodInvoice.customer_id)
            .where(
                PeriodInvoice.status.in_(("creating", "draft")),
                PeriodInvoice.due_at < soon,
            )
            .order_by(PeriodInvoice.due_at),
            select(Hold.customer_id).where(Hold.released_at.is_(None)).order_by(Hold.placed_at),
        )
        for query in queries:
            for customer_id in s.scalars(query.limit(limit)):
                if customer_id not in ordered:
                    ordered.append(customer_id)
        ordered = ordered[:limit]
        found = {
            c.id: CustomerRef(c.id, c.name, c.email, c.stripe_customer_id)
            for c in s.scalars(select(Customer).where(Customer.id.in_(ordered)))
        }
    return [found[cid] for cid in ordered if cid in found]
