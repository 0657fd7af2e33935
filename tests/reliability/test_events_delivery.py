"""Stripe's events delivered late, twice and out of order, by one worker or two at once.

Against the sandbox over HTTP, on SQLite and PostgreSQL. A delivery is a batch of real events
listed from the sandbox's Events API, given to the pull engine in any order and any number of
times. Whatever the schedule: each event is applied once, the cached invoice and the sync
engine's per-period status never move back in an invoice's life, and once everything has
been delivered the cache equals Stripe.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from billing_desk.sandbox import SandboxAdmin, new_test_key
from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.models import Customer, Line
from billing_desk.store.models.stripe_cache import (
    StripeCreditNoteCache,
    StripeCustomerCache,
    StripeInvoiceCache,
    StripeInvoiceItemCache,
    StripeProcessedEvent,
)
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, StripeGateway, open_gateway
from billing_desk.stripe_gateway.reads import StripeReads
from billing_desk.stripe_gateway.types import StripeEvent
from billing_desk.sync.events import apply_events, poll_events

PERIOD = "2026-11"
NOW = datetime(2026, 11, 20, tzinfo=UTC)
RANK = repo.INVOICE_RANK
T = TypeVar("T")
_numbers = itertools.count()


@dataclass(frozen=True)
class Account:
    """A fresh sandbox account (its own objects and events), one per Hypothesis example."""

    url: str
    api_key: str

    def client(self) -> Any:
        return stripe.StripeClient(
            self.api_key, base_addresses={"api": self.url}, max_network_retries=0
        )


def with_gateway(sandbox: Any, work: Callable[[StripeGateway], Awaitable[T]]) -> T:
    async def main() -> T:
        config = GatewayConfig(sandbox.api_key, sandbox.url)
        async with open_gateway(config, RateLimiter(200)) as gateway:
            return await work(gateway)

    return asyncio.run(main())


class Scenario:
    """One customer's invoice going through its life in Stripe, step by step."""

    def __init__(self, engine: Engine, client: Any) -> None:
        self.engine, self.client = engine, client
        self.local = f"cust-{next(_numbers)}"
        self.customer = client.v1.customers.create(
            {"email": f"{self.local}@x.test", "metadata": {"billing_desk_customer": self.local}}
        ).id
        with UnitOfWork(engine, write=True) as uow:
            s = uow.session
            s.add(
                Customer(
                    id=self.local,
                    name=self.local,
                    email=f"{self.local}@x.test",
                    currency="usd",
                    stripe_customer_id=self.customer,
                    balance=0,
                    flags={},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            s.flush()
            for amount in (1200, 800):
                line = Line(
                    customer_id=self.local,
                    period=PERIOD,
                    kind="usage",
                    item=f"api.{amount}",
                    description="API",
                    unit_amount=Decimal(1),
                    currency="usd",
                    quantity=Decimal(amount),
                    compiled_amount=amount,
                    amount=amount,
                    voided=False,
                    version=1,
                    synced_version=1,
                    sync_state="synced",
                    updated_at=NOW,
                )
                s.add(line)
                s.flush()
                line.stripe_invoice_item = client.v1.invoice_items.create(
                    {
                        "customer": self.customer,
                        "amount": amount,
                        "currency": "usd",
                        "metadata": {
                            "billing_desk_line": str(line.id),
                            "billing_desk_version": "1",
                            "billing_desk_period": PERIOD,
                        },
                    }
                ).id
            self.invoice = client.v1.invoices.create(
                {
                    "customer": self.customer,
                    "currency": "usd",
                    "auto_advance": False,
                    "pending_invoice_items_behavior": "include",
                    "metadata": {"billing_desk_period": PERIOD},
                }
            ).id
            s.add(
                PeriodInvoice(
                    customer_id=self.local,
                    period=PERIOD,
                    currency="usd",
                    stripe_invoice_id=self.invoice,
                    status="draft",
                    due_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            uow.commit()
        self.steps: list[Callable[[], object]] = [
            lambda: client.v1.invoices.finalize_invoice(self.invoice, {"auto_advance": False}),
            lambda: client.v1.invoices.pay(self.invoice, {"paid_out_of_band": True}),
            lambda: client.v1.credit_notes.create(
                {"invoice": self.invoice, "amount": 300, "credit_amount": 300}
            ),
        ]

    def advance(self) -> bool:
        if not self.steps:
            return False
        self.steps.pop(0)()
        return True

    def mine(self, event: StripeEvent) -> bool:
        return event.object_id == self.customer or event.data.get("customer") == self.customer

    def cached(self) -> tuple[str, str]:
        with UnitOfWork(self.engine) as uow:
            s = uow.session
            invoice = s.get(StripeInvoiceCache, self.invoice)
            tracked = s.scalar(select(PeriodInvoice).where(PeriodInvoice.customer_id == self.local))
            assert tracked is not None
            return ("none" if invoice is None else invoice.status, tracked.status)

    def assert_cache_equals_stripe(self) -> None:
        client = self.client
        invoice = client.v1.invoices.retrieve(self.invoice)
        customer = client.v1.customers.retrieve(self.customer)
        items = client.v1.invoice_items.list({"customer": self.customer}).data
        notes = client.v1.credit_notes.list({"invoice": self.invoice}).data
        with UnitOfWork(self.engine) as uow:
            s = uow.session
            cached = s.get(StripeInvoiceCache, self.invoice)
            assert cached is not None
            assert (cached.status, cached.total, cached.amount_remaining) == (
                invoice.status,
                invoice.total,
                invoice.amount_remaining,
            )
            tracked = s.scalar(select(PeriodInvoice).where(PeriodInvoice.customer_id == self.local))
            assert tracked is not None
            assert tracked.status == invoice.status
            cached_customer = s.get(StripeCustomerCache, self.customer)
            assert cached_customer is not None
            assert cached_customer.balance == customer.balance
            cached_items = s.scalars(
                select(StripeInvoiceItemCache).where(
                    StripeInvoiceItemCache.stripe_customer == self.customer
                )
            ).all()
            assert {(i.id, i.invoice, i.amount) for i in cached_items} == {
                (i.id, i.invoice, i.amount) for i in items
            }
            cached_notes = s.scalars(
                select(StripeCreditNoteCache).where(StripeCreditNoteCache.invoice == self.invoice)
            ).all()
            assert {(n.id, n.amount, n.status) for n in cached_notes} == {
                (n.id, n.amount, n.status) for n in notes
            }


def listed_events(sandbox: Any, scenario: Scenario) -> list[StripeEvent]:
    async def work(gateway: StripeGateway) -> list[StripeEvent]:
        reads, out, after = StripeReads(gateway), [], None
        while True:
            page = await reads.events(created_gte=None, starting_after=after)
            out += page.events
            if not page.has_more:
                return [event for event in out if scenario.mine(event)]
            after = page.events[-1].id

    return with_gateway(sandbox, work)


def deliver(sandbox: Any, engine: Engine, events: list[StripeEvent]) -> int:
    async def work(gateway: StripeGateway) -> int:
        factory = lambda: UnitOfWork(engine, write=True)  # noqa: E731
        return await apply_events(StripeReads(gateway), factory, events)

    return with_gateway(sandbox, work)


def processed(engine: Engine) -> list[str]:
    with UnitOfWork(engine) as uow:
        return list(uow.session.scalars(select(StripeProcessedEvent.id)))


# A schedule: at each step Stripe may move the invoice on, then a random batch of the events
# so far is delivered (a sample, repeats allowed, shuffled).
schedules = st.lists(
    st.tuples(st.booleans(), st.lists(st.integers(0, 10_000), max_size=8), st.randoms()),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=schedules)
def test_any_delivery_order_applies_each_event_once_and_never_goes_back(
    engine: Engine, sandbox_server: Any, schedule: list[tuple[bool, list[int], Any]]
) -> None:
    stripe_sandbox = Account(sandbox_server.url, new_test_key())
    try:
        check_schedule(engine, stripe_sandbox, schedule)
    finally:
        SandboxAdmin(stripe_sandbox.url, stripe_sandbox.api_key).reset()


def check_schedule(
    engine: Engine, stripe_sandbox: Account, schedule: list[tuple[bool, list[int], Any]]
) -> None:
    scenario = Scenario(engine, stripe_sandbox.client())
    history = [scenario.cached()]
    for move, picks, rnd in schedule:
        if move:
            scenario.advance()
        events = listed_events(stripe_sandbox, scenario)
        batch = [events[i % len(events)] for i in picks] + [events[-1]]
        rnd.shuffle(batch)
        deliver(stripe_sandbox, engine, batch)
        history.append(scenario.cached())
    while scenario.advance():
        pass
    everything = listed_events(stripe_sandbox, scenario)
    reversed_twice = list(reversed(everything)) * 2
    deliver(stripe_sandbox, engine, reversed_twice)
    history.append(scenario.cached())

    for kind in (0, 1):  # the cache's status, the sync engine's per-period status
        ranks = [RANK.get(state[kind], -2) for state in history]
        assert ranks == sorted(ranks), history
    scenario.assert_cache_equals_stripe()
    ids = processed(engine)
    assert len(ids) == len(set(ids))
    assert {e.id for e in everything} <= set(ids)
    # Delivered once more, all of them: nothing is fetched again.
    assert deliver(stripe_sandbox, engine, everything) == 0


def test_a_stale_snapshot_written_late_does_not_undo_a_payment(
    engine: Engine, stripe_sandbox: Any
) -> None:
    """Two workers fetched the invoice, one before and one after it was paid; the slower one
    writes last, even with a clock ahead of the other's."""
    scenario = Scenario(engine, stripe_sandbox.client())
    scenario.advance()  # finalized: open

    async def fetch(gateway: StripeGateway) -> Any:
        return await StripeReads(gateway).invoice(scenario.invoice)

    stale = with_gateway(stripe_sandbox, fetch)
    scenario.advance()  # paid
    fresh = with_gateway(stripe_sandbox, fetch)
    assert (stale.status, fresh.status) == ("open", "paid")
    now = datetime.now(UTC)
    for snapshot, fetched_at in (
        (fresh, now),
        (stale, now - timedelta(seconds=1)),
        (stale, now + timedelta(hours=1)),  # a worker whose clock runs ahead
    ):
        with UnitOfWork(engine, write=True) as uow:
            repo.save_invoices(uow.session, [{**asdict(snapshot), "fetched_at": fetched_at}])
            uow.commit()
        assert scenario.cached() == ("paid", "paid")


def test_two_workers_polling_at_once_apply_each_event_once(
    engine: Engine, stripe_sandbox: Any
) -> None:
    scenario = Scenario(engine, stripe_sandbox.client())

    def poll_in_thread(errors: list[BaseException]) -> None:
        try:
            with_gateway(
                stripe_sandbox,
                lambda gateway: poll_events(gateway, lambda: UnitOfWork(engine, write=True)),
            )
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    # The first round reconciles fully (no cursor yet); the second applies the events.
    for _ in range(2):
        scenario.advance()
        errors: list[BaseException] = []
        workers = [threading.Thread(target=poll_in_thread, args=(errors,)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert errors == []
        assert scenario.cached()[0] == scenario.client.v1.invoices.retrieve(scenario.invoice).status
    while scenario.advance():
        pass
    with_gateway(
        stripe_sandbox,
        lambda gateway: poll_events(gateway, lambda: UnitOfWork(engine, write=True)),
    )
    scenario.assert_cache_equals_stripe()
    with UnitOfWork(engine) as uow:
        total = uow.session.scalar(select(func.count()).select_from(StripeProcessedEvent))
        distinct = uow.session.scalar(select(func.count(func.distinct(StripeProcessedEvent.id))))
    assert total == distinct
