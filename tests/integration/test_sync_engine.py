"""The sync engine against the sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from billing_desk.domain.settings import Settings
from billing_desk.services.close import close_period
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.sync import PeriodInvoice, SyncApiCalls, SyncWorker
from billing_desk.store.sync_ops import (
    credit_note_key,
    operation_outcome,
    queue_credit_note,
    queue_void_invoice,
    void_invoice_key,
)
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RetryPolicy, StripeKeyRejected
from billing_desk.sync.clock import SystemClock
from billing_desk.sync.engine import PassSummary, SyncEngine
from tests.integration.sync_seed import FAST, bump, seed, void

NOW_SETTINGS = Settings(sync_interval=timedelta(0))


def make_engine(
    engine: Engine, sandbox: Any, *, settings: Settings = NOW_SETTINGS, **kw: Any
) -> SyncEngine:
    retry = RetryPolicy(attempts=4, base_s=0.02, cap_s=0.2)
    return SyncEngine(
        engine,
        GatewayConfig(sandbox.api_key, sandbox.url, timeout_s=10, retry=retry),
        settings,
        config=kw.pop("config", FAST),
        clock=kw.pop("clock", SystemClock()),
        **kw,
    )


def run(coro: Any) -> PassSummary:
    return asyncio.run(coro)


def stripe_items(sandbox: Any, stripe_customer: str) -> list[Any]:
    return list(
        sandbox.client().v1.invoice_items.list({"customer": stripe_customer, "limit": 100}).data
    )


def local_state(engine: Engine) -> dict[str, tuple[str, dict[int, int]]]:
    """customer -> (stripe id, {line id: amount}) for live lines."""
    out: dict[str, tuple[str, dict[int, int]]] = {}
    with UnitOfWork(engine) as uow:
        for c in uow.session.scalars(select(Customer)):
            lines = uow.session.scalars(select(Line).where(Line.customer_id == c.id)).all()
            out[c.id] = (
                c.stripe_customer_id or "",
                {ln.id: ln.amount for ln in lines if not ln.voided},
            )
    return out


def assert_stripe_matches_ledger(engine: Engine, sandbox: Any) -> None:
    for cid, (stripe_id, amounts) in local_state(engine).items():
        assert stripe_id, f"{cid} has no Stripe customer"
        items = stripe_items(sandbox, stripe_id)
        by_line: dict[int, list[int]] = {}
        for item in items:
            by_line.setdefault(int(item.metadata["billing_desk_line"]), []).append(item.amount)
        assert by_line == {line: [amount] for line, amount in amounts.items()}, cid


def test_push_creates_customers_and_one_item_per_line(engine: Engine, stripe_sandbox: Any) -> None:
    seeded = seed(engine, customers=3, lines_per_customer=4)
    summary = run(make_engine(engine, stripe_sandbox).run_once())
    assert summary.pushed == 12
    assert summary.pending == summary.needs_attention == 0
    # One call per customer created and one per line.
    assert summary.api_calls == 3 + 12
    assert_stripe_matches_ledger(engine, stripe_sandbox)
    with UnitOfWork(engine) as uow:
        lines = uow.session.scalars(select(Line)).all()
        assert {ln.sync_state for ln in lines} == {"synced"}
        assert all(ln.synced_version == ln.version for ln in lines)
        customer = uow.session.get(Customer, seeded.customers[0])
        assert customer is not None
        stripe_customer = stripe_sandbox.client().v1.customers.retrieve(customer.stripe_customer_id)
    assert stripe_customer.metadata["billing_desk_customer"] == seeded.customers[0]
    assert stripe_customer.email == "billing+0@example.com"
    item = stripe_items(stripe_sandbox, stripe_customer.id)[0]
    assert item.metadata["billing_desk_version"] == "1"
    assert "×" in item.description


def test_changes_update_and_voids_delete_with_one_call_each(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seeded = seed(engine, customers=1, lines_per_customer=3)
    sync = make_engine(engine, stripe_sandbox)
    run(sync.run_once())
    first, second, _ = seeded.lines[seeded.customers[0]]
    bump(engine, [first], Decimal("10.5"))
    bump(engine, [first], Decimal(2))  # coalesced: still one push
    void(engine, second)
    summary = run(sync.run_once())
    assert summary.pushed == 2
    assert summary.api_calls == 2
    assert_stripe_matches_ledger(engine, stripe_sandbox)
    # Nothing changed: nothing sent.
    assert run(sync.run_once()).api_calls == 0


def test_interval_policy_and_on_demand_customer(engine: Engine, stripe_sandbox: Any) -> None:
    seeded = seed(engine, customers=2, lines_per_customer=2, now=datetime.now(UTC))
    daily = Settings(sync_interval=timedelta(hours=24))
    sync = make_engine(engine, stripe_sandbox, settings=daily)
    assert run(sync.run_once()).api_calls == 0  # changes younger than the interval wait
    summary = run(sync.run_once(seeded.customers[1]))
    assert summary.pushed == 2
    state = local_state(engine)
    assert state[seeded.customers[0]][0] == ""
    assert state[seeded.customers[1]][0].startswith("cus_")


def test_close_then_finalize_gives_one_invoice_per_customer(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seed(engine, customers=3, lines_per_customer=3)
    sync = make_engine(engine, stripe_sandbox)
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, "2026-10", sync.clock.now(), timedelta(0))
    closing = run(sync.run_once(close_period="2026-10"))
    assert closing.invoices_created == 3
    assert closing.finalized == 0
    summary = run(sync.run_once())
    assert summary.finalized == 3
    assert summary.pending == summary.needs_attention == 0
    client = stripe_sandbox.client()
    for cid, (stripe_id, amounts) in local_state(engine).items():
        invoices = client.v1.invoices.list({"customer": stripe_id}).data
        assert len(invoices) == 1, cid
        assert invoices[0].status == "open"
        assert invoices[0].total == sum(amounts.values())
        assert invoices[0].metadata["billing_desk_period"] == "2026-10"
        assert invoices[0].auto_advance is False
    with UnitOfWork(engine) as uow:
        rows = uow.session.scalars(select(PeriodInvoice)).all()
        assert {(r.status, r.blocked_reason) for r in rows} == {("open", None)}
        assert all(r.total is not None and r.finalized_at is not None for r in rows)


def test_drift_in_stripe_keeps_the_draft_blocked(engine: Engine, stripe_sandbox: Any) -> None:
    seeded = seed(engine, customers=1, lines_per_customer=2)
    sync = make_engine(engine, stripe_sandbox)
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, "2026-10", sync.clock.now(), timedelta(0))
    run(sync.run_once(close_period="2026-10"))
    with UnitOfWork(engine) as uow:
        line = uow.session.get(Line, seeded.lines[seeded.customers[0]][0])
        assert line is not None
        item_id = line.stripe_invoice_item
    stripe_sandbox.client().v1.invoice_items.update(item_id, {"amount": 1})  # a Dashboard edit
    summary = run(sync.run_once())
    assert summary.finalized == 0
    assert summary.blocked == 1
    assert summary.pending == 0
    with UnitOfWork(engine) as uow:
        invoice = uow.session.scalars(select(PeriodInvoice)).one()
        assert invoice.status == "draft"
        assert "Stripe differs from the ledger" in (invoice.blocked_reason or "")


def test_a_deleted_customer_needs_attention_and_others_go_on(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seeded = seed(engine, customers=2, lines_per_customer=2)
    gone = stripe_sandbox.client().v1.customers.create({"name": "gone"})
    stripe_sandbox.client().v1.customers.delete(gone.id)
    with UnitOfWork(engine, write=True) as uow:
        row = uow.session.get(Customer, seeded.customers[0])
        assert row is not None
        row.stripe_customer_id = gone.id
        uow.commit()
    summary = run(make_engine(engine, stripe_sandbox).run_once())
    assert summary.needs_attention == 2
    assert summary.pushed == 2
    assert summary.pending == 0
    with UnitOfWork(engine) as uow:
        failed = uow.session.scalars(
            select(OutboxOperation).where(OutboxOperation.state == "needs_attention")
        ).all()
        assert {op.customer_id for op in failed} == {seeded.customers[0]}
        assert all("customer" in (op.last_error or "").lower() for op in failed)
        states = {
            ln.sync_state
            for ln in uow.session.scalars(
                select(Line).where(Line.customer_id == seeded.customers[0])
            )
        }
        assert states == {"needs_attention"}


def test_a_rejected_key_stops_the_worker_with_one_alert(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seed(engine, customers=1, lines_per_customer=1)
    statuses: list[tuple[str, str | None]] = []
    bad = type(stripe_sandbox)(
        stripe_sandbox.url, "sk_live_not_a_sandbox_key", stripe_sandbox.admin
    )
    sync = make_engine(engine, bad, on_status=lambda s, d: statuses.append((s, d)))
    with pytest.raises(StripeKeyRejected, match="Stripe rejected the API key"):
        run(sync.run_once())
    assert statuses[-1] == ("stopped", "Stripe rejected the API key")
    with UnitOfWork(engine) as uow:
        assert uow.session.scalars(select(OutboxOperation.state)).all() == ["pending", "pending"]
        worker = uow.session.scalars(select(SyncWorker)).one()
        assert worker.status == "stopped"


def test_calls_are_counted_per_endpoint_and_hour(engine: Engine, stripe_sandbox: Any) -> None:
    seed(engine, customers=2, lines_per_customer=2)
    run(make_engine(engine, stripe_sandbox).run_once())
    with UnitOfWork(engine) as uow:
        counts = {r.endpoint: r.calls for r in uow.session.scalars(select(SyncApiCalls))}
    assert counts == {"POST /v1/customers": 2, "POST /v1/invoiceitems": 4}
    assert sum(stripe_sandbox.admin.counts().values()) == 6


def test_credit_notes_and_voids_queued_by_corrections_report_their_outcome(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seeded = seed(engine, customers=2, lines_per_customer=2)
    sync = make_engine(engine, stripe_sandbox)
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, "2026-10", sync.clock.now(), timedelta(0))
    run(sync.run_once(close_period="2026-10"))
    run(sync.run_once())
    with UnitOfWork(engine, write=True) as uow:
        invoices = {
            pi.customer_id: pi.stripe_invoice_id
            for pi in uow.session.scalars(select(PeriodInvoice))
        }
        first, second = seeded.customers
        queue_credit_note(
            uow.session,
            first,
            {
                "invoice": invoices[first] or "",
                "amount": 150,
                "reason": "goodwill",
                "memo": "Sorry for the outage",
                "correction_id": 41,
                "credit_to": "pre_payment",
            },
            sync.clock.now(),
        )
        queue_void_invoice(
            uow.session,
            second,
            {"invoice": invoices[second] or "", "correction_id": 42},
            sync.clock.now(),
        )
        uow.commit()
    summary = run(sync.run_once())
    assert summary.pending == summary.needs_attention == 0
    client = stripe_sandbox.client()
    with UnitOfWork(engine) as uow:
        credit = operation_outcome(uow.session, credit_note_key(41))
        voided = operation_outcome(uow.session, void_invoice_key(42))
        status = {pi.customer_id: pi.status for pi in uow.session.scalars(select(PeriodInvoice))}
    assert credit is not None
    assert credit.state == "done"
    note = client.v1.credit_notes.retrieve(credit.stripe_object_id)
    assert (note.amount, note.invoice, note.memo) == (150, invoices[first], "Sorry for the outage")
    assert voided is not None
    assert voided.state == "done"
    assert client.v1.invoices.retrieve(invoices[second]).status == "void"
    assert status[second] == "void"
