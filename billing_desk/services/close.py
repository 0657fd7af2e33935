"""Closing a billing period: every customer with lines gets its Stripe draft invoice, due to
finalize once the grace window has passed.

`close_period` only writes the store: it records each customer's `period_invoices` row and
queues the `create_invoice` and `finalize_invoice` operations (idempotently — closing again
changes nothing). A period whose draft was deleted in Stripe has no row any more
(`stripe_cache_repo.forget_deleted_drafts`): closing it again makes a new draft, under keys of
its own. The sync engine then pushes the period's lines, creates the drafts, and
finalizes each one when it is due and nothing blocks it (`billing-desk close` runs that pass).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_desk.domain.errors import InvalidInput
from billing_desk.store import sync_repo
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.sync_ops import (
    CREATE_INVOICE,
    FINALIZE_INVOICE,
    finalize_key,
    invoice_key,
    queue_operation,
)
from billing_desk.store.uow import UnitOfWork

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A grace window longer than a year is a typo, and a long enough one overflows the clock.
MAX_GRACE = timedelta(days=365)
# Customers handled per transaction: memory stays flat however many customers there are.
CHUNK = 500


def parse_period(text: str) -> str:
    if not PERIOD.match(text):
        raise InvalidInput(f"--period must be YYYY-MM (e.g. 2026-10), got {text!r}")
    return text


def parse_duration(text: str) -> timedelta:
    """CONTRACT.md's durations: `0`, or a number with a unit (`90s`, `30m`, `24h`, `3d`), at
    most MAX_GRACE."""
    if text == "0":
        return timedelta(0)
    match = DURATION.match(text)
    if not match:
        raise InvalidInput(
            f"--grace must be 0 or a number with a unit s, m, h or d (e.g. 24h), got {text!r}"
        )
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds > MAX_GRACE.total_seconds():
        raise InvalidInput(f"--grace must be at most {MAX_GRACE.days}d, got {text!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class CloseResult:
    period: str
    customers: int  # customers with lines in the period
    newly_closed: int  # of which closed by this call


def close_period(uow: UnitOfWork, period: str, now: datetime, grace: timedelta) -> CloseResult:
    """Record the period's invoices and queue their creation and finalization. Idempotent;
    commits per chunk of customers (each chunk whole or not at all)."""
    parse_period(period)
    due_at = now + grace
    customers = newly = 0
    after = ""
    while True:
        session = uow.session
        chunk = list(
            session.execute(
                select(Line.customer_id, Customer.currency)
                .join(Customer, Customer.id == Line.customer_id)
                .where(Line.period == period, Line.voided.is_(False), Line.customer_id > after)
                .group_by(Line.customer_id, Customer.currency)
                .order_by(Line.customer_id)
                .limit(CHUNK)
            ).all()
        )
        if not chunk:
            return CloseResult(period, customers, newly)
        for customer_id, currency in chunk:
            customers += 1
            if sync_repo.period_invoice(session, customer_id, period) is not None:
                create_key, final_key = (
                    invoice_key(customer_id, period),
                    finalize_key(customer_id, period),
                )
            else:
                newly += 1
                create_key, final_key = _unused_keys(session, customer_id, period)
                session.add(
                    PeriodInvoice(
                        customer_id=customer_id,
                        period=period,
                        currency=currency,
                        status="creating",
                        due_at=due_at,
                        created_at=now,
                        updated_at=now,
                    )
                )
            payload = {"period": period}
            queue_operation(
                session,
                kind=CREATE_INVOICE,
                customer_id=customer_id,
                key=create_key,
                payload=payload,
                now=now,
            )
            queue_operation(
                session,
                kind=FINALIZE_INVOICE,
                customer_id=customer_id,
                key=final_key,
                payload=payload,
                now=now,
                due_at=due_at,
            )
        uow.commit()
        after = chunk[-1][0]


def _unused_keys(session: Session, customer_id: str, period: str) -> tuple[str, str]:
    """Keys for a new invoice of the period: the period's own, unless an earlier invoice of it
    (deleted in Stripe since) spent them: then the first unused `PERIOD:N`. Stripe would answer
    a spent key with the deleted draft."""
    generation = 1
    while True:
        name = period if generation == 1 else f"{period}:{generation}"
        key = invoice_key(customer_id, name)
        spent = session.scalar(
            select(OutboxOperation.id).where(OutboxOperation.idempotency_key == key)
        )
        if spent is None:
            return key, finalize_key(customer_id, name)
        generation += 1
