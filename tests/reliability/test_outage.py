"""Stripe down for a while (the sandbox's outage switch stands in for ten minutes of 503s):
the worker backs off without bothering anyone, then catches up; nothing lost or doubled."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from billing_desk.store.models import Line
from billing_desk.store.models.sync import SyncError
from billing_desk.store.uow import UnitOfWork
from tests.integration.sync_seed import seed
from tests.integration.test_sync_engine import assert_stripe_matches_ledger, make_engine
from tests.reliability.test_push_faults import _with


def test_an_outage_is_waited_out_then_caught_up(engine: Engine, stripe_sandbox: Any) -> None:
    seed(engine, customers=3, lines_per_customer=3)
    statuses: list[str] = []
    stripe_sandbox.admin.configure(outage=True)
    sync = make_engine(
        engine,
        stripe_sandbox,
        config=_with(pass_patience=timedelta(seconds=1)),
        on_status=lambda state, _detail: statuses.append(state),
    )
    down = asyncio.run(sync.run_once())
    assert down.pushed == 0
    assert down.pending > 0
    assert down.needs_attention == 0  # transient: nobody is asked to do anything
    assert "backing_off" in statuses
    with UnitOfWork(engine) as uow:
        assert {ln.sync_state for ln in uow.session.scalars(select(Line))} == {"pending"}
        severities = set(uow.session.scalars(select(SyncError.severity)))
    assert severities == {"transient"}
    stripe_sandbox.admin.configure(outage=False)
    up = asyncio.run(sync.run_once())
    assert up.pending == up.needs_attention == 0
    assert up.pushed == 9
    assert_stripe_matches_ledger(engine, stripe_sandbox)
