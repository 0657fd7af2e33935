"""The sync engine's store queries: outbox claims and leases, outcomes, invoices per period,
worker heartbeats and API statistics.

Claims take whole customers: every due operation of up to N customers that no other live
worker holds, so one customer's operations (create the customer, push its lines, create and
finalize its invoice) are never sent by two workers at once and keep their order. On SQLite
the claim is a conditional UPDATE inside a transaction begun IMMEDIATE (the caller's
`UnitOfWork(write=True)`); on PostgreSQL the customers' rows, then the outbox rows, are taken
`FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for each other and never share a
customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billing_desk.domain.errors import InvalidInput
from billing_desk.store.audit_repo import append_audit
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.sync import PeriodInvoice, SyncApiCalls, SyncError, SyncWorker
from billing_desk.store.sync_ops import (
    CLAIMED,
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    DONE,
    NEEDS_ATTENTION,
    PENDING,
    PUSH_LINE,
    SUPERSEDED,
    customer_key,
    queue_operation,
)
from billing_desk.store.types import UTCDateTime

Outbox = OutboxOperation
STRIPE_OBJECT = OutboxOperation.__table__.c.stripe_object_id


@dataclass(frozen=True)
class ClaimScope:
    """Which due operations a pass takes.

    - `customer`: on demand: every due operation of this customer, whatever the interval.
    - `close_period`: at close: line pushes of this period and earlier, customers, invoices.
    - otherwise the interval policy: a line push is due once its line's oldest unsynced change
      is older than `interval_cutoff` (None: at once); other operations when their time comes.
    """

    customer: str | None = None
    close_period: str | None = None
    interval_cutoff: datetime | None = None


@dataclass(frozen=True)
class ClaimedOp:
    id: int
    kind: str
    customer_id: str
    line_id: int | None
    target_version: int | None
    key: str
    payload: dict[str, Any]
    attempts: int
    first_attempt_at: datetime | None
    next_attempt_at: datetime | None

    @staticmethod
    def of(row: OutboxOperation) -> ClaimedOp:
        return ClaimedOp(
            id=row.id,
            kind=row.kind,
            customer_id=row.customer_id,
            line_id=row.line_id,
            target_version=row.target_version,
            key=row.idempotency_key,
            payload=dict(row.payload or {}),
            attempts=row.attempts,
            first_attempt_at=row.first_attempt_at,
            next_attempt_at=row.next_attempt_at,
        )


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            Outbox.state == PENDING,
            or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
        ),
        and_(Outbox.state == CLAIMED, Outbox.lease_expires_at < now),
    )


def _policy(scope: ClaimScope) -> ColumnElement[bool]:
    if scope.customer is not None:
        return Outbox.customer_id == scope.customer
    if scope.close_period is not None:
        return or_(
            and_(Outbox.kind == PUSH_LINE, Line.period <= scope.close_period),
            Outbox.kind.in_((CREATE_CUSTOMER, CREATE_INVOICE)),
        )
    if scope.interval_cutoff is None:
        return Outbox.id.is_not(None)
    changed = func.coalesce(Line.dirty_since, Outbox.created_at)
    # Once a period is closed its draft is under review: changes go to Stripe at once.
    closed = (
        select(PeriodInvoice.id)
        .where(PeriodInvoice.customer_id == Outbox.customer_id, PeriodInvoice.period == Line.period)
        .exists()
    )
    return or_(Outbox.kind != PUSH_LINE, changed <= scope.interval_cutoff, closed)


def claim(
    session: Session,
    worker: str,
    now: datetime,
    lease: timedelta,
    scope: ClaimScope,
    max_customers: int,
) -> list[ClaimedOp]:
    """Lease the due operations of up to `max_customers` customers to `worker`.

    Run inside a write unit of work and commit right after. Customers without a Stripe id get
    their `create_customer` operation queued (and claimed) here.
    """
    is_pg = session.get_bind().dialect.name == "postgresql"
    held_elsewhere = select(Outbox.customer_id).where(
        Outbox.state == CLAIMED, Outbox.lease_expires_at >= now, Outbox.lease_owner != worker
    )
    wanted = and_(_due(now), _policy(scope), Outbox.customer_id.not_in(held_elsewhere))
    customers = list(
        session.scalars(
            select(Outbox.customer_id)
            .outerjoin(Line, Line.id == Outbox.line_id)
            .where(wanted)
            .group_by(Outbox.customer_id)
            .order_by(func.min(Outbox.id))
            .limit(max_customers)
        )
    )
    if is_pg:
        customers = _lock_customers(session, customers, held_elsewhere)
    if not customers:
        return []
    for customer_id in session.scalars(
        select(Customer.id).where(Customer.id.in_(customers), Customer.stripe_customer_id.is_(None))
    ):
        queue_operation(
            session,
            kind=CREATE_CUSTOMER,
            customer_id=customer_id,
            key=customer_key(customer_id),
            payload={},
            now=now,
        )
    rows_query = (
        select(Outbox)
        .outerjoin(Line, Line.id == Outbox.line_id)
        .where(Outbox.customer_id.in_(customers), or_(wanted, Outbox.kind == CREATE_CUSTOMER))
        .where(_due(now))
        .order_by(Outbox.id)
    )
    if is_pg:
        rows_query = rows_query.with_for_update(skip_locked=True, of=Outbox)
    rows = list(session.scalars(rows_query))
    if not rows:
        return []
    session.execute(
        update(Outbox)
        .where(Outbox.id.in_([r.id for r in rows]))
        .values(state=CLAIMED, lease_owner=worker, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return [ClaimedOp.of(r) for r in rows]


def _lock_customers(session: Session, customers: list[str], held_elsewhere: Any) -> list[str]:
    """PostgreSQL: take the customers' rows FOR UPDATE SKIP LOCKED (a concurrent claimer keeps
    the ones it locked first), then drop any another claimer leased and committed between our
    look and our lock (this later statement sees its commit)."""
    locked = list(
        session.scalars(
            select(Customer.id)
            .where(Customer.id.in_(customers))
            .order_by(Customer.id)
            .with_for_update(skip_locked=True)
        )
    )
    if not locked:
        return []
    busy = set(
        session.scalars(
            select(Outbox.customer_id).where(
                Outbox.customer_id.in_(locked), Outbox.customer_id.in_(held_elsewhere)
            )
        )
    )
    return [c for c in locked if c not in busy]


def renew_leases(session: Session, worker: str, now: datetime, lease: timedelta) -> int:
    result = session.execute(
        update(Outbox)
        .where(Outbox.state == CLAIMED, Outbox.lease_owner == worker)
        .values(lease_expires_at=now + lease)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _held(session: Session, op_id: int, worker: str) -> OutboxOperation | None:
    """The row, if `worker` still holds its lease (else another worker owns its outcome)."""
    row = session.get(Outbox, op_id, with_for_update=True)
    if row is None or row.state != CLAIMED or row.lease_owner != worker:
        return None
    return row


def _mine(op_id: int, worker: str) -> ColumnElement[bool]:
    """The row, as long as `worker` still holds its lease (else another owns its outcome)."""
    return and_(Outbox.id == op_id, Outbox.state == CLAIMED, Outbox.lease_owner == worker)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def begin_attempt(
    session: Session,
    op: ClaimedOp,
    worker: str,
    now: datetime,
    request: dict[str, Any] | None,
) -> bool:
    """Record that the operation is about to be sent (before the first byte leaves).

    `request`, when given and none is frozen yet, is frozen into the payload so every retry
    sends exactly the same parameters under the same key. False if the lease was lost.
    One UPDATE: it runs for every push, inside the engine's group commit.
    """
    values: dict[str, Any] = {
        "attempts": Outbox.attempts + 1,
        "first_attempt_at": func.coalesce(
            Outbox.first_attempt_at, literal(now, type_=UTCDateTime())
        ),
        "last_attempt_at": now,
    }
    if request is not None and "request" not in op.payload:
        # The payload is the claimed snapshot: nobody else writes it while we hold the lease.
        values["payload"] = {**op.payload, "request": request}
    result = session.execute(
        update(Outbox)
        .where(_mine(op.id, worker))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def settle_done(
    session: Session, op_id: int, worker: str, now: datetime, stripe_object_id: str | None
) -> bool:
    """The operation succeeded (one UPDATE). False if the lease was lost."""
    values: dict[Any, Any] = {
        Outbox.state: DONE,
        Outbox.lease_owner: None,
        Outbox.lease_expires_at: None,
        Outbox.done_at: now,
        Outbox.last_error: None,
    }
    if stripe_object_id is not None:
        values[STRIPE_OBJECT] = stripe_object_id
    result = session.execute(
        update(Outbox)
        .where(_mine(op_id, worker))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def finish(
    session: Session,
    op_id: int,
    worker: str,
    now: datetime,
    *,
    state: str,
    stripe_object_id: str | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    payload_update: dict[str, Any] | None = None,
) -> bool:
    """Settle or release a claimed operation. `state` is done, needs_attention, superseded or
    pending (released: tried again at `next_attempt_at`). False if the lease was lost."""
    row = _held(session, op_id, worker)
    if row is None:
        return False
    if state == PENDING and row.attempts == 0 and row.line_id is not None:
        # Released unsent while ingest queued a newer push for the line: that one covers it.
        newer = session.scalar(
            select(Outbox.id).where(
                Outbox.line_id == row.line_id,
                Outbox.state == PENDING,
                Outbox.attempts == 0,
                Outbox.id != row.id,
            )
        )
        if newer is not None:
            state = SUPERSEDED
    row.state = state
    row.lease_owner = None
    row.lease_expires_at = None
    if payload_update:
        row.payload = {**(row.payload or {}), **payload_update}
    if state == PENDING:
        row.next_attempt_at = next_attempt_at
        row.last_error = error
    elif state in (DONE, SUPERSEDED):
        row.done_at = now
        row.last_error = None
    else:
        row.done_at = now
        row.last_error = error
    if stripe_object_id is not None:
        session.execute(
            update(Outbox).where(Outbox.id == op_id).values({STRIPE_OBJECT: stripe_object_id})
        )
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the newer push appeared concurrently (PostgreSQL): yield to it
        row.state = SUPERSEDED
        row.done_at = now
    return True


def release_all(session: Session, worker: str) -> int:
    """Give back every lease `worker` holds (a clean stop): the rows are due again at once."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.state == CLAIMED, Outbox.lease_owner == worker)
        .values(state=PENDING, lease_owner=None, lease_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def requeue(session: Session, op_id: int, actor: str, now: datetime | None = None) -> None:
    """Put an operation Stripe refused back in the queue, due now (the Sync panel's Retry),
    audited in the caller's write transaction. It keeps its idempotency key, so a retry can
    never bill twice."""
    op = session.get(Outbox, op_id, with_for_update=True)
    if op is None or op.state != NEEDS_ATTENTION:
        raise InvalidInput(f"operation {op_id} does not need attention any more")
    append_audit(
        session,
        actor,
        "sync.retry_requested",
        f"outbox:{op.id}",
        {"state": op.state, "error": op.last_error},
        {"state": PENDING},
    )
    op.state, op.next_attempt_at = PENDING, now or datetime.now(UTC)
    if op.line_id is not None:
        line = session.get(Line, op.line_id)
        if line is not None and line.sync_state == "needs_attention":
            line.sync_state = "pending"


# Lines


def record_line_pushed(
    session: Session, line_id: int, version: int, item_id: str | None, now: datetime
) -> None:
    """Stripe holds `version` of the line (as invoice item `item_id`; None once deleted).

    One UPDATE, skipped if a newer version was recorded already.
    """
    current = Line.version <= version
    session.execute(
        update(Line)
        .where(
            Line.id == line_id,
            or_(Line.synced_version.is_(None), Line.synced_version <= version),
        )
        .values(
            synced_version=version,
            stripe_invoice_item=item_id,
            sync_state=case((current, "synced"), else_="pending"),
            dirty_since=case((current, None), else_=Line.dirty_since),
        )
        .execution_options(synchronize_session=False)
    )


def point_lines(session: Session, line_ids: list[int], item_id: str | None) -> None:
    """Unchanged lines now shown in Stripe by another item (their roll-up)."""
    if line_ids:
        session.execute(
            update(Line)
            .where(Line.id.in_(line_ids))
            .values(stripe_invoice_item=item_id)
            .execution_options(synchronize_session=False)
        )


def record_line_attention(session: Session, line_id: int) -> None:
    line = session.get(Line, line_id)
    if line is not None:
        line.sync_state = "needs_attention"


# Invoices per period


def period_invoice(session: Session, customer_id: str, period: str) -> PeriodInvoice | None:
    return session.scalar(
        select(PeriodInvoice).where(
            PeriodInvoice.customer_id == customer_id, PeriodInvoice.period == period
        )
    )


def open_period_invoices(session: Session, customer_id: str) -> dict[str, PeriodInvoice]:
    """The customer's invoices that exist in Stripe, by period."""
    rows = session.scalars(
        select(PeriodInvoice).where(
            PeriodInvoice.customer_id == customer_id,
            PeriodInvoice.stripe_invoice_id.is_not(None),
        )
    )
    return {r.period: r for r in rows}


def update_period_invoice(
    session: Session, customer_id: str, period: str, now: datetime, **values: Any
) -> None:
    session.execute(
        update(PeriodInvoice)
        .where(PeriodInvoice.customer_id == customer_id, PeriodInvoice.period == period)
        .values(updated_at=now, **values)
    )


def mark_invoice_status(
    session: Session, stripe_invoice_id: str, status: str, now: datetime
) -> None:
    session.execute(
        update(PeriodInvoice)
        .where(PeriodInvoice.stripe_invoice_id == stripe_invoice_id)
        .values(status=status, updated_at=now)
    )


def invoiced_count(session: Session, period: str) -> int:
    """Customers whose invoice for `period` exists in Stripe."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(PeriodInvoice)
            .where(PeriodInvoice.period == period, PeriodInvoice.stripe_invoice_id.is_not(None))
        )
        or 0
    )


def unsettled_pushes(session: Session, customer_id: str, period: str) -> int:
    """Line pushes of the customer's period still queued or in flight."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Outbox)
            .join(Line, Line.id == Outbox.line_id)
            .where(
                Outbox.customer_id == customer_id,
                Outbox.kind == PUSH_LINE,
                Outbox.state.in_((PENDING, CLAIMED)),
                Line.period == period,
            )
        )
        or 0
    )


