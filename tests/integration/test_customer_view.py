"""The customer view from the store: header, side-by-side statuses and totals, after real pulls
from the sandbox; a constant number of queries whatever the number of lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pull_seed import NOW, PERIOD, close_in_stripe, item_metadata, run_pull, seed_pushed
from sqlalchemy import Engine, event, select, update

from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.reconcile import RowStatus
from billing_desk.services.customer_view import customer_view, list_periods
from billing_desk.store import stripe_cache_repo as repo
from billing_desk.store.models import Line
from billing_desk.store.uow import UnitOfWork
from billing_desk.sync.pull import pull_customer


def view(engine: Engine, customer_id: str = "cust-1", period: str = PERIOD, **kw: Any) -> Any:
    with UnitOfWork(engine) as uow:
        return customer_view(uow, customer_id, period, **kw)


def statuses(result: Any) -> dict[str, RowStatus]:
    return {
        (str(row.lines[0].id) if row.lines else f"stripe:{row.stripe.description}"): row.status
        for row in result.rows
    }


def test_dashboard_edits_show_as_differences_after_a_pull(
    engine: Engine, stripe_sandbox: Any
) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000, 2500, 400, 700])
    before = view(engine)
    assert (before.invoice_status, before.fetched_at, before.balance) == ("none", None, None)
    assert before.is_stale(datetime.now(UTC), timedelta(minutes=5))
    assert before.customer_dashboard_url == (
        f"https://dashboard.stripe.com/test/customers/{seeded.stripe_customer}"
    )
    # Pushed (as far as the ledger knows) but not in the cache: Stripe's side is unknown.
    assert set(statuses(before).values()) == {RowStatus.ONLY_LOCAL}
    assert (before.reconciliation.local_total, before.reconciliation.stripe_total) == (4600, 0)

    invoice_id = close_in_stripe(engine, client, seeded)
    in_sync, edited, deleted, changed_locally = seeded.lines
    client.v1.invoice_items.update(seeded.items[edited], {"amount": 2000})
    client.v1.invoice_items.delete(seeded.items[deleted])
    client.v1.invoice_items.create(
        {
            "customer": seeded.stripe_customer,
            "invoice": invoice_id,
            "amount": 150,
            "currency": "usd",
            "description": "Added in the Dashboard",
        }
    )
    with UnitOfWork(engine, write=True) as uow:  # a correction not pushed yet
        uow.session.execute(
            update(Line).where(Line.id == changed_locally).values(amount=900, version=2)
        )
        uow.commit()
    started = datetime.now(UTC)
    run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, PERIOD)

    result = view(engine, mode="live")
    assert statuses(result) == {
        str(in_sync): RowStatus.IN_SYNC,
        str(edited): RowStatus.AMOUNT_DIFFERS,
        str(deleted): RowStatus.ONLY_LOCAL,
        str(changed_locally): RowStatus.WAITING_TO_PUSH,
        "stripe:Added in the Dashboard": RowStatus.ONLY_IN_STRIPE,
    }
    recon = result.reconciliation
    assert recon.has_drift
    assert not recon.in_sync
    assert (recon.local_total, recon.stripe_total) == (
        1000 + 2500 + 400 + 900,
        1000 + 2000 + 700 + 150,
    )
    assert recon.difference == recon.stripe_total - recon.local_total
    assert result.invoice_status == "draft"
    assert result.invoice is not None
    assert result.invoice.total == 1000 + 2000 + 700 + 150
    assert result.invoice_dashboard_url == f"https://dashboard.stripe.com/invoices/{invoice_id}"
    assert result.finalizes_at == NOW  # the sync engine's grace deadline
    assert result.fetched_at is not None
    assert result.fetched_at >= started
    assert not result.is_stale(datetime.now(UTC), timedelta(minutes=5))
    assert {info.sync_state for info in result.line_info.values()} == {"synced"}


def test_pending_items_belong_to_the_period_they_name(engine: Engine, stripe_sandbox: Any) -> None:
    client = stripe_sandbox.client()
    seeded = seed_pushed(engine, client, [1000])
    # A pending item for December's usage, and one added by hand (no Billing Desk metadata).
    client.v1.invoice_items.create(
        {
            "customer": seeded.stripe_customer,
            "amount": 5,
            "currency": "usd",
            "metadata": item_metadata(999_999, 1, "2026-12"),
        }
    )
    client.v1.invoice_items.create(
        {"customer": seeded.stripe_customer, "amount": 70, "currency": "usd"}
    )
    run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, PERIOD)

    november = view(engine)
    assert sorted(row.stripe_amount or 0 for row in november.rows) == [70, 1000]
    assert november.balance == 0
    december = view(engine, period="2026-12")
    assert sorted(row.stripe_amount or 0 for row in december.rows) == [5, 70]
    with UnitOfWork(engine) as uow:
        assert list_periods(uow, seeded.customer_id) == [PERIOD]

    # A push's answer recorded in the cache (what the push engine does): in sync at once.
    (line,) = seeded.lines
    with UnitOfWork(engine, write=True) as uow:
        uow.session.execute(
            update(Line).where(Line.id == line).values(amount=1300, version=2, synced_version=2)
        )
        repo.record_pushed_item(
            uow.session,
            item_id=seeded.items[line],
            stripe_customer=seeded.stripe_customer,
            invoice=None,
            amount=1300,
            currency="usd",
            description="API item 0",
            metadata=item_metadata(line, 2),
            at=datetime.now(UTC),
        )
        uow.commit()
    (row,) = [row for row in view(engine).rows if row.lines]
    assert (row.status, row.stripe_amount) == (RowStatus.IN_SYNC, 1300)
    with pytest.raises(InvalidInput, match="no customer"):
        view(engine, customer_id="ghost")


@contextmanager
def counting_queries(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_view_costs_the_same_few_queries_for_5_or_50_lines(
    engine: Engine, stripe_sandbox: Any
) -> None:
    client = stripe_sandbox.client()
    small = seed_pushed(engine, client, [100] * 5, customer_id="small")
    large = seed_pushed(engine, client, list(range(100, 150)), customer_id="large")
    for seeded in (small, large):
        close_in_stripe(engine, client, seeded)
        run_pull(stripe_sandbox, engine, pull_customer, seeded.customer_id, PERIOD)

    with counting_queries(engine) as small_queries:
        small_view = view(engine, "small")
    with counting_queries(engine) as large_queries:
        large_view = view(engine, "large")
    assert len(small_view.rows) == 5
    assert len(large_view.rows) == 50
    assert large_view.reconciliation.in_sync
    assert len(large_queries) == len(small_queries) <= 10
    with UnitOfWork(engine) as uow:
        periods = uow.session.scalars(select(Line.period).distinct()).all()
    assert periods == [PERIOD]
