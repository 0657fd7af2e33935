"""Real data for GUI tests, made through the app's own services: customers imported, usage
ingested, pushed to the sandbox by the real sync engine, pulled back by the real pull."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from billing_desk.services.customers import import_customers
from billing_desk.services.ingest import Source, ingest
from billing_desk.store.models import Customer, Line
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, open_gateway
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import PassSummary, SyncEngine
from billing_desk.sync.pull import PullSummary, pull_customer

PERIOD = "2026-10"
FAST = EngineConfig(rate_limit=500.0)


def _jsonl(rows: Sequence[dict[str, Any]], name: str) -> Source:
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    return Source(name, io.BytesIO(data), len(data))


def add_customers(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    with UnitOfWork(engine, write=True) as uow:
        summary = import_customers(uow, [_jsonl(rows, "customers.jsonl")])
    assert summary.rejected == 0, summary


def customer(i: int, name: str, **extra: Any) -> dict[str, Any]:
    first = name.split()[0].lower()
    return {
        "id": f"c-{i:04d}",
        "name": name,
        "email": f"{first}@example.com",
        "currency": "usd",
        **extra,
    }


def add_usage(
    engine: Engine,
    customer_id: str,
    item: str,
    quantities: Sequence[str | int],
    *,
    unit_amount: str = "50",
    description: str | None = None,
    period: str = PERIOD,
    start: int = 0,
    tag: str = "",
) -> None:
    """One increment per hour of the period, from hour `start`."""
    rows = usage_rows(customer_id, item, quantities, unit_amount, description, period, start, tag)
    ingest_rows(engine, rows)


def ingest_rows(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Usage rows (as `usage_rows` makes them) in one ingest call."""
    with UnitOfWork(engine, write=True) as uow:
        summary = ingest(uow, [_jsonl(rows, "usage.jsonl")], actor="platform")
    assert summary.rejected == 0, summary


def usage_rows(
    customer_id: str,
    item: str,
    quantities: Sequence[str | int],
    unit_amount: str = "50",
    description: str | None = None,
    period: str = PERIOD,
    start: int = 0,
    tag: str = "",
) -> list[dict[str, Any]]:
    year, month = (int(p) for p in period.split("-"))
    base = datetime(year, month, 1, tzinfo=UTC)
    return [
        {
            "event_id": f"{customer_id}-{item}-{tag}{start + k}",
            "customer": customer_id,
            "item": item,
            "description": description or item.replace(".", " ").title(),
            "quantity": str(q),
            "unit_amount": unit_amount,
            "currency": "usd",
            "occurred_at": (base + timedelta(hours=start + k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for k, q in enumerate(quantities)
    ]


def push(engine: Engine, url: str, key: str, customer_id: str | None = None) -> PassSummary:
    sync = SyncEngine(engine, GatewayConfig(key, url), config=FAST)
    return asyncio.run(sync.run_once(customer_id))


def pull(engine: Engine, url: str, key: str, customer_id: str, period: str = PERIOD) -> PullSummary:
    async def run() -> PullSummary:
        async with open_gateway(GatewayConfig(key, url), RateLimiter(500.0)) as gateway:
            return await pull_customer(
                gateway, lambda: UnitOfWork(engine, write=True), customer_id, period
            )

    return asyncio.run(run())


def stripe_id(engine: Engine, customer_id: str) -> str:
    with UnitOfWork(engine) as uow:
        found = uow.session.get(Customer, customer_id)
        assert found is not None
        assert found.stripe_customer_id is not None
        return found.stripe_customer_id


def line_item(engine: Engine, customer_id: str, item: str) -> tuple[int, str | None]:
    """(line id, its Stripe invoice item) of the customer's line for `item`."""
    with UnitOfWork(engine) as uow:
        line = uow.session.scalars(
            select(Line).where(Line.customer_id == customer_id, Line.item == item)
        ).one()
        return line.id, line.stripe_invoice_item


def close_and_pull(engine: Engine, url: str, key: str, customer_id: str) -> None:
    """Close PERIOD (a draft invoice, due in a day) and pull the customer's Stripe state."""
    from billing_desk.services.close import close_period

    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, PERIOD, datetime.now(UTC), timedelta(hours=24))
    sync = SyncEngine(engine, GatewayConfig(key, url), config=FAST)
    asyncio.run(sync.run_once(close_period=PERIOD))
    pull(engine, url, key, customer_id)
