"""Continuous pull from the Events API against the sandbox: Dashboard edits reach the cache, the
cursor moves, and a cursor past Stripe's 30-day window triggers a full reconciliation."""

from __future__ import annotations

from typing import Any

from pull_seed import PERIOD, close_in_stripe, run_pull, seed_pushed
from sqlalchemy import Engine, select

from billing_desk.store.models.stripe_cache import (
    StripeEventCursor,
    StripeInvoiceCache,
    StripeInvoiceItemCache,
    StripeProcessedEvent,
)
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.sync.pull import poll_events

DAY = 86400


def cursor(engine: Engine) -> tuple[Any, ...]:
    with UnitOfWork(engine) as uow:
        row = uow.session.get(StripeEventCursor, "events")
        assert row is not None
        return (row.position, row.last_event_id, row.full_reconcile_at)


def item(engine: Engine, item_id: str) -> tuple[int, str | None, bool]:
    with UnitOfWork(engine) as uow:
        row = uow.session.get(StripeInvoiceItemCache, item_id)
        assert row is not None
        return (row.amount, row.invoice, row.deleted)


def test_events_bring_dashboard_changes_into_the_cache(engine: Engine, stripe_sandbox: Any) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000, 2500])
    # No cursor yet: the first poll lists everything and starts the cursor.
    assert run_pull(stripe_sandbox, engine, poll_events) == 1 + 2
    _, _, reconciled = cursor(engine)
    assert reconciled is not None

    invoice_id = close_in_stripe(engine, client, seeded)
    first, second = seeded.lines
    client.v1.invoice_items.update(seeded.items[first], {"amount": 1234})
    added = client.v1.invoice_items.create(
        {"customer": seeded.stripe_customer, "invoice": invoice_id, "amount": 99, "currency": "usd"}
    ).id
    client.v1.invoice_items.delete(seeded.items[second])
    client.v1.invoices.finalize_invoice(invoice_id, {"auto_advance": False})

    assert run_pull(stripe_sandbox, engine, poll_events) > 0
    assert item(engine, seeded.items[first]) == (1234, invoice_id, False)
    assert item(engine, added) == (99, invoice_id, False)
    assert item(engine, seeded.items[second])[2] is True
    with UnitOfWork(engine) as uow:
        s = uow.session
        invoice = s.get(StripeInvoiceCache, invoice_id)
        assert invoice is not None
        assert (invoice.status, invoice.total) == ("open", 1234 + 99)
        tracked = s.scalar(select(PeriodInvoice))
        assert tracked is not None
        assert tracked.status == "open"
        applied = set(s.scalars(select(StripeProcessedEvent.type)))
    assert {"invoice.created", "invoiceitem.created", "invoiceitem.deleted"} <= applied
    assert "invoice.finalized" in applied
    position, last_event, _ = cursor(engine)
    assert last_event is not None

    # Nothing new: nothing fetched, nothing applied twice.
    calls_before = len(stripe_sandbox.admin.requests(limit=1000))
    assert run_pull(stripe_sandbox, engine, poll_events) == 0
    assert len(stripe_sandbox.admin.requests(limit=1000)) == calls_before + 1  # the listing
    assert cursor(engine)[0] >= position


def test_a_cursor_older_than_thirty_days_lists_everything_again(
    engine: Engine, stripe_sandbox: Any
) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000, 2500, 400])
    run_pull(stripe_sandbox, engine, poll_events)
    first, second, third = seeded.lines
    client.v1.invoice_items.delete(seeded.items[second])
    client.v1.invoice_items.update(seeded.items[third], {"amount": 444})
    invoice_id = close_in_stripe(engine, client, seeded)

    # The worker was off for a month: Stripe no longer has the events of these changes.
    stripe_sandbox.admin.advance_clock(31 * DAY)
    seen = len(stripe_sandbox.admin.requests(limit=1000))
    refreshed = run_pull(stripe_sandbox, engine, poll_events)

    assert refreshed >= 3
    listed = {r["endpoint"] for r in stripe_sandbox.admin.requests(limit=1000)[: -seen or None]}
    assert listed >= {
        "GET /v1/customers",
        "GET /v1/invoices",
        "GET /v1/invoiceitems",
        "GET /v1/credit_notes",
    }
    _, _, reconciled = cursor(engine)
    assert item(engine, seeded.items[first]) == (1000, invoice_id, False)
    assert item(engine, seeded.items[second])[2] is True
    assert item(engine, seeded.items[third]) == (444, invoice_id, False)
    with UnitOfWork(engine) as uow:
        invoice = uow.session.get(StripeInvoiceCache, invoice_id)
        assert invoice is not None
        assert (invoice.period, invoice.status) == (PERIOD, "draft")
    # Back on the events from the new cursor.
    client.v1.invoice_items.update(seeded.items[first], {"amount": 1001})
    assert run_pull(stripe_sandbox, engine, poll_events) >= 1
    assert item(engine, seeded.items[first])[0] == 1001
    assert cursor(engine)[2] == reconciled
