"""Corrections ride the sync pass: `run_once` applies approved corrections before it claims and
settles their Stripe outcomes after its pushes, with no other call in between. Against the
sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from billing_desk.domain.corrections import Kind, Status
from billing_desk.domain.settings import Settings
from billing_desk.services import corrections as svc
from billing_desk.services.audit import change_setting
from billing_desk.services.close import close_period
from billing_desk.store.models.corrections import Correction
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.sync_ops import credit_note_key, operation_outcome
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RetryPolicy
from billing_desk.sync.context import EngineConfig
from billing_desk.sync.engine import PassSummary, SyncEngine
from tests.integration.corrections_support import add_staff, proposal
from tests.integration.sync_seed import seed

PERIOD = "2026-10"
FAST = EngineConfig(
    lease=timedelta(seconds=10),
    heartbeat=timedelta(milliseconds=200),
    backoff_base=timedelta(milliseconds=50),
    backoff_cap=timedelta(milliseconds=400),
    defer=timedelta(milliseconds=50),
    pass_patience=timedelta(seconds=10),
    rate_limit=200.0,
)


class Desk:
    """One customer with two pushed lines and the period's invoice in Stripe (a draft, or
    finalized when `finalize`); agents need a lead's approval above 1.00."""

    def __init__(self, engine: Engine, sandbox: Any, *, finalize: bool) -> None:
        self.engine, self.sandbox = engine, sandbox
        self.customer = seed(engine, customers=1, lines_per_customer=2, period=PERIOD).customers[0]
        add_staff(engine)
        self.sync = SyncEngine(
            engine,
            GatewayConfig(
                sandbox.api_key, sandbox.url, timeout_s=10,
                retry=RetryPolicy(attempts=4, base_s=0.02, cap_s=0.2),
            ),
            Settings(sync_interval=timedelta(0)),
            config=FAST,
        )  # fmt: skip
        self.run()
        with UnitOfWork(engine, write=True) as uow:
            grace = timedelta(0) if finalize else timedelta(days=1)
            close_period(uow, PERIOD, self.sync.clock.now(), grace)
        self.run(close_period=PERIOD)
        if finalize:
            assert self.run().finalized == 1
        with UnitOfWork(engine, write=True) as uow:
            change_setting(uow, "ada", "limits", {"agent": {"*": "1.00"}, "lead": {"*": "1000"}})

    def run(self, **kw: Any) -> PassSummary:
        return asyncio.run(self.sync.run_once(**kw))

    def approved(self, kind: Kind, **kw: object) -> int:
        """A correction an agent asked for and a lead approved, not applied yet."""
        with UnitOfWork(self.engine, write=True) as uow:
            asked = svc.propose(uow, "ann", proposal(kind, self.customer, PERIOD, **kw))
        assert asked.status is Status.PENDING_APPROVAL
        with UnitOfWork(self.engine, write=True) as uow:
            svc.approve(uow, "lee", asked.id)
        assert self.status(asked.id) == Status.APPROVED.value
        return asked.id

    def status(self, correction_id: int) -> str:
        with UnitOfWork(self.engine) as uow:
            c = uow.session.get(Correction, correction_id)
            assert c is not None
            return c.status

    def stripe_invoice(self) -> Any:
        with UnitOfWork(self.engine) as uow:
            inv = uow.session.scalar(select(PeriodInvoice))
            assert inv is not None
            invoice_id = inv.stripe_invoice_id
        assert invoice_id is not None
        return self.sandbox.client().v1.invoices.retrieve(invoice_id)


def test_one_pass_applies_an_approved_credit_and_pushes_it(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = Desk(engine, stripe_sandbox, finalize=False)
    before = desk.stripe_invoice().total
    correction = desk.approved(Kind.CREDIT, amount=200)
    summary = desk.run()
    assert desk.status(correction) == Status.APPLIED.value
    assert summary.pushed == 1
    assert desk.stripe_invoice().total == before - 200


def test_one_off_lines_reach_stripe_with_their_description_as_is(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = Desk(engine, stripe_sandbox, finalize=False)
    desk.approved(Kind.ONE_OFF, amount=1_999, description="Setup fee")
    desk.run()
    items = desk.sandbox.client().v1.invoice_items.list({"invoice": desk.stripe_invoice().id})
    descriptions = sorted(item.description for item in items.data)
    assert "Setup fee" in descriptions
    usage = [d for d in descriptions if d != "Setup fee"]
    assert len(usage) == 2
    assert all(d.startswith("API item ") and "minor units)" in d for d in usage)


def test_a_credit_note_after_finalization_is_sent_and_settled_in_one_pass(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = Desk(engine, stripe_sandbox, finalize=True)
    invoice = desk.stripe_invoice()
    assert invoice.status == "open"
    correction = desk.approved(Kind.CREDIT, amount=150)
    summary = desk.run()
    assert summary.needs_attention == 0
    assert desk.status(correction) == Status.APPLIED.value
    with UnitOfWork(engine) as uow:
        outcome = operation_outcome(uow.session, credit_note_key(correction))
    assert outcome is not None
    assert outcome.state == "done"
    (note,) = stripe_sandbox.client().v1.credit_notes.list({"invoice": invoice.id}).data
    assert (note.id, note.amount) == (outcome.stripe_object_id, 150)


def test_a_credit_note_stripe_refuses_fails_its_correction_in_the_same_pass(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = Desk(engine, stripe_sandbox, finalize=True)
    correction = desk.approved(Kind.CREDIT, amount=150)
    # Voided in the Dashboard behind the desk's back: Stripe refuses any credit note on it.
    desk.sandbox.client().v1.invoices.void_invoice(desk.stripe_invoice().id)
    summary = desk.run()
    assert summary.needs_attention == 1
    assert desk.status(correction) == Status.FAILED.value
    with UnitOfWork(engine) as uow:
        c = uow.session.get(Correction, correction)
        assert c is not None
        assert (c.status_reason or "").startswith("Stripe refused it: ")