def uninvoiced_earlier_periods(session: Session, customer_id: str, period: str) -> list[str]:
    """Earlier periods of the customer with lines but no Stripe invoice yet.

    Pending invoice items are swept into the next invoice created for the customer, whatever
    their period: a later period's lines wait as long as an earlier one is not invoiced.
    """
    invoiced = select(PeriodInvoice.period).where(
        PeriodInvoice.customer_id == customer_id, PeriodInvoice.stripe_invoice_id.is_not(None)
    )
    return list(
        session.scalars(
            select(Line.period)
            .where(
                Line.customer_id == customer_id,
                Line.period < period,
                Line.voided.is_(False),
                Line.period.not_in(invoiced),
            )
            .distinct()
        )
    )


def period_lines(session: Session, customer_id: str, period: str) -> Sequence[Line]:
    return session.scalars(
        select(Line).where(Line.customer_id == customer_id, Line.period == period).order_by(Line.id)
    ).all()


# Workers and statistics


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def heartbeat(
    session: Session,
    worker: str,
    now: datetime,
    ttl: timedelta,
    *,
    host: str,
    pid: int,
    status: str,
    detail: str | None,
    calls_per_s: float = 0.0,
) -> None:
    """Refresh the worker's row: alive until `now + ttl`, with its state for the sync panel.
    (Its share of the request budget is a lease of its own: `rate_lease_repo`.)"""
    row = session.get(SyncWorker, worker)
    if row is None:
        row = SyncWorker(
            worker_id=worker,
            host=host,
            pid=pid,
            started_at=now,
            outbox_depth=0,
            needs_attention=0,
        )
        session.add(row)
    row.status, row.detail = status, detail
    row.heartbeat_at, row.expires_at = now, now + ttl
    row.calls_per_s = calls_per_s
    depth = outbox_depth(session)
    row.outbox_depth, row.needs_attention = depth.queued, depth.needs_attention
    session.flush()


