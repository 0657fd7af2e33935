"""Stripe calls per billing cycle, per push policy, against the naive design (a call per
usage increment) and against each policy's own lower bound.

Reference workload: 300 customers × 6 items, an increment per item every hour of a 30-day
month (1,296,000 increments), agents opening 5% of the customers each day (an on-demand push).
Policies: close only; weekly; daily (the default); every 6 hours — each with the on-demand
pushes. The lower bound of a policy is one call per line per push moment at which the line had
changed, plus 2 per invoice (create, finalize) and 1 per customer created; the worst staleness
is the longest a change waited before Stripe had it.

Time is simulated: the engine runs on a simulated clock, moved hour by hour through the month,
and the sandbox's clock is advanced with it. Calls are the sandbox's own request counts.
Customers are independent of each other, so the full run simulates a 1-in-15 sample (20
customers, the whole month) and scales the counts by 15; smoke runs 5 customers for 5 days.
Targets: every policy within 1.1× its bound; daily ≥ 20× fewer calls than naive; close only
≥ 200× fewer.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_desk.domain.settings import Settings
from billing_desk.sandbox import SandboxAdmin, new_test_key
from billing_desk.services.close import close_period
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.store.models import Line
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig
from billing_desk.sync.clock import SimulatedClock
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import SyncEngine
from tests.benchmarks.test_closeout_bench import sandbox_process
from tests.integration.sync_seed import seed

ITEMS = 6
OPEN_SHARE = 0.05
REFERENCE_CUSTOMERS = 300
SIZES = {"full": (20, 30), "smoke": (5, 5)}  # (simulated customers, days)
POLICIES = [("close only", None), ("weekly", 7 * 24), ("daily (default)", 24), ("every 6 hours", 6)]
START = datetime(2026, 10, 1, tzinfo=UTC)
NEVER = timedelta(days=3650)


@dataclass
class Model:
    """The policy itself, customer by customer: when it pushes, and the least it must send."""

    interval: int | None
    pending_from: dict[str, float]  # customer -> time (h) of its oldest change not in Stripe
    created: set[str] = field(default_factory=set)
    bound: int = 0
    staleness: float = 0.0

    def due(self, hour: int) -> list[str]:
        if self.interval is None:
            return []
        return [c for c, since in self.pending_from.items() if since <= hour - self.interval]

    def push(self, customer: str, hour: int) -> None:
        self.bound += ITEMS + (customer not in self.created)
        self.created.add(customer)
        self.staleness = max(self.staleness, hour - self.pending_from[customer])
        self.pending_from[customer] = hour + 0.5  # the next hourly increment


def opens(customers: list[str], days: int, rng: random.Random) -> dict[int, list[str]]:
    """Agents open 5% of the customers each day, at random hours."""
    out: dict[int, list[str]] = {}
    for day in range(days):
        for customer in customers:
            if rng.random() < OPEN_SHARE:
                out.setdefault(day * 24 + rng.randint(1, 24), []).append(customer)
    return out


def flush(store: object, customers: list[str], flushed: dict[str, int], hour: int) -> None:
    """Write the customers' hourly increments up to `hour` into their lines, as ingest would,
    and queue their pushes (one coalesced push per line)."""
    with UnitOfWork(store, write=True) as uow:  # type: ignore[arg-type]
        changes = []
        for line in uow.session.scalars(select(Line).where(Line.customer_id.in_(customers))):
            new = hour - flushed[line.customer_id]
            if new <= 0:
                continue
            line.quantity += new
            line.amount = line.compiled_amount = int(line.quantity * line.unit_amount)
            line.version += 1
            line.sync_state = "pending"
            first = START + timedelta(hours=flushed[line.customer_id] + 0.5)
            line.dirty_since = line.dirty_since or first
            changes.append(LineChange(line.id, line.customer_id, line.version))
        uow.session.flush()
        queue_line_pushes(uow.session, changes, START + timedelta(hours=hour))
        uow.commit()
    for customer in customers:
        flushed[customer] = max(flushed[customer], hour)


def simulate(
    tmp: Path, base: str, customers: int, days: int, interval: int | None
) -> tuple[int, Model]:
    hours = days * 24
    store = create_store_engine(f"sqlite:///{tmp / f'calls-{interval}.sqlite3'}")
    upgrade(store)
    # Each line starts with its first increment (at 0:30), not yet in Stripe.
    seeded = seed(store, customers, ITEMS, now=START + timedelta(minutes=30), prefix="c")
    with UnitOfWork(store, write=True) as uow:
        for line in uow.session.scalars(select(Line)):
            line.quantity, line.unit_amount = Decimal(1), Decimal(3 + line.id % 5)
            line.amount = line.compiled_amount = int(line.unit_amount)
        uow.commit()
    ids = seeded.customers
    model = Model(interval, dict.fromkeys(ids, 0.5))
    flushed = dict.fromkeys(ids, 1)
    key = new_test_key()
    admin = SandboxAdmin(base, key)
    clock = SimulatedClock(START)
    settings = Settings(sync_interval=timedelta(hours=interval) if interval else NEVER)
    engine = SyncEngine(
        store,
        GatewayConfig(key, base),
        settings,
        config=EngineConfig(rate_limit=10_000.0),
        clock=clock,
    )
    agenda = opens(ids, days, random.Random(7))

    async def month() -> None:
        async with engine.session() as run:
            for hour in range(1, hours + 1):
                due, opened = model.due(hour), agenda.get(hour, [])
                last = hour == hours
                if not (due or opened or last):
                    continue
                admin.advance_clock((START + timedelta(hours=hour) - clock.now()).total_seconds())
                clock.set(START + timedelta(hours=hour))
                if due:
                    flush(store, due, flushed, hour)
                    await run()
                    for customer in due:
                        model.push(customer, hour)
                for customer in opened:
                    if customer not in due:
                        flush(store, [customer], flushed, hour)
                        await run(customer)
                        model.push(customer, hour)
            # Month end: close (grace 0 here), push what is left, create and finalize.
            flush(store, ids, flushed, hours)
            for customer in ids:
                if model.pending_from[customer] < hours:
                    model.push(customer, hours)
            model.bound += 2 * len(ids)
            with UnitOfWork(store, write=True) as uow:
                close_period(uow, "2026-10", clock.now(), timedelta(0))
            await run(close_period="2026-10")
            summary = await run()
            assert summary.finalized == len(ids)
            assert summary.pending == summary.needs_attention == 0

    asyncio.run(month())
    store.dispose()
    return sum(admin.counts().values()), model


@pytest.mark.timeout(3600)
def test_api_calls_per_billing_cycle(bench_size: str, tmp_path: Path) -> None:
    customers, days = SIZES[bench_size]
    scale = REFERENCE_CUSTOMERS / customers if bench_size == "full" else 1
    naive = customers * ITEMS * days * 24 * scale
    rows = []
    with sandbox_process(None, 0) as base:
        for name, interval in POLICIES:
            calls, model = simulate(tmp_path, base, customers, days, interval)
            rows.append((name, calls * scale, model.bound * scale, model.staleness))
    who = f"{customers * scale:.0f} customers" + (
        f" (1-in-{scale:.0f} sample)" if scale > 1 else ""
    )
    print(f"\nStripe calls per billing cycle: {who} x {ITEMS} items, {days} days, hourly usage")
    print(f"naive design (one call per increment): {naive:,.0f} calls")
    header = (
        f"{'policy':<18}{'calls':>10}{'x fewer':>9}{'bound':>10}{'vs bound':>9}{'staleness':>11}"
    )
    print(header)
    for name, calls, bound, stale in rows:
        print(
            f"{name:<18}{calls:>10,.0f}{naive / calls:>9.1f}{bound:>10,.0f}"
            f"{calls / bound:>9.3f}{stale:>10.1f}h"
        )
    for name, calls, bound, _ in rows:
        assert calls <= 1.1 * bound, name
    by_name = {name: calls for name, calls, _, _ in rows}
    if bench_size == "full":
        assert naive / by_name["daily (default)"] >= 20
        assert naive / by_name["close only"] >= 200
