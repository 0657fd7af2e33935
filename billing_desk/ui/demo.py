"""The demo workspace: the Stripe sandbox in-process on a free loopback port (`--seed demo`)
and a temporary SQLite store seeded to match it, through the app's own services and the real
sync engine — so everything on screen is real: pushed, edited "in the Dashboard", pulled back.

`start_demo(user)` runs off the UI thread (a few seconds) and returns the `Workspace`; closing
the window stops the sandbox and deletes the temporary store.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from billing_desk.config import STRIPE_KEY_ENTRY, MemorySecrets
from billing_desk.sandbox import DEMO_API_KEY, SandboxServer, demo_customers
from billing_desk.services import demo
from billing_desk.store.migrate import open_store
from billing_desk.store.models import Line
from billing_desk.store.models.stripe_cache import StripeInvoiceCache
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, StripeGateway, open_gateway
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import SyncEngine
from billing_desk.sync.pull import full_reconcile, pull_customer
from billing_desk.ui.sync_worker import WorkerOptions
from billing_desk.ui.workspace import Workspace

BANNER = (
    "Demo workspace — sample customers and a local Stripe stand-in on this computer. "
    "Nothing reaches Stripe, and everything is deleted when you close the window."
)
# The sandbox is local: seeding need not spare Stripe's rate budget.
SEEDING_RATE = 400.0


def start_demo(desk_user: str) -> Workspace:
    folder = Path(tempfile.mkdtemp(prefix="billing-desk-demo-"))
    server = SandboxServer(port=0, seed="demo").start()
    engine: Engine | None = None
    try:
        url = f"sqlite:///{folder / 'demo.sqlite3'}"
        engine = open_store(url)
        start_customer = _seed(engine, server.url, desk_user, datetime.now(UTC))
    except BaseException:
        if engine is not None:
            engine.dispose()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Workspace(
        engine,
        url,
        desk_user,
        server.url,
        MemorySecrets({STRIPE_KEY_ENTRY: DEMO_API_KEY}),
        banner=BANNER,
        start_customer=start_customer,
        worker_options=WorkerOptions(engine=EngineConfig(rate_limit=25.0)),
        on_close=[lambda: shutil.rmtree(folder, ignore_errors=True), server.stop],
    )


def _seed(engine: Engine, base: str, desk_user: str, now: datetime) -> str:
    """Fill the store to match the sandbox's demo account; returns the customer to open first
    (one whose Stripe draft was edited in the Dashboard)."""

    def new_uow() -> UnitOfWork:
        return UnitOfWork(engine, write=True)

    customers = demo.demo_customers(demo_customers())
    current = demo.period_of(now)
    with new_uow() as uow:
        demo.seed_customers(uow, customers)
    config = GatewayConfig(DEMO_API_KEY, base)
    limiter = RateLimiter(SEEDING_RATE)

    async def everything() -> None:
        # The account listed page by page: far fewer calls than a pull per customer.
        async with open_gateway(config, limiter) as gateway:
            await full_reconcile(gateway, new_uow)

    async def pull(ids: list[str]) -> None:
        async with open_gateway(config, limiter) as gateway:
            for customer_id in ids:
                await pull_customer(gateway, new_uow, customer_id, current)

    asyncio.run(everything())
    demo.mirror_stripe_items(new_uow, customers, current, now)
    demo.track_drafts(new_uow, customers, now)
    demo.seed_staff(new_uow, desk_user)
    demo.seed_corrections(new_uow, customers, current, desk_user)
    demo.seed_late_usage(new_uow, customers, current, now)

    async def dashboard() -> None:
        async with open_gateway(config, limiter) as gateway:
            await _dashboard_edits(engine, gateway, customers, current)

    asyncio.run(dashboard())
    for deleted in demo.by_role(customers, "sync error"):
        sync = SyncEngine(engine, config, config=EngineConfig(rate_limit=SEEDING_RATE))
        asyncio.run(sync.run_once(deleted.id))
    edited = [
        *demo.by_role(customers, "showcase"),
        *demo.by_role(customers, "amount differs"),
        *demo.by_role(customers, "only in Stripe"),
    ]
    asyncio.run(pull([c.id for c in edited]))
    return demo.by_role(customers, "showcase")[0].id


async def _dashboard_edits(
    engine: Engine, gateway: StripeGateway, customers: list[demo.DemoCustomer], period: str
) -> None:
    """What someone did in the Stripe Dashboard: amounts edited, items added by hand."""
    for customer in [
        *demo.by_role(customers, "showcase"),
        *demo.by_role(customers, "amount differs"),
    ]:
        await _edit_largest_item(engine, gateway, customer, period)
    for customer in demo.by_role(customers, "showcase"):
        await _add_by_hand(engine, gateway, customer, period, on_draft=True)
    for customer in demo.by_role(customers, "only in Stripe"):
        await _add_by_hand(engine, gateway, customer, period, on_draft=False)


async def _edit_largest_item(
    engine: Engine, gateway: StripeGateway, customer: demo.DemoCustomer, period: str
) -> None:
    with UnitOfWork(engine) as uow:
        edited = uow.session.scalars(
            select(Line)
            .where(
                Line.customer_id == customer.id,
                Line.period == period,
                Line.stripe_invoice_item.is_not(None),
            )
            .order_by(Line.amount.desc())
            .limit(1)
        ).one()
        item_id, description = str(edited.stripe_invoice_item), edited.description
    item = await gateway.retrieve_invoice_item(item_id)
    await gateway.update_invoice_item(
        item.id,
        amount=item.amount + 12_500,
        description=item.description or description,
        metadata=item.metadata,
        key=f"demo-edit-{item.id}",
    )


async def _add_by_hand(
    engine: Engine,
    gateway: StripeGateway,
    customer: demo.DemoCustomer,
    period: str,
    *,
    on_draft: bool,
) -> None:
    """A "Priority support" item made in the Dashboard: on the period's draft, or pending."""
    assert customer.stripe_customer_id is not None
    draft = None
    if on_draft:
        with UnitOfWork(engine) as uow:
            draft = uow.session.scalar(
                select(StripeInvoiceCache.id).where(
                    StripeInvoiceCache.stripe_customer == customer.stripe_customer_id,
                    StripeInvoiceCache.period == period,
                    StripeInvoiceCache.status == "draft",
                )
            )
    await gateway.create_invoice_item(
        customer=customer.stripe_customer_id,
        amount=4_900,
        currency=customer.currency,
        description="Priority support (added in the Dashboard)",
        metadata={},
        invoice=draft,
        key=f"demo-hand-added-{customer.id}",
    )
