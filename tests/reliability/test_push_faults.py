"""Stripe misbehaving — 500s, 429s, lock timeouts, writes applied whose answer never arrives,
keys past their 24-hour window — and the end state still equal to the ledger to the cent, with
no duplicate and nothing lost. In-process engine, the sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from billing_desk.services.close import close_period
from billing_desk.store.models import Line
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import RetryPolicy
from billing_desk.sync.clock import SimulatedClock
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import PassSummary, SyncEngine
from tests.integration.sync_seed import FAST, bump, seed, void
from tests.integration.test_sync_engine import (
    assert_stripe_matches_ledger,
    local_state,
    make_engine,
)


def until_settled(sync: SyncEngine, **kw: Any) -> PassSummary:
    """Passes until nothing is left to retry (each pass retries transient errors itself)."""
    for _ in range(5):
        summary = asyncio.run(sync.run_once(**kw))
        if summary.pending == 0:
            return summary
    raise AssertionError(f"still pending after 5 passes: {summary}")


def assert_one_invoice_per_customer_equal_to_ledger(engine: Engine, sandbox: Any) -> None:
    client = sandbox.client()
    for cid, (stripe_id, amounts) in local_state(engine).items():
        invoices = client.v1.invoices.list({"customer": stripe_id}).data
        assert [i.status for i in invoices] == ["open"], cid
        assert invoices[0].total == sum(amounts.values()), cid


def test_faults_leave_stripe_equal_to_the_ledger(engine: Engine, stripe_sandbox: Any) -> None:
    seeded = seed(engine, customers=10, lines_per_customer=5)
    stripe_sandbox.admin.configure(
        fail_rate=0.1, drop_after_commit_rate=0.05, latency_ms=15, rate_limit=20
    )
    # Our budget above the sandbox's limit, so real 429s happen and must be absorbed too.
    sync = make_engine(engine, stripe_sandbox, config=_with(rate_limit=60.0))
    first = until_settled(sync)
    lines = [ln for ids in seeded.lines.values() for ln in ids]
    bump(engine, lines[::3], Decimal("2.5"))
    void(engine, lines[1])
    until_settled(sync)
    with UnitOfWork(engine, write=True) as uow:
        close_period(uow, "2026-10", sync.clock.now(), timedelta(0))
    until_settled(sync, close_period="2026-10")
    last = until_settled(sync)
    assert first.needs_attention == last.needs_attention == 0
    faults = Counter(r["fault"] for r in stripe_sandbox.admin.requests(limit=1000))
    assert faults["fail"], faults
    assert faults["drop"], faults
    assert faults["rate_limit"], faults
    stripe_sandbox.admin.configure(
        fail_rate=0.0, drop_after_commit_rate=0.0, latency_ms=0, rate_limit=None
    )
    assert_stripe_matches_ledger(engine, stripe_sandbox)
    assert_one_invoice_per_customer_equal_to_ledger(engine, stripe_sandbox)
    with UnitOfWork(engine) as uow:
        assert {ln.sync_state for ln in uow.session.scalars(select(Line))} == {"synced"}
        statuses = {pi.status for pi in uow.session.scalars(select(PeriodInvoice))}
    assert statuses == {"open"}


def test_an_unconfirmed_write_past_24_hours_is_adopted_not_duplicated(
    engine: Engine, stripe_sandbox: Any
) -> None:
    seed(engine, customers=2, lines_per_customer=3)
    hour = timedelta(hours=1)
    hold = _with(pass_patience=timedelta(0), backoff_base=hour, backoff_cap=hour)
    start = datetime.now(UTC)

    def one_pass(days_later: int) -> PassSummary:
        clock = SimulatedClock(start + timedelta(hours=25 * days_later))
        sync = make_engine(engine, stripe_sandbox, config=hold, clock=clock)
        sync.gateway_config = replace(sync.gateway_config, retry=RetryPolicy(attempts=1))
        return asyncio.run(sync.run_once())

    # Every write is applied but its answer lost: the customers are created, unconfirmed.
    stripe_sandbox.admin.configure(drop_after_commit_rate=1.0)
    first = one_pass(0)
    assert first.api_calls == 2
    assert first.pending == 2 + 6  # the lines wait for their customer
    # A day later Stripe has forgotten the keys (a resend would create duplicates): the
    # customers are found by their metadata and adopted; the items, sent now, go unconfirmed.
    stripe_sandbox.admin.advance_clock(25 * 3600)
    assert one_pass(1).pending == 6
    counts = stripe_sandbox.admin.counts()
    assert counts["POST /v1/customers"] == 2
    assert counts["GET /v1/customers"] == 2
    # Another day later, answers arrive again: the items are adopted, not sent again.
    stripe_sandbox.admin.configure(drop_after_commit_rate=0.0)
    stripe_sandbox.admin.advance_clock(25 * 3600)
    summary = one_pass(2)
    assert summary.pending == summary.needs_attention == 0
    counts = stripe_sandbox.admin.counts()
    assert counts["POST /v1/invoiceitems"] == 6
    assert counts["GET /v1/invoiceitems"] == 2
    assert_stripe_matches_ledger(engine, stripe_sandbox)


def _with(**changes: Any) -> EngineConfig:
    return replace(FAST, **changes)
