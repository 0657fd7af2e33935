"""What a push leaves in the store besides the line: Stripe's answer in the cache (so the
side-by-side view is in sync without a pull), an audit row for every operation Stripe refuses,
and the store's `requeue` behind the Sync panel's Retry. Against the sandbox over real HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.reconcile import RowStatus
from billing_desk.domain.settings import Settings
from billing_desk.services.audit import verify
from billing_desk.services.customer_view import customer_view
from billing_desk.store import sync_repo
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.corrections import AuditRow
from billing_desk.store.models.stripe_cache import StripeInvoiceItemCache
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RetryPolicy
from billing_desk.sync.engine import PassSummary, SyncEngine
from tests.integration.sync_seed import FAST, bump, seed, void

PERIOD = "2026-10"


def run_once(engine: Engine, sandbox: Any) -> PassSummary:
    sync = SyncEngine(
        engine,
        GatewayConfig(
            sandbox.api_key, sandbox.url, timeout_s=10,
            retry=RetryPolicy(attempts=4, base_s=0.02, cap_s=0.2),
        ),
        Settings(sync_interval=timedelta(0)),
        config=FAST,
    )  # fmt: skip
    return asyncio.run(sync.run_once())


def statuses(engine: Engine, customer: str) -> dict[int, RowStatus]:
    """Line id -> its row's status in the customer page's side-by-side view."""
    with UnitOfWork(engine) as uow:
        view = customer_view(uow, customer, PERIOD)
    return {line.id: row.status for row in view.rows for line in row.lines}


def test_a_pushed_line_shows_in_sync_without_a_pull(engine: Engine, stripe_sandbox: Any) -> None:
    seeded = seed(engine, customers=1, lines_per_customer=3, period=PERIOD)
    customer = seeded.customers[0]
    first, second, third = seeded.lines[customer]
    assert set(statuses(engine, customer).values()) != {RowStatus.IN_SYNC}
    run_once(engine, stripe_sandbox)
    assert statuses(engine, customer) == dict.fromkeys((first, second, third), RowStatus.IN_SYNC)

    bump(engine, [first], Decimal(10))
    assert statuses(engine, customer)[first] is RowStatus.WAITING_TO_PUSH
    run_once(engine, stripe_sandbox)
    assert statuses(engine, customer)[first] is RowStatus.IN_SYNC

    with UnitOfWork(engine) as uow:
        line = uow.session.get(Line, second)
        assert line is not None
        deleted_item = line.stripe_invoice_item
    void(engine, second)
    run_once(engine, stripe_sandbox)
    with UnitOfWork(engine) as uow:
        cached = uow.session.get(StripeInvoiceItemCache, deleted_item)
        assert cached is not None
        assert cached.deleted
    after = statuses(engine, customer)
    assert after[first] is after[third] is RowStatus.IN_SYNC
    assert after.get(second, RowStatus.IN_SYNC) is RowStatus.IN_SYNC


def refused_customer(engine: Engine, sandbox: Any) -> tuple[str, list[OutboxOperation]]:
    """A customer whose Stripe customer was deleted, after one pass: its pushes need attention."""
    customer = seed(engine, customers=1, lines_per_customer=2, period=PERIOD).customers[0]
    gone = sandbox.client().v1.customers.create({"name": "gone"})
    sandbox.client().v1.customers.delete(gone.id)
    with UnitOfWork(engine, write=True) as uow:
        row = uow.session.get(Customer, customer)
        assert row is not None
        row.stripe_customer_id = gone.id
        uow.commit()
    assert run_once(engine, sandbox).needs_attention == 2
    with UnitOfWork(engine) as uow:
        ops = list(uow.session.scalars(select(OutboxOperation).order_by(OutboxOperation.id)).all())
        uow.session.expunge_all()
    assert {op.state for op in ops} == {"needs_attention"}
    return customer, ops


def audit_rows(engine: Engine, action: str) -> list[AuditRow]:
    with UnitOfWork(engine) as uow:
        rows = list(
            uow.session.scalars(
                select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.seq)
            )
        )
        uow.session.expunge_all()
    return rows


def test_a_refused_operation_is_audited_with_stripes_message(
    engine: Engine, stripe_sandbox: Any
) -> None:
    _, ops = refused_customer(engine, stripe_sandbox)
    rows = audit_rows(engine, "sync.needs_attention")
    assert [r.subject for r in rows] == [f"outbox:{op.id}" for op in ops]
    for row, op in zip(rows, ops, strict=True):
        assert row.actor == "sync"
        assert row.reason == op.last_error
        assert "customer" in (row.reason or "").lower()
        assert json.loads(row.after or "{}") == {"state": "needs_attention"}
    with UnitOfWork(engine) as uow:
        report = verify(uow)
    assert report.ok
    assert report.rows == len(rows)


def test_requeue_puts_a_refused_operation_back_with_its_key(
    engine: Engine, stripe_sandbox: Any
) -> None:
    _, ops = refused_customer(engine, stripe_sandbox)
    op = ops[0]
    with UnitOfWork(engine, write=True) as uow:
        sync_repo.requeue(uow.session, op.id, "lee")
        uow.commit()
    with UnitOfWork(engine) as uow:
        again = uow.session.get(OutboxOperation, op.id)
        assert again is not None
        assert (again.state, again.idempotency_key) == ("pending", op.idempotency_key)
        assert again.next_attempt_at is not None
        assert op.line_id is not None
        line = uow.session.get(Line, op.line_id)
        assert line is not None
        assert line.sync_state == "pending"
        other = uow.session.get(OutboxOperation, ops[1].id)
        assert other is not None
        assert other.state == "needs_attention"
    (row,) = audit_rows(engine, "sync.retry_requested")
    assert (row.actor, row.subject) == ("lee", f"outbox:{op.id}")
    assert json.loads(row.before or "{}") == {"state": "needs_attention", "error": op.last_error}

    # Only an operation that still needs attention can be retried; nothing is written else.
    for op_id in (op.id, 999_999):
        with (
            UnitOfWork(engine, write=True) as uow,
            pytest.raises(InvalidInput, match=f"operation {op_id} does not need attention"),
        ):
            sync_repo.requeue(uow.session, op_id, "lee")
    assert len(audit_rows(engine, "sync.retry_requested")) == 1
    with UnitOfWork(engine) as uow:
        assert verify(uow).ok
