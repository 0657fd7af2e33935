"""A period's draft deleted in the Stripe Dashboard: once a pull learns of it (from the events,
pulling the customer, or a full reconciliation), the desk shows the period without an invoice,
nothing waits to finalize the deleted draft, and closing the period again makes a new draft.
Against the sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from billing_desk.domain.corrections import InvoiceStatus
from billing_desk.services.close import close_period
from billing_desk.services.customer_view import customer_view
from billing_desk.store.corrections_repo import invoice_view
from billing_desk.store.models import Line, OutboxOperation
from billing_desk.store.models.corrections import AuditRow
from billing_desk.store.models.stripe_cache import StripeInvoiceCache
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.stripe_cache_repo import forget_deleted_drafts
from billing_desk.store.sync_ops import CREATE_INVOICE, FINALIZE_INVOICE
from billing_desk.store.uow import UnitOfWork
from billing_desk.sync.engine import SyncEngine
from billing_desk.sync.pull import full_reconcile, poll_events, pull_customer
from tests.integration.pull_seed import run_pull
from tests.integration.sync_seed import seed
from tests.integration.test_sync_engine import make_engine

PERIOD = "2026-10"
GRACE = timedelta(0)  # due at once: the next pass would finalize it


def close(engine: Engine, sync: SyncEngine) -> str:
    """Close the period and run the pass that makes its draft; the draft's id."""
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, PERIOD, sync.clock.now(), GRACE)
    asyncio.run(sync.run_once(close_period=PERIOD))
    with UnitOfWork(engine) as uow:
        tracked = uow.session.scalar(select(PeriodInvoice))
        assert tracked is not None
        assert tracked.status == "draft"
        assert tracked.stripe_invoice_id is not None
        return tracked.stripe_invoice_id


def invoice_ops(engine: Engine) -> dict[str, str]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.scalars(
            select(OutboxOperation).where(
                OutboxOperation.kind.in_((CREATE_INVOICE, FINALIZE_INVOICE))
            )
        )
        return {op.idempotency_key: op.state for op in rows}


@pytest.mark.parametrize("pull", ["events", "customer", "reconcile"])
def test_a_draft_deleted_in_stripe_leaves_the_period_without_an_invoice(
    engine: Engine, stripe_sandbox: Any, pull: str
) -> None:
    customer = seed(engine, customers=1, lines_per_customer=2, period=PERIOD).customers[0]
    sync = make_engine(engine, stripe_sandbox)
    asyncio.run(sync.run_once())
    run_pull(stripe_sandbox, engine, poll_events)  # the events cursor starts here
    deleted = close(engine, sync)
    ops_before = invoice_ops(engine)
    assert set(ops_before.values()) == {"done", "pending"}  # made; its finalization due

    stripe_sandbox.client().v1.invoices.delete(deleted)  # in the Dashboard
    if pull == "events":
        run_pull(stripe_sandbox, engine, poll_events)
    elif pull == "customer":
        run_pull(stripe_sandbox, engine, pull_customer, customer, PERIOD)
    else:
        run_pull(stripe_sandbox, engine, full_reconcile)

    with UnitOfWork(engine) as uow:
        s = uow.session
        assert s.scalar(select(PeriodInvoice)) is None
        cached = s.get(StripeInvoiceCache, deleted)
        assert cached is None or cached.deleted  # the engine made it; a pull may never have
        assert invoice_view(s, customer, PERIOD).status is InvoiceStatus.NONE
        view = customer_view(uow, customer, PERIOD)
        assert (view.invoice, view.finalizes_at) == (None, None)
        audit = s.scalar(select(AuditRow).where(AuditRow.action == "invoice.deleted_in_stripe"))
        assert audit is not None
        assert audit.subject == f"invoice:{customer}:{PERIOD}"
        assert deleted in (audit.before or "")
    assert invoice_ops(engine) == dict.fromkeys(ops_before, "superseded")

    # Nothing tries to finalize the deleted draft, due as it was.
    summary = asyncio.run(sync.run_once())
    assert (summary.finalized, summary.needs_attention) == (0, 0)

    # Closing again makes a new draft for the period, under keys of its own.
    made = close(engine, sync)
    assert made != deleted
    invoice = stripe_sandbox.client().v1.invoices.retrieve(made)
    assert (invoice.status, invoice.metadata["billing_desk_period"]) == ("draft", PERIOD)
    # Stripe deleted the old draft's items with it: the lines were pushed again, so the new
    # draft bills every line, once.
    with UnitOfWork(engine) as uow:
        local = uow.session.scalars(select(Line).where(Line.customer_id == customer)).all()
        assert all(line.sync_state == "synced" for line in local)
        amounts = sorted(line.amount for line in local)
    assert sorted(line.amount for line in invoice.lines.data) == amounts
    assert invoice.total == sum(amounts)
    assert len(invoice_ops(engine)) == 2 * len(ops_before)
    with UnitOfWork(engine) as uow:
        assert invoice_view(uow.session, customer, PERIOD).status is InvoiceStatus.DRAFT


def test_a_later_status_is_never_undone_by_a_missing_invoice(
    engine: Engine, stripe_sandbox: Any
) -> None:
    """Only a draft can be deleted in Stripe: an open invoice the pull cannot find (a listing
    that missed it) keeps its period invoice."""
    seed(engine, customers=1, lines_per_customer=1, period=PERIOD)
    sync = make_engine(engine, stripe_sandbox)
    asyncio.run(sync.run_once())
    invoice_id = close(engine, sync)
    with UnitOfWork(engine, write=True) as uow:
        tracked = uow.session.scalar(select(PeriodInvoice))
        assert tracked is not None
        tracked.status = "open"
        uow.commit()
    with UnitOfWork(engine, write=True) as uow:
        assert forget_deleted_drafts(uow.session, [invoice_id]) == []
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(PeriodInvoice)) is not None
