"""Customers and compiled lines written straight to the store, with their pushes queued the way
ingest queues them (`queue_line_pushes`), for the sync engine's tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Engine, select

from billing_desk.store.models import Customer, Line
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.uow import UnitOfWork
from billing_desk.sync.context import EngineConfig

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
# An engine for tests: short leases, heartbeats and backoffs, and a budget the sandbox allows.
FAST = EngineConfig(
    lease=timedelta(seconds=10),
    heartbeat=timedelta(milliseconds=200),
    backoff_base=timedelta(milliseconds=50),
    backoff_cap=timedelta(milliseconds=400),
    defer=timedelta(milliseconds=50),
    pass_patience=timedelta(seconds=10),
    rate_limit=200.0,
)


def amount_of(quantity: Decimal, unit_amount: Decimal) -> int:
    return int((quantity * unit_amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Seeded:
    customers: list[str]
    lines: dict[str, list[int]]  # customer -> line ids


def seed(
    engine: Engine,
    customers: int,
    lines_per_customer: int,
    *,
    period: str = "2026-10",
    now: datetime = NOW,
    prefix: str = "cus",
) -> Seeded:
    """`customers` customers (no Stripe id yet), each with `lines_per_customer` lines."""
    out = Seeded([], {})
    with UnitOfWork(engine, write=True) as uow:
        s = uow.session
        changes: list[LineChange] = []
        for c in range(customers):
            cid = f"{prefix}-{c:05d}"
            s.add(
                Customer(
                    id=cid,
                    name=f"Customer {c}",
                    email=f"billing+{c}@example.com",
                    currency="usd",
                    balance=0,
                    flags={},
                    created_at=now,
                    updated_at=now,
                )
            )
            s.flush()
            out.customers.append(cid)
            out.lines[cid] = []
            for i in range(lines_per_customer):
                quantity = Decimal(100 + 7 * i + c)
                unit = Decimal("1.25") + Decimal(i) / 4
                line = Line(
                    customer_id=cid,
                    period=period,
                    kind="usage",
                    item=f"api.item{i}",
                    description=f"API item {i}",
                    unit_amount=unit,
                    currency="usd",
                    quantity=quantity,
                    increment_count=1,
                    compiled_amount=amount_of(quantity, unit),
                    amount=amount_of(quantity, unit),
                    voided=False,
                    version=1,
                    sync_state="pending",
                    dirty_since=now,
                    updated_at=now,
                )
                s.add(line)
                s.flush()
                out.lines[cid].append(line.id)
                changes.append(LineChange(line.id, cid, 1))
        queue_line_pushes(s, changes, now)
        uow.commit()
    return out


def bump(engine: Engine, line_ids: list[int], extra: Decimal, now: datetime = NOW) -> None:
    """More usage on these lines: a new version each, its push queued."""
    with UnitOfWork(engine, write=True) as uow:
        s = uow.session
        changes = []
        for line in s.scalars(select(Line).where(Line.id.in_(line_ids))):
            line.quantity += extra
            line.amount = line.compiled_amount = amount_of(line.quantity, line.unit_amount)
            line.version += 1
            line.sync_state = "pending"
            line.dirty_since = line.dirty_since or now
            line.updated_at = now
            changes.append(LineChange(line.id, line.customer_id, line.version))
        s.flush()
        queue_line_pushes(s, changes, now)
        uow.commit()


def void(engine: Engine, line_id: int, now: datetime = NOW) -> None:
    with UnitOfWork(engine, write=True) as uow:
        line = uow.session.get(Line, line_id)
        assert line is not None
        line.voided = True
        line.version += 1
        line.sync_state = "pending"
        line.dirty_since = line.dirty_since or now
        uow.session.flush()
        queue_line_pushes(uow.session, [LineChange(line.id, line.customer_id, line.version)], now)
        uow.commit()