def sign_off(session: Session, worker: str, now: datetime, status: str, detail: str | None) -> None:
    """A clean stop: the row stays for the sync panel, no longer alive."""
    session.execute(
        update(SyncWorker)
        .where(SyncWorker.worker_id == worker)
        .values(status=status, detail=detail, heartbeat_at=now, expires_at=now, last_pass_at=now)
    )


def forget_stopped_workers(session: Session, before: datetime) -> None:
    session.execute(delete(SyncWorker).where(SyncWorker.expires_at < before))


@dataclass(frozen=True)
class Depth:
    queued: int  # pending or claimed
    due: int  # of which due now
    needs_attention: int
    blocked: int  # due finalizations held back (a hold, a pending correction, drift)


def outbox_depth(
    session: Session, now: datetime | None = None, customer: str | None = None
) -> Depth:
    scope = [] if customer is None else [Outbox.customer_id == customer]
    counts = dict(
        session.execute(
            select(Outbox.state, func.count()).where(*scope).group_by(Outbox.state)
        ).all()
    )
    due = 0
    if now is not None:
        due = int(
            session.scalar(select(func.count()).select_from(Outbox).where(_due(now), *scope)) or 0
        )
    blocked = 0
    if now is not None:
        blocked_q = (
            select(func.count())
            .select_from(PeriodInvoice)
            .where(
                PeriodInvoice.status == "draft",
                PeriodInvoice.blocked_reason.is_not(None),
                PeriodInvoice.due_at <= now,
            )
        )
        if customer is not None:
            blocked_q = blocked_q.where(PeriodInvoice.customer_id == customer)
        blocked = int(session.scalar(blocked_q) or 0)
    return Depth(
        queued=int(counts.get(PENDING, 0)) + int(counts.get(CLAIMED, 0)),
        due=due,
        needs_attention=int(counts.get(NEEDS_ATTENTION, 0)),
        blocked=blocked,
    )


