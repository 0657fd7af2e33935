"""A customer whose lines are already in Stripe, as the push engine leaves them, for pull tests.

The Stripe side is written through stripe-python against the sandbox with the push engine's
metadata (`billing_desk_line`, `billing_desk_version`, `billing_desk_period`); the local side
straight to the store. `run_pull` opens the real gateway and runs one pull function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Engine

from billing_desk.store.models import Customer, Line
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, StripeGateway, open_gateway

PERIOD = "2026-11"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T = TypeVar("T")


@dataclass
class Seeded:
    customer_id: str
    stripe_customer: str
    lines: list[int]
    items: dict[int, str]  # line id -> Stripe invoice item id


def item_metadata(line_id: int, version: int, period: str = PERIOD) -> dict[str, str]:
    return {
        "billing_desk_line": str(line_id),
        "billing_desk_version": str(version),
        "billing_desk_period": period,
    }


def seed_pushed(
    engine: Engine,
    client: Any,
    amounts: list[int],
    *,
    customer_id: str = "cust-1",
    period: str = PERIOD,
    balance: int = 0,
) -> Seeded:
    """A local customer with one synced line per amount, each a pending item in Stripe."""
    stripe_customer = client.v1.customers.create(
        {
            "name": "Acme Ltd",
            "email": "billing@acme.test",
            "metadata": {"billing_desk_customer": customer_id},
            **({"balance": balance} if balance else {}),
        }
    ).id
    with UnitOfWork(engine, write=True) as uow:
        s = uow.session
        s.add(
            Customer(
                id=customer_id,
                name="Acme Ltd",
                email="billing@acme.test",
                currency="usd",
                stripe_customer_id=stripe_customer,
                balance=0,
                flags={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        s.flush()
        rows = []
        for i, amount in enumerate(amounts):
            row = Line(
                customer_id=customer_id,
                period=period,
                kind="usage",
                item=f"api.item{i}",
                description=f"API item {i}",
                unit_amount=Decimal(1),
                currency="usd",
                quantity=Decimal(amount),
                increment_count=1,
                compiled_amount=amount,
                amount=amount,
                voided=False,
                version=1,
                synced_version=1,
                sync_state="synced",
                updated_at=NOW,
            )
            s.add(row)
            rows.append(row)
        s.flush()
        items: dict[int, str] = {}
        for row in rows:
            made = client.v1.invoice_items.create(
                {
                    "customer": stripe_customer,
                    "amount": row.amount,
                    "currency": "usd",
                    "description": row.description,
                    "metadata": item_metadata(row.id, 1, period),
                }
            )
            row.stripe_invoice_item = items[row.id] = made.id
        uow.commit()
        return Seeded(customer_id, stripe_customer, [row.id for row in rows], items)


def close_in_stripe(engine: Engine, client: Any, seeded: Seeded, period: str = PERIOD) -> str:
    """The period's draft invoice, made the way `close` makes it, and recorded locally."""
    invoice = client.v1.invoices.create(
        {
            "customer": seeded.stripe_customer,
            "currency": "usd",
            "auto_advance": False,
            "pending_invoice_items_behavior": "include",
            "metadata": {
                "billing_desk_period": period,
                "billing_desk_customer": seeded.customer_id,
            },
        }
    )
    with UnitOfWork(engine, write=True) as uow:
        uow.session.add(
            PeriodInvoice(
                customer_id=seeded.customer_id,
                period=period,
                currency="usd",
                stripe_invoice_id=invoice.id,
                status="draft",
                due_at=NOW,
                total=invoice.total,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        uow.commit()
    return str(invoice.id)


def run_pull(
    sandbox: Any,
    engine: Engine,
    pull: Callable[..., Awaitable[T]],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run `pull(gateway, uow_factory, *args, **kwargs)` through the real gateway."""

    async def work(gateway: StripeGateway) -> T:
        return await pull(gateway, lambda: UnitOfWork(engine, write=True), *args, **kwargs)

    return with_gateway(sandbox, work)


def with_gateway(sandbox: Any, work: Callable[[StripeGateway], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_gateway(
            GatewayConfig(sandbox.api_key, sandbox.url), RateLimiter(200)
        ) as gw:
            return await work(gw)

    return asyncio.run(main())
