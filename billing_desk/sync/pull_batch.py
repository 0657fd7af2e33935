"""What one pull fetched, gathered per object, then written to the cache in one transaction.

Each object keeps the moment its answer arrived (`fetched_at`); fetching it again replaces the
earlier snapshot. Objects Stripe no longer has are recorded as deleted; a period's draft among
them leaves its period without an invoice (`stripe_cache_repo.forget_deleted_drafts`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.models.stripe_cache import StripeInvoiceCache, StripeInvoiceItemCache
from billing_desk.stripe_gateway.reads import (
    CreditNoteSnapshot,
    InvoiceItemSnapshot,
    InvoiceSnapshot,
)
from billing_desk.stripe_gateway.types import StripeCustomer

T = TypeVar("T")
# Requests of one pull in flight at once; the gateway's limiter still paces them.
CONCURRENCY = 8


def _row(snapshot: Any, fetched_at: datetime) -> dict[str, Any]:
    return {**asdict(snapshot), "fetched_at": fetched_at}


@dataclass
class Batch:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_invoices: dict[str, datetime] = field(default_factory=dict)
    deleted_items: dict[str, datetime] = field(default_factory=dict)

    def customer(self, snapshot: StripeCustomer, at: datetime) -> None:
        self.customers[snapshot.id] = _row(snapshot, at)

    def invoice(self, snapshot: InvoiceSnapshot, at: datetime) -> None:
        self.invoices[snapshot.id] = _row(snapshot, at)
        self.deleted_invoices.pop(snapshot.id, None)

    def invoice_gone(self, invoice_id: str, at: datetime) -> None:
        self.deleted_invoices[invoice_id] = at
        self.invoices.pop(invoice_id, None)

    def item(self, snapshot: InvoiceItemSnapshot, at: datetime) -> None:
        self.items[snapshot.id] = _row(snapshot, at)
        self.deleted_items.pop(snapshot.id, None)

    def item_gone(self, item_id: str, at: datetime) -> None:
        self.deleted_items[item_id] = at
        self.items.pop(item_id, None)

    def credit_note(self, snapshot: CreditNoteSnapshot, at: datetime) -> None:
        self.credit_notes[snapshot.id] = _row(snapshot, at)

    @property
    def size(self) -> int:
        """Objects fetched (or found gone) in this batch."""
        return (
            len(self.customers)
            + len(self.invoices)
            + len(self.items)
            + len(self.credit_notes)
            + len(self.deleted_invoices)
            + len(self.deleted_items)
        )

    def write(self, session: Session) -> list[str]:
        """Write everything; returns the invoices whose per-period status moved forward."""
        repo.save_customers(session, list(self.customers.values()))
        moved = repo.save_invoices(session, list(self.invoices.values()))
        repo.save_invoice_items(session, list(self.items.values()))
        repo.save_credit_notes(session, list(self.credit_notes.values()))
        for invoice_id, at in self.deleted_invoices.items():
            repo.mark_deleted(session, StripeInvoiceCache, [invoice_id], at)
        repo.forget_deleted_drafts(session, self.deleted_invoices)
        for item_id, at in self.deleted_items.items():
            repo.mark_deleted(session, StripeInvoiceItemCache, [item_id], at)
        return moved


async def gather_limited(calls: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls with at most CONCURRENCY in flight; the first failure cancels the rest."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(call)) for call in calls]
    except BaseExceptionGroup as failed:
        # Callers handle Stripe's failures one by one (transient, permanent, key rejected).
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
