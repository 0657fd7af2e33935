"""More lines in a period than a Stripe invoice holds (250): they roll up by item prefix."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from billing_desk.domain.reconcile import RowStatus
from billing_desk.services.close import close_period
from billing_desk.services.customer_view import customer_view
from billing_desk.store.models import Line
from billing_desk.store.models.stripe_cache import StripeInvoiceItemCache
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.uow import UnitOfWork
from billing_desk.sync.rollup import groups_of
from tests.integration.sync_seed import NOW, amount_of, bump, seed
from tests.integration.test_sync_engine import make_engine


def add_lines(engine: Engine, customer: str, items: list[str]) -> None:
    with UnitOfWork(engine, write=True) as uow:
        changes = []
        for item in items:
            line = Line(
                customer_id=customer, period="2026-10", kind="usage", item=item,
                description=item, unit_amount=Decimal("2.5"), currency="usd",
                quantity=Decimal(3), increment_count=1,
                compiled_amount=amount_of(Decimal(3), Decimal("2.5")),
                amount=amount_of(Decimal(3), Decimal("2.5")), voided=False, version=1,
                sync_state="pending", dirty_since=NOW, updated_at=NOW,
            )  # fmt: skip
            uow.session.add(line)
            uow.session.flush()
            changes.append(LineChange(line.id, customer, 1))
        queue_line_pushes(uow.session, changes, NOW)
        uow.commit()


def test_groups_are_prefixes_within_the_limit() -> None:
    assert groups_of({"api.calls", "api:egress", "storage-gb", "seats"}) == {
        "api.calls": "api",
        "api:egress": "api",
        "storage-gb": "storage",
        "seats": "seats",
    }
    many = groups_of({f"p{i}.x" for i in range(600)})
    assert len(set(many.values())) <= 250


def test_a_period_past_250_lines_rolls_up_and_finalizes(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seeded = seed(engine, customers=1, lines_per_customer=245)  # items api.item0 ... (one group)
    customer = seeded.customers[0]
    sync = make_engine(engine, stripe_sandbox)
    asyncio.run(sync.run_once())
    client = stripe_sandbox.client()
    stripe_id = client.v1.customers.list({"limit": 1}).data[0].id
    assert len(client.v1.invoice_items.list({"customer": stripe_id, "limit": 100}).data) == 100
    # Past the limit: the lines' own items go, one item per prefix sums them.
    add_lines(engine, customer, [f"storage.tier{i}" for i in range(10)])
    asyncio.run(sync.run_once())
    items = list(
        client.v1.invoice_items.list({"customer": stripe_id, "limit": 100}).auto_paging_iter()
    )
    with UnitOfWork(engine) as uow:
        lines = uow.session.scalars(select(Line)).all()
        by_prefix = {
            p: sum(ln.amount for ln in lines if ln.item.startswith(p)) for p in ("api", "storage")
        }
        assert {ln.sync_state for ln in lines} == {"synced"}
    assert {i.metadata["billing_desk_rollup"]: i.amount for i in items} == by_prefix
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, "2026-10", sync.clock.now(), timedelta(0))
    asyncio.run(sync.run_once(close_period="2026-10"))
    summary = asyncio.run(sync.run_once())
    assert summary.finalized == 1
    invoice = client.v1.invoices.list({"customer": stripe_id}).data[0]
    assert invoice.status == "open"
    assert invoice.total == sum(by_prefix.values())


def test_a_rolled_up_period_shows_in_sync_without_a_pull(
    engine: Engine, stripe_sandbox: Any
) -> None:
    """Roll-up pushes write Stripe's answers into the cache as ordinary pushes do."""
    seeded = seed(engine, customers=1, lines_per_customer=245)
    customer = seeded.customers[0]
    sync = make_engine(engine, stripe_sandbox)
    asyncio.run(sync.run_once())
    add_lines(engine, customer, [f"storage.tier{i}" for i in range(10)])
    asyncio.run(sync.run_once())  # past 250: the lines' own items go, one per prefix comes

    def cached() -> dict[str, int]:
        with UnitOfWork(engine) as uow:
            live = uow.session.scalars(
                select(StripeInvoiceItemCache).where(StripeInvoiceItemCache.deleted.is_(False))
            ).all()
            return {item.meta.get("billing_desk_rollup", item.id): item.amount for item in live}

    def statuses() -> set[RowStatus]:
        with UnitOfWork(engine) as uow:
            return {row.status for row in customer_view(uow, customer, "2026-10").rows}

    def sums() -> dict[str, int]:
        with UnitOfWork(engine) as uow:
            lines = uow.session.scalars(select(Line)).all()
            return {
                p: sum(ln.amount for ln in lines if ln.item.startswith(p))
                for p in ("api", "storage")
            }

    assert cached() == sums()
    assert statuses() == {RowStatus.IN_SYNC}

    # A change inside a group updates its one item, and the cache with it.
    bump(engine, [seeded.lines[customer][0]], Decimal(40))
    assert statuses() != {RowStatus.IN_SYNC}
    asyncio.run(sync.run_once())
    assert cached() == sums()
    assert statuses() == {RowStatus.IN_SYNC}
