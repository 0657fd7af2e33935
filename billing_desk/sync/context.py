"""What an operation needs while it runs: the store, the gateway, the clock and the policy."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import StripeGateway
from billing_desk.stripe_gateway.types import StripeInvoiceItem
from billing_desk.sync.clock import Clock
from billing_desk.sync.recorder import Recorder
from billing_desk.sync.stats import CallStats


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs. Defaults suit production; tests shorten the times."""

    lease: timedelta = timedelta(seconds=60)
    heartbeat: timedelta = timedelta(seconds=1)
    # Customers taken per claim, and how many of them (and of one customer's lines) run at once.
    claim_customers: int = 20
    customer_concurrency: int = 8
    # Enough of one customer's lines in flight to push 100 of them within 2 s at 80 requests/s
    # (the rate limiter, not this, bounds what Stripe sees).
    line_concurrency: int = 32
    # Retry of an operation whose in-call retries all failed (an outage): exponential, capped.
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_cap: timedelta = timedelta(minutes=5)
    # How soon a waiting operation (a dependency not met yet) or a blocked finalization is
    # looked at again.
    defer: timedelta = timedelta(seconds=5)
    blocked_recheck: timedelta = timedelta(minutes=5)
    # `run_once` keeps retrying transient failures for this long without any progress.
    pass_patience: timedelta = timedelta(seconds=30)
    # Stripe forgets idempotency keys after 24 hours: past this age, look the object up first.
    adopt_after: timedelta = timedelta(hours=23)
    # Requests per second for the whole Stripe account; None = the settings' figure for the key.
    rate_limit: float | None = None


@dataclass
class OpContext:
    engine: Engine
    gateway: StripeGateway
    worker: str
    clock: Clock
    stats: CallStats
    config: EngineConfig
    recorder: Recorder
    rng: random.Random = field(default_factory=random.Random)
    _listings: dict[str, asyncio.Task[list[StripeInvoiceItem]]] = field(default_factory=dict)

    async def invoice_items_of(self, stripe_customer: str) -> list[StripeInvoiceItem]:
        """The customer's invoice items, listed once per pass however many operations ask
        (each old unconfirmed push looks for its own line's item among them)."""
        listing = self._listings.get(stripe_customer)
        if listing is None or (listing.done() and listing.exception() is not None):
            listing = asyncio.ensure_future(self.gateway.list_invoice_items(stripe_customer))
            self._listings[stripe_customer] = listing
        return await asyncio.shield(listing)

    def read(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def now(self) -> datetime:
        return self.clock.now()

    def backoff(self, attempts: int) -> datetime:
        base = self.config.backoff_base.total_seconds()
        cap = self.config.backoff_cap.total_seconds()
        delay = min(cap, base * 2 ** max(0, attempts - 1)) * self.rng.uniform(0.5, 1.0)
        return self.now() + timedelta(seconds=delay)
