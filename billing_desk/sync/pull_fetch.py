"""Fetching Stripe objects into a `Batch`: one at a time, or every item of an invoice.

Items that the cache holds on an invoice (or pending) but that Stripe no longer lists there
have moved or gone: each is fetched on its own to learn which.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime

from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway.reads import CreditNoteSnapshot, InvoiceSnapshot, StripeReads
from billing_desk.sync.clock import Clock
from billing_desk.sync.pull_batch import Batch, gather_limited

UowFactory = Callable[[], UnitOfWork]


class Fetcher:
    def __init__(self, reads: StripeReads, uow_factory: UowFactory, clock: Clock) -> None:
        self.reads = reads
        self.uow_factory = uow_factory
        self.clock = clock
        self.batch = Batch()

    def _now(self) -> datetime:
        return self.clock.now()

    async def customer(self, customer_id: str) -> None:
        found = await self.reads.customer(customer_id)
        self.batch.customer(found, self._now())

    async def invoice(self, invoice_id: str, *, with_items: bool) -> InvoiceSnapshot | None:
        """Fetch the invoice, and every item on it when it is a draft (or `with_items`).

        None when Stripe no longer has it (a deleted draft): its cached items are re-checked.
        """
        found = await self.reads.invoice(invoice_id)
        if found is None:
            self.batch.invoice_gone(invoice_id, self._now())
            await self._recheck(self._cached_items(None, invoice_id))
            return None
        self.batch.invoice(found, self._now())
        if with_items or found.status == "draft":
            await self.items_of(found.stripe_customer, found.id)
        return found

    async def item(self, item_id: str) -> None:
        found = await self.reads.invoice_item(item_id)
        if found is None:
            self.batch.item_gone(item_id, self._now())
        else:
            self.batch.item(found, self._now())

    async def credit_note(self, credit_note_id: str) -> CreditNoteSnapshot | None:
        found = await self.reads.credit_note(credit_note_id)
        if found is not None:
            self.batch.credit_note(found, self._now())
        return found

    async def credit_notes_of(self, invoice_id: str) -> None:
        async for note in self.reads.credit_notes(invoice=invoice_id):
            self.batch.credit_note(note, self._now())

    async def items_of(self, stripe_customer: str, invoice_id: str | None) -> None:
        """Every item on `invoice_id` (None: the customer's pending items)."""
        before = self._cached_items(stripe_customer, invoice_id)
        listed: set[str] = set()
        if invoice_id is None:
            source = self.reads.invoice_items(customer=stripe_customer, pending=True)
        else:
            source = self.reads.invoice_items(invoice=invoice_id)
        async for item in source:
            self.batch.item(item, self._now())
            listed.add(item.id)
        await self._recheck(before - listed)

    def _cached_items(self, stripe_customer: str | None, invoice_id: str | None) -> set[str]:
        with self.uow_factory() as uow:
            return repo.cached_item_ids(
                uow.session, stripe_customer=stripe_customer, invoice=invoice_id
            )

    async def _recheck(self, item_ids: set[str]) -> None:
        # Not where the cache had them: moved to another invoice, or deleted.
        calls: list[Callable[[], Awaitable[None]]] = [
            functools.partial(self.item, item_id)
            for item_id in sorted(item_ids)
            if item_id not in self.batch.items and item_id not in self.batch.deleted_items
        ]
        await gather_limited(calls)