def retrying(
    session: Session, now: datetime, customer: str | None = None
) -> tuple[int, datetime | None]:
    """Operations a pass should still wait for, and the earliest time one is due again: those
    that failed transiently or wait on another (they carry the reason in `last_error`), and
    those leased to a worker that has died (due when its lease runs out). Operations a live
    worker holds are its business."""
    scope = [] if customer is None else [Outbox.customer_id == customer]
    count, earliest = session.execute(
        select(func.count(), func.min(Outbox.next_attempt_at)).where(
            Outbox.state == PENDING, Outbox.last_error.is_not(None), *scope
        )
    ).one()
    live = select(SyncWorker.worker_id).where(SyncWorker.expires_at > now)
    orphans, expiry = session.execute(
        select(func.count(), func.min(Outbox.lease_expires_at)).where(
            Outbox.state == CLAIMED, Outbox.lease_owner.not_in(live), *scope
        )
    ).one()
    times = [t for t in (earliest, expiry) if t is not None]
    return int(count or 0) + int(orphans or 0), min(times) if times else None


def count_due(session: Session, now: datetime, scope: ClaimScope) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Outbox)
            .outerjoin(Line, Line.id == Outbox.line_id)
            .where(_due(now), _policy(scope))
        )
        or 0
    )


def record_api_calls(
    session: Session, counts: dict[tuple[datetime, str], tuple[int, int, int]]
) -> None:
    """Add (calls, errors, rate_limited) per (hour, endpoint) to the hourly statistics."""
    insert = _insert(session)
    for (hour, endpoint), (calls, errors, limited) in counts.items():
        stmt = insert(SyncApiCalls).values(
            hour=hour, endpoint=endpoint, calls=calls, errors=errors, rate_limited=limited
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[SyncApiCalls.hour, SyncApiCalls.endpoint],
            set_={
                "calls": SyncApiCalls.calls + calls,
                "errors": SyncApiCalls.errors + errors,
                "rate_limited": SyncApiCalls.rate_limited + limited,
            },
        )
        session.execute(stmt)


def record_errors(session: Session, errors: Iterable[SyncError]) -> None:
    session.add_all(list(errors))
