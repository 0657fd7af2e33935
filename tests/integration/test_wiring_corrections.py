"""Corrections ride the sync pass: `run_once` applies approved corrections before it claims and
settles their Stripe outcomes after its pushes, with no other call in between. Against the
sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from billing_desk.domain.corrections import Kind, Status
from billing_desk.services.audit import change_setting
from billing_desk.store.models.corrections import Correction
from billing_desk.store.sync_ops import credit_note_key, operation_outcome
from billing_desk.store.uow import UnitOfWork
from tests.integration.stripe_desk import AT_ONCE, DRAFT, Desk


def desk_of(engine: Engine, sandbox: Any, *, finalize: bool) -> Desk:
    """The period's invoice a draft, or finalized; agents need a lead's approval above 1.00."""
    desk = Desk(engine, sandbox, AT_ONCE if finalize else DRAFT)
    with UnitOfWork(engine, write=True) as uow:
        change_setting(uow, "ada", "limits", {"agent": {"*": "1.00"}, "lead": {"*": "1000"}})
    return desk


def test_one_pass_applies_an_approved_credit_and_pushes_it(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = desk_of(engine, stripe_sandbox, finalize=False)
    before = desk.stripe_invoice().total
    correction = desk.approved(Kind.CREDIT, amount=200)
    summary = desk.run()
    assert desk.status(correction) == Status.APPLIED.value
    assert summary.pushed == 1
    assert desk.stripe_invoice().total == before - 200


def test_one_off_lines_reach_stripe_with_their_description_as_is(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = desk_of(engine, stripe_sandbox, finalize=False)
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
    desk = desk_of(engine, stripe_sandbox, finalize=True)
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
    desk = desk_of(engine, stripe_sandbox, finalize=True)
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
