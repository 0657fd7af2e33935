"""Continuous pull from Stripe's Events API, and the full reconciliation it falls back on.

`poll_events` lists the followed events (`reads.EVENT_TYPES`: invoices, invoice items, credit
notes, customers) created since the cursor, skips those already applied (by id: a second
delivery changes nothing), and applies the rest in `created` order. Applying an event means
fetching its object from Stripe as it is now — the payload is never trusted — so an event
arriving late or out of order cannot move anything back (a late `invoice.finalized` after
`invoice.paid` fetches the paid invoice). Several events about one object in one poll fetch
it once. The fetched objects, the applied event ids and the moved cursor are written in one
transaction.

Stripe has no event for an edit of a pending invoice item (there is no `invoiceitem.updated`);
such an edit shows up when the customer is pulled on demand (opening it in the GUI), and once
the item is on a draft, its edits raise `invoice.updated`, which lists the draft's items again.

Stripe keeps events for 30 days, dropping the oldest first. Events may have been lost when the
cursor's anchor — the newest event the previous poll listed, which this poll lists again — is
gone; or, with no anchor, when the cursor is older than 30 days on Stripe's clock (the Date of
its answer); or when there is no cursor yet. Then everything is listed again instead
(`full_reconcile`) and the cursor restarts from that moment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.models.stripe_cache import StripeInvoiceCache, StripeInvoiceItemCache
from billing_desk.stripe_gateway import StripeGateway
from billing_desk.stripe_gateway.reads import StripeReads
from billing_desk.stripe_gateway.types import StripeEvent
from billing_desk.sync.clock import Clock, SystemClock
from billing_desk.sync.pull_batch import gather_limited
from billing_desk.sync.pull_fetch import Fetcher, UowFactory

# Stripe's event retention.
WINDOW = timedelta(days=30)
# An event may become listable a little after its `created` second: each poll lists this much
# of the already-seen past again (repeats are skipped by id).
OVERLAP = timedelta(minutes=5)
# Invoice events after which the invoice's items are listed too (items may have been swept onto
# it at creation without events of their own); a draft's items are always listed.
INVOICE_ITEM_EVENTS = frozenset({"invoice.created", "invoice.finalized"})
# Events after which the customer's balance may have changed.
BALANCE_EVENTS = frozenset(
    {
        "invoice.finalized",
        "invoice.paid",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "credit_note.created",
        "credit_note.updated",
        "credit_note.voided",
    }
)


def _timestamp(value: datetime) -> int:
    return int(value.timestamp())


def _created(event: StripeEvent) -> datetime:
    return datetime.fromtimestamp(event.created, UTC)


def in_created_order(events: Sequence[StripeEvent]) -> list[StripeEvent]:
    """Oldest first, each id once. Stripe lists newest first, so within one second the later
    position in the listing is the earlier event."""
    unique: dict[str, tuple[int, int, StripeEvent]] = {}
    for position, event in enumerate(events):
        unique.setdefault(event.id, (event.created, -position, event))
    return [event for _, _, event in sorted(unique.values(), key=lambda t: (t[0], t[1]))]


async def poll_events(
    gateway: StripeGateway, uow_factory: UowFactory, *, clock: Clock | None = None
) -> int:
    """Apply the events since the cursor; returns how many objects were refreshed."""
    clock = clock or SystemClock()
    reads = StripeReads(gateway)
    with uow_factory() as uow:
        cursor = repo.load_cursor(uow.session)
        position = None if cursor is None else cursor.position
        anchor = None if cursor is None else cursor.last_event_id
        anchor_created = None if cursor is None else cursor.last_event_created
    starts = [moment for moment in (position, anchor_created) if moment is not None]
    since = _timestamp(min(starts)) if starts else None
    first = await reads.events(created_gte=since)
    stripe_now = first.server_time or clock.now()
    if position is None or (anchor is None and position < stripe_now - WINDOW):
        return await _full_reconcile(reads, uow_factory, clock, stripe_now, first.events[:1])

    listed = list(first.events)
    has_more = first.has_more
    while has_more and listed:
        page = await reads.events(created_gte=since, starting_after=listed[-1].id)
        listed.extend(page.events)
        has_more = page.has_more
    if anchor is not None and all(event.id != anchor for event in listed):
        # Stripe dropped the anchor, so it may have dropped events we never saw.
        return await _full_reconcile(reads, uow_factory, clock, stripe_now, listed[:1])
    return await apply_events(
        reads,
        uow_factory,
        listed,
        clock=clock,
        cursor_position=stripe_now - OVERLAP,
        forget_before=stripe_now - WINDOW - OVERLAP,
    )


async def apply_events(
    reads: StripeReads,
    uow_factory: UowFactory,
    events: Sequence[StripeEvent],
    *,
    clock: Clock | None = None,
    cursor_position: datetime | None = None,
    forget_before: datetime | None = None,
) -> int:
    """Apply `events` (any order, repeats allowed): those not applied before, oldest first.

    Their objects are fetched afresh; the objects and the event ids are written in one
    transaction, with, given `cursor_position`, the cursor moved there and anchored on the
    newest of `events`, and the ids of events created before `forget_before` forgotten (Stripe
    will not list them again). Returns how many objects were refreshed.
    """
    clock = clock or SystemClock()
    ordered = in_created_order(events)
    with uow_factory() as uow:
        seen = repo.processed_event_ids(uow.session, [event.id for event in ordered])
    fresh = [event for event in ordered if event.id not in seen]
    fetcher = Fetcher(reads, uow_factory, clock)
    await _apply(fetcher, fresh)
    with uow_factory() as uow:
        session = uow.session
        fetcher.batch.write(session)
        now = clock.now()
        repo.record_events(
            session,
            [
                {
                    "id": event.id,
                    "type": event.type,
                    "object_id": event.object_id,
                    "created": _created(event),
                    "fetched_at": now,
                }
                for event in fresh
            ],
        )
        if cursor_position is not None:
            repo.move_cursor(
                session,
                position=cursor_position,
                fetched_at=now,
                last_event=(ordered[-1].id, _created(ordered[-1])) if ordered else None,
            )
        if forget_before is not None:
            repo.prune_events(session, forget_before)
        uow.commit()
    return fetcher.batch.size


async def _apply(fetcher: Fetcher, events: Sequence[StripeEvent]) -> None:
    """Fetch every object the events name, each once; then the customers whose balance moved."""
    invoices: dict[str, bool] = {}
    items: dict[str, None] = {}
    notes: dict[str, None] = {}
    customers: dict[str, None] = {}
    balance_of_invoice: set[str] = set()
    balance_of_note: set[str] = set()
    for event in events:
        object_id, kind = event.object_id, event.object_type
        if not object_id:
            continue
        if kind == "invoice":
            invoices[object_id] = invoices.get(object_id, False) or (
                event.type in INVOICE_ITEM_EVENTS
            )
            if event.type in BALANCE_EVENTS:
                balance_of_invoice.add(object_id)
        elif kind == "invoiceitem":
            items[object_id] = None
        elif kind == "credit_note":
            notes[object_id] = None
            if event.type in BALANCE_EVENTS:
                balance_of_note.add(object_id)
        elif kind == "customer":
            customers[object_id] = None

    found: dict[str, Any] = {}

    async def invoice(invoice_id: str, with_items: bool) -> None:
        found[invoice_id] = await fetcher.invoice(invoice_id, with_items=with_items)

    async def note(note_id: str) -> None:
        found[note_id] = await fetcher.credit_note(note_id)

    calls: list[Callable[[], Awaitable[None]]] = [
        partial(invoice, invoice_id, with_items) for invoice_id, with_items in invoices.items()
    ]
    calls += [partial(note, note_id) for note_id in notes]
    # Items an invoice listing already brought in are not fetched twice.
    await gather_limited(calls)
    await gather_limited(
        [partial(fetcher.item, item_id) for item_id in items if item_id not in fetcher.batch.items]
    )
    for object_id in balance_of_invoice | balance_of_note:
        snapshot = found.get(object_id)
        if snapshot is not None:
            customers[snapshot.stripe_customer] = None
    await gather_limited([partial(fetcher.customer, customer_id) for customer_id in customers])


async def full_reconcile(
    gateway: StripeGateway, uow_factory: UowFactory, *, clock: Clock | None = None
) -> int:
    """List every customer, invoice, invoice item and credit note again; restart the cursor."""
    clock = clock or SystemClock()
    reads = StripeReads(gateway)
    head = await reads.events(created_gte=None, limit=1)
    return await _full_reconcile(
        reads, uow_factory, clock, head.server_time or clock.now(), head.events
    )


async def _full_reconcile(
    reads: StripeReads,
    uow_factory: UowFactory,
    clock: Clock,
    stripe_now: datetime,
    newest: Sequence[StripeEvent],
) -> int:
    """`newest`: the newest event Stripe listed just before (if any), the new cursor's anchor;
    events after it are applied by the next poll (those before are covered by the listings)."""
    started = clock.now()
    with uow_factory() as uow:
        # Read before listing: a draft made after this is listed, so is never taken for gone.
        drafts = repo.tracked_draft_ids(uow.session)
    fetcher = Fetcher(reads, uow_factory, clock)
    batch = fetcher.batch

    async def customers() -> None:
        async for customer in reads.customers():
            batch.customer(customer, clock.now())

    async def invoices() -> None:
        async for invoice in reads.invoices():
            batch.invoice(invoice, clock.now())

    async def items() -> None:
        async for item in reads.invoice_items():
            batch.item(item, clock.now())

    async def notes() -> None:
        async for note in reads.credit_notes():
            batch.credit_note(note, clock.now())

    await gather_limited([customers, invoices, items, notes])
    with uow_factory() as uow:
        session = uow.session
        now = clock.now()
        # The listings were complete: what the cache had before and Stripe no longer lists is
        # gone (objects fetched meanwhile by another pull are left alone).
        for gone in repo.live_ids_fetched_before(session, StripeInvoiceCache, started) | drafts:
            if gone not in batch.invoices:
                batch.invoice_gone(gone, now)
        for gone in repo.live_ids_fetched_before(session, StripeInvoiceItemCache, started):
            if gone not in batch.items:
                batch.item_gone(gone, now)
        batch.write(session)
        repo.reset_cursor(
            session,
            position=stripe_now - OVERLAP,
            last_event=(newest[0].id, _created(newest[0])) if newest else None,
            full_reconcile_at=stripe_now,
            fetched_at=now,
        )
        repo.prune_events(session, stripe_now - WINDOW - OVERLAP)
        uow.commit()
    return batch.size
