"""On-demand pull of one customer against the sandbox over HTTP, into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pull_seed import PERIOD, close_in_stripe, run_pull, seed_pushed
from sqlalchemy import Engine, select

from billing_desk.domain.errors import InvalidInput
from billing_desk.store.models import Customer
from billing_desk.store.models.stripe_cache import (
    StripeCreditNoteCache,
    StripeCustomerCache,
    StripeInvoiceCache,
    StripeInvoiceItemCache,
)
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.sync.pull import pull_customer


def cached_items(engine: Engine) -> dict[str, StripeInvoiceItemCache]:
    with UnitOfWork(engine) as uow:
        found = {i.id: i for i in uow.session.scalars(select(StripeInvoiceItemCache))}
        uow.session.expunge_all()  # keep them readable after the unit of work ends
        return found


def test_pull_fills_the_cache_with_fetch_times(engine: Engine, stripe_sandbox: Any) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000, 2500, 400], balance=-700)
    invoice_id = close_in_stripe(engine, client, seeded)
    before = datetime.now(UTC)

    summary = run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, PERIOD)

    after = datetime.now(UTC)
    assert summary.stripe_customer == seeded.stripe_customer
    assert (summary.invoice_id, summary.invoice_status) == (invoice_id, "draft")
    assert summary.objects == 1 + 1 + 3  # customer, invoice, its three items
    with UnitOfWork(engine) as uow:
        s = uow.session
        customer = s.get(StripeCustomerCache, seeded.stripe_customer)
        assert customer is not None
        assert (customer.customer_id, customer.balance, customer.deleted) == ("cust-1", -700, False)
        local = s.get(Customer, seeded.customer_id)
        assert local is not None
        assert local.balance == -700
        invoice = s.get(StripeInvoiceCache, invoice_id)
        assert invoice is not None
        assert (invoice.period, invoice.status, invoice.customer_id) == (PERIOD, "draft", "cust-1")
        assert (invoice.subtotal, invoice.total) == (3900, 3900)
        assert invoice.starting_balance == 0
        rows = [customer, invoice, *s.scalars(select(StripeInvoiceItemCache))]
        assert all(before <= row.fetched_at <= after for row in rows)
    items = cached_items(engine)
    assert {i.line_id: (i.invoice, i.amount, i.line_version) for i in items.values()} == {
        line: (invoice_id, amount, 1)
        for line, amount in zip(seeded.lines, [1000, 2500, 400], strict=True)
    }


def test_pull_sees_dashboard_edits_deletions_additions_and_moves(
    engine: Engine, stripe_sandbox: Any
) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000, 2500, 400])
    run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, PERIOD)
    first, second, third = seeded.lines

    # Support staff at work in the Stripe Dashboard, on pending items.
    client.v1.invoice_items.update(seeded.items[first], {"amount": 1100})
    client.v1.invoice_items.delete(seeded.items[second])
    added = client.v1.invoice_items.create(
        {"customer": seeded.stripe_customer, "amount": 300, "currency": "usd"}
    ).id
    run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, PERIOD)

    items = cached_items(engine)
    assert items[seeded.items[first]].amount == 1100
    assert items[seeded.items[second]].deleted
    assert not items[seeded.items[third]].deleted
    assert items[added].amount == 300
    assert items[added].line_id is None
    assert items[added].invoice is None

    # Closed without a pull in between, and pulled for another period: the pending items the
    # cache knows have moved onto the invoice; they are followed there, not taken as deleted.
    invoice_id = close_in_stripe(engine, client, seeded)
    run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, "2026-12")
    live = {i.id: i.invoice for i in cached_items(engine).values() if not i.deleted}
    assert live == {
        seeded.items[first]: invoice_id,
        seeded.items[third]: invoice_id,
        added: invoice_id,
    }


def test_status_changes_in_stripe_move_the_period_invoice_forward(
    engine: Engine, stripe_sandbox: Any
) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000, 2500])
    invoice_id = close_in_stripe(engine, client, seeded)
    client.v1.invoices.finalize_invoice(invoice_id, {"auto_advance": False})
    client.v1.invoices.pay(invoice_id, {"paid_out_of_band": True})
    note = client.v1.credit_notes.create(
        {"invoice": invoice_id, "amount": 500, "credit_amount": 500, "reason": "duplicate"}
    )

    summary = run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id)

    assert summary.period == PERIOD  # the newest period with lines
    assert summary.invoice_status == "paid"
    with UnitOfWork(engine) as uow:
        s = uow.session
        tracked = s.scalar(select(PeriodInvoice))
        assert tracked is not None
        assert (tracked.status, tracked.total) == ("paid", 3500)
        assert tracked.finalized_at is not None
        cached_note = s.get(StripeCreditNoteCache, note.id)
        assert cached_note is not None
        assert (cached_note.invoice, cached_note.amount, cached_note.status) == (
            invoice_id,
            500,
            "issued",
        )
        assert cached_note.customer_id == seeded.customer_id
        # The post-payment credit went to the customer's balance.
        customer = s.get(StripeCustomerCache, seeded.stripe_customer)
        assert customer is not None
        assert customer.balance == -500
        invoice = s.get(StripeInvoiceCache, invoice_id)
        assert invoice is not None
        assert invoice.number is not None
        assert invoice.hosted_invoice_url


def test_customers_not_or_no_longer_in_stripe(engine: Engine, stripe_sandbox: Any) -> None:
    now = datetime.now(UTC)
    with UnitOfWork(engine, write=True) as uow:
        uow.session.add(
            Customer(
                id="new",
                name="New",
                email="new@x.test",
                currency="usd",
                balance=0,
                flags={},
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()
    summary = run_pull(stripe_sandbox, engine, pull_customer, "new")
    assert (summary.stripe_customer, summary.objects, summary.fetched_at) == (None, 0, None)
    assert stripe_sandbox.admin.requests() == []
    with pytest.raises(InvalidInput, match="no customer with id 'ghost'"):
        run_pull(stripe_sandbox, engine, pull_customer, "ghost")

    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000], balance=-300)
    run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id)
    client.v1.customers.delete(seeded.stripe_customer)
    summary = run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id)
    assert (summary.objects, summary.invoice_status) == (1, None)
    with UnitOfWork(engine) as uow:
        cached = uow.session.get(StripeCustomerCache, seeded.stripe_customer)
        local = uow.session.get(Customer, seeded.customer_id)
        assert cached is not None
        assert local is not None
        assert cached.deleted
        assert (local.flags, local.balance) == ({"deleted_in_stripe": True}, -300)
