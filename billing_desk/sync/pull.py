"""Pull: Stripe's state into the local cache, on demand for one customer and from the Events API.

The API the sync engine's loop and the GUI's worker call, in the worker's event loop:

    summary = await pull_customer(gateway, uow_factory, customer_id, period=None)
    updated = await poll_events(gateway, uow_factory)     # objects refreshed (events.py)
    updated = await full_reconcile(gateway, uow_factory)  # everything listed afresh

- `gateway`: an open `StripeGateway` (`billing_desk.stripe_gateway.open_gateway`); every read
  spends the same rate budget as the pushes and is retried by the gateway on transient
  failures. What still fails is raised as `StripeFailure` (transient: try again later).
- `uow_factory()`: a new `UnitOfWork` that may write, e.g.
  `lambda: UnitOfWork(engine, write=True)`. Each pull writes in one transaction at its end, so
  a failure or a kill mid-pull leaves the cache as it was.
- `clock`: when objects were fetched (`fetched_at`, our clock); the system clock by default.

`pull_customer` refreshes the customer (balance), all its invoices, and for the period (default:
the customer's newest period with lines) the items on its invoices, their credit notes, and the
customer's pending items. The cache only ever takes an object as Stripe returned it just now,
never from an event's payload, and never moves an invoice back in its life (see
`stripe_cache_repo`). Invoice status changes also move the sync engine's `period_invoices`, and
a period's draft deleted in Stripe leaves the period without one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import func, select

from billing_desk.domain.errors import InvalidInput
from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.models import Customer, Line
from billing_desk.stripe_gateway import StripeGateway
from billing_desk.stripe_gateway.reads import StripeReads
from billing_desk.sync.clock import Clock, SystemClock
from billing_desk.sync.events import full_reconcile, poll_events
from billing_desk.sync.pull_batch import gather_limited
from billing_desk.sync.pull_fetch import Fetcher, UowFactory

__all__ = ["PullSummary", "full_reconcile", "poll_events", "pull_customer"]


@dataclass(frozen=True)
class PullSummary:
    customer_id: str
    period: str | None
    # None when the customer has no Stripe customer yet (nothing to pull).
    stripe_customer: str | None
    # The period's Stripe invoice after the pull: None when there is none yet.
    invoice_id: str | None
    invoice_status: str | None
    # Objects fetched (or found gone in Stripe).
    objects: int
    fetched_at: datetime | None


async def pull_customer(
    gateway: StripeGateway,
    uow_factory: UowFactory,
    customer_id: str,
    period: str | None = None,
    *,
    clock: Clock | None = None,
) -> PullSummary:
    clock = clock or SystemClock()
    with uow_factory() as uow:
        customer = uow.session.get(Customer, customer_id)
        if customer is None:
            raise InvalidInput(f"no customer with id {customer_id!r}")
        stripe_id = customer.stripe_customer_id
        if period is None:
            period = uow.session.scalar(
                select(func.max(Line.period)).where(Line.customer_id == customer_id)
            )
        # Every invoice the store knows of: those Stripe no longer lists are deleted.
        known_invoices = (
            set()
            if stripe_id is None
            else repo.cached_invoice_ids(uow.session, stripe_id)
            | repo.tracked_draft_ids(uow.session, customer_id)
        )
    if stripe_id is None:
        return PullSummary(customer_id, period, None, None, None, 0, None)

    fetcher = Fetcher(StripeReads(gateway), uow_factory, clock)
    await fetcher.customer(stripe_id)
    if fetcher.batch.customers[stripe_id]["deleted"]:
        # Deleted in Stripe: it has no invoices or items to list any more.
        with uow_factory() as uow:
            fetcher.batch.write(uow.session)
            uow.commit()
        return PullSummary(customer_id, period, stripe_id, None, None, 1, clock.now())
    in_period: list[str] = []
    async for listed in fetcher.reads.invoices(customer=stripe_id):
        fetcher.batch.invoice(listed, clock.now())
        known_invoices.discard(listed.id)
        if period is not None and listed.period == period:
            in_period.append(listed.id)
    for gone in known_invoices:  # every invoice of the customer was listed: these are deleted
        fetcher.batch.invoice_gone(gone, clock.now())

    calls: list[Callable[[], Awaitable[None]]] = [partial(fetcher.items_of, stripe_id, None)]
    for period_invoice in in_period:
        calls.append(partial(fetcher.items_of, stripe_id, period_invoice))
        calls.append(partial(fetcher.credit_notes_of, period_invoice))
    await gather_limited(calls)

    with uow_factory() as uow:
        fetcher.batch.write(uow.session)
        uow.commit()
        invoice = (
            None if period is None else repo.invoice_for_period(uow.session, customer_id, period)
        )
        invoice_id = None if invoice is None else invoice.id
        status = None if invoice is None or invoice.deleted else invoice.status
    return PullSummary(
        customer_id=customer_id,
        period=period,
        stripe_customer=stripe_id,
        invoice_id=invoice_id,
        invoice_status=status,
        objects=fetcher.batch.size,
        fetched_at=clock.now(),
    )
