"""Every correction kind, before and after finalization, end to end: the service applies it, the
sync engine sends it to the sandbox over real HTTP, and the Stripe invoice (or credit note) ends
with exactly the amounts the domain computed. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from billing_desk.domain.corrections import Kind, Status
from billing_desk.services import corrections as svc
from billing_desk.services.audit import change_setting
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from tests.integration.stripe_desk import AT_ONCE, DRAFT, Desk


@pytest.fixture
def draft(engine: Engine, stripe_sandbox: Any) -> Desk:
    return Desk(engine, stripe_sandbox, DRAFT)


@pytest.fixture
def finalized(engine: Engine, stripe_sandbox: Any) -> Desk:
    return Desk(engine, stripe_sandbox, AT_ONCE)


def test_before_finalization_the_draft_ends_at_the_computed_total(draft: Desk) -> None:
    """Each kind in turn on one draft: after each push the Stripe draft's total is exactly the
    total the domain computed for that correction (and the ledger's)."""
    assert draft.stripe_invoice().total == draft.local_total()
    for kind, options in [
        (Kind.ADJUST, {"amount": 50, "line_id": draft.lines[0]}),
        (Kind.VOID, {"line_id": draft.lines[1]}),
        (Kind.ONE_OFF, {"amount": 1_999, "description": "Setup fee"}),
        (Kind.CREDIT, {"amount": 234}),
    ]:
        decision = draft.propose("lee", kind, **options)
        assert decision.status is Status.APPLIED
        expected = draft.expected_total(decision.id)
        summary = draft.run(customer=draft.customer)
        assert summary.api_calls <= 2, kind  # one invoice-item write: create, update or delete
        invoice = draft.stripe_invoice()
        assert invoice.status == "draft"
        assert (kind, invoice.total) == (kind, expected)
        assert expected == draft.local_total()


def test_a_credit_waiting_for_approval_reaches_stripe_once_approved(draft: Desk) -> None:
    before = draft.stripe_invoice().total
    with UnitOfWork(draft.engine, write=True) as uow:
        change_setting(uow, "ada", "limits", {"agent": {"*": "1.00"}, "lead": {"*": "1000"}})
    pending = draft.propose("ann", Kind.CREDIT, amount=200)
    assert pending.status is Status.PENDING_APPROVAL
    draft.run(customer=draft.customer)
    assert draft.stripe_invoice().total == before
    with UnitOfWork(draft.engine, write=True) as uow:
        svc.approve(uow, "lee", pending.id)
    with UnitOfWork(draft.engine, write=True) as uow:
        svc.apply_approved(uow, "lee")
    draft.run(customer=draft.customer)
    assert draft.stripe_invoice().total == before - 200


def test_credit_on_an_open_invoice_is_a_pre_payment_credit_note(finalized: Desk) -> None:
    invoice = finalized.stripe_invoice()
    assert invoice.status == "open"
    decision = finalized.propose("lee", Kind.CREDIT, amount=150, note="outage")
    finalized.run(customer=finalized.customer)
    (note,) = finalized.sandbox.client().v1.credit_notes.list({"invoice": invoice.id}).data
    assert (note.amount, note.metadata["billing_desk_correction"]) == (150, str(decision.id))
    after = finalized.stripe_invoice()
    assert after.amount_remaining == invoice.amount_remaining - 150
    assert after.total == invoice.total
    assert finalized.expected_total(decision.id) == invoice.total - 150


def test_credit_on_a_paid_invoice_credits_the_customer_balance(finalized: Desk) -> None:
    client = finalized.sandbox.client()
    paid = client.v1.invoices.pay(finalized.invoice_id())
    assert paid.status == "paid"
    with UnitOfWork(finalized.engine, write=True) as uow:
        # What the pull engine records from Stripe's invoice.paid event.
        inv = uow.session.scalar(select(PeriodInvoice))
        assert inv is not None
        inv.status = "paid"
        uow.commit()
    finalized.propose("lee", Kind.CREDIT, amount=70)
    finalized.run(customer=finalized.customer)
    (note,) = client.v1.credit_notes.list({"invoice": paid.id}).data
    assert (note.amount, note.out_of_band_amount or 0) == (70, 0)
    customer = client.v1.customers.retrieve(paid.customer)
    assert customer.balance == -70


def test_void_invoice_needs_a_second_lead_then_voids_in_stripe(finalized: Desk) -> None:
    pending = finalized.propose("lee", Kind.VOID_INVOICE)
    assert pending.status is Status.PENDING_APPROVAL
    with UnitOfWork(finalized.engine, write=True) as uow:
        svc.approve(uow, "lou", pending.id)
    with UnitOfWork(finalized.engine, write=True) as uow:
        svc.apply_approved(uow, "lou")
    finalized.run(customer=finalized.customer)
    assert finalized.stripe_invoice().status == "void"
    with UnitOfWork(finalized.engine) as uow:
        inv = uow.session.scalar(select(PeriodInvoice))
        assert inv is not None
        assert inv.status == "void"
