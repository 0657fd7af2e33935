"""Corrections through the services on both backends: what each kind writes, approvals,
lapses, holds, undo, duplicates, and the audit rows that go with them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from billing_desk.domain.audit import verify_chain
from billing_desk.domain.corrections import Kind, Reason, Refused, Status
from billing_desk.domain.errors import InvalidInput, PermissionDenied
from billing_desk.services import corrections as svc
from billing_desk.services import finalization_gate as gate
from billing_desk.store import audit_repo
from billing_desk.store.models.corrections import AuditRow, Correction
from billing_desk.store.uow import UnitOfWork
from tests.integration.corrections_support import (
    NOW,
    PERIOD,
    add_staff,
    line,
    lines,
    outbox,
    proposal,
    seed,
    set_invoice,
    total,
    usage_arrives,
)

Store = tuple[Engine, list[int]]


@pytest.fixture
def store(engine: Engine) -> Store:
    ids = seed(engine)
    add_staff(engine)
    return engine, ids


def propose(engine: Engine, actor: str, kind: Kind, **kw: object) -> svc.Decision:
    with UnitOfWork(engine, write=True) as uow:
        return svc.propose(uow, actor, proposal(kind, **kw))


def approve(engine: Engine, actor: str, cid: int, **kw: object) -> svc.Decision:
    with UnitOfWork(engine, write=True) as uow:
        return svc.approve(uow, actor, cid, **kw)  # type: ignore[arg-type]


def apply(engine: Engine, actor: str = "lee") -> list[svc.Decision]:
    with UnitOfWork(engine, write=True) as uow:
        return svc.apply_approved(uow, actor)


def correction(engine: Engine, cid: int) -> Correction:
    with UnitOfWork(engine) as uow:
        found = uow.session.get(Correction, cid)
        assert found is not None
        uow.session.expunge(found)
        return found


def audit_actions(engine: Engine, subject: str) -> list[str]:
    with UnitOfWork(engine) as uow:
        return list(
            uow.session.scalars(
                select(AuditRow.action).where(AuditRow.subject == subject).order_by(AuditRow.seq)
            )
        )


def test_credit_within_the_agent_limit_applies_at_once_as_a_negative_line(store: Store) -> None:
    engine, _ = store
    decision = propose(engine, "ann", Kind.CREDIT, amount=2_500, reason=Reason.SERVICE_OUTAGE)
    assert decision.status is Status.APPLIED
    new = lines(engine)[-1]
    assert (new.kind, new.description, new.amount, new.compiled_amount) == (
        "credit",
        "Credit: service-outage",
        -2_500,
        -2_500,
    )
    assert total(engine) == 42_000 - 2_500
    assert [(op.kind, op.line_id, op.idempotency_key) for op in outbox(engine)] == [
        ("push_line", new.id, f"bd:{new.id}:1")
    ]
    c = correction(engine, decision.id)
    assert (c.created_line_id, c.requested_by, c.applied_by) == (new.id, "ann", "ann")
    assert audit_actions(engine, f"correction:{decision.id}") == ["correction.applied"]


def test_credit_above_the_agent_limit_waits_for_another_lead(store: Store) -> None:
    engine, _ = store
    decision = propose(engine, "ann", Kind.CREDIT, amount=10_000)
    assert decision.status is Status.PENDING_APPROVAL
    assert decision.reason == "its impact of 100.00 USD is above the agent limit of 25.00 USD"
    assert total(engine) == 42_000
    with pytest.raises(PermissionDenied, match="only a lead or an admin"):
        approve(engine, "ann", decision.id)
    assert approve(engine, "lee", decision.id).status is Status.APPROVED
    assert total(engine) == 42_000  # approved, not applied yet
    assert [d.status for d in apply(engine)] == [Status.APPLIED]
    assert total(engine) == 32_000
    assert audit_actions(engine, f"correction:{decision.id}") == [
        "correction.proposed",
        "correction.approved",
        "correction.applied",
    ]


def test_a_lead_cannot_approve_their_own_correction(store: Store) -> None:
    engine, _ = store
    set_invoice(engine, "open", total=42_000)
    decision = propose(engine, "lee", Kind.VOID_INVOICE)
    assert decision.status is Status.PENDING_APPROVAL
    assert decision.reason == "void-invoice always needs a lead's approval"
    with pytest.raises(PermissionDenied, match="four-eyes: lee requested"):
        approve(engine, "lee", decision.id)
    approve(engine, "lou", decision.id)
    apply(engine, "lou")
    ops = outbox(engine)
    assert [(op.kind, op.idempotency_key, op.payload) for op in ops] == [
        (
            "void_invoice",
            f"bd:void:{decision.id}",
            {"invoice": "in_test_1", "correction_id": decision.id},
        )
    ]


def test_adjust_and_void_change_the_billed_amount_never_the_compiled_one(store: Store) -> None:
    engine, (first, second) = store
    adjusted = propose(engine, "lee", Kind.ADJUST, line_id=first, amount=25_000)
    assert adjusted.status is Status.APPLIED
    after = line(engine, first)
    assert (after.amount, after.compiled_amount, after.version, after.voided) == (
        25_000,
        30_000,
        2,
        False,
    )
    assert after.sync_state == "pending"
    propose(engine, "ann", Kind.VOID, line_id=second, reason=Reason.DUPLICATE_CHARGE)
    # 120.00 is above the agent's limit: it waits.
    assert line(engine, second).amount == 12_000
    by_quantity = propose(engine, "lee", Kind.ADJUST, line_id=first, quantity=Decimal("29000.4"))
    assert by_quantity.status is Status.APPLIED
    assert (line(engine, first).amount, line(engine, first).compiled_amount) == (29_000, 30_000)


def test_one_off_is_a_new_line(store: Store) -> None:
    engine, _ = store
    propose(engine, "ann", Kind.ONE_OFF, amount=1_999, description="Setup fee")
    new = lines(engine)[-1]
    assert (new.kind, new.description, new.amount) == ("one-off", "Setup fee", 1_999)
    assert total(engine) == 43_999


@pytest.mark.parametrize(
    ("status", "credit_to"), [("open", "pre_payment"), ("paid", "customer_balance")]
)
def test_credit_after_finalization_is_a_credit_note(
    store: Store, status: str, credit_to: str
) -> None:
    engine, _ = store
    set_invoice(engine, status, total=42_000)
    decision = propose(engine, "ann", Kind.CREDIT, amount=1_500, note="outage on the 3rd")
    assert decision.status is Status.APPLIED
    (op,) = outbox(engine)
    assert (op.kind, op.idempotency_key) == ("credit_note", f"bd:credit:{decision.id}")
    assert op.payload == {
        "invoice": "in_test_1",
        "amount": 1_500,
        "reason": "goodwill",
        "memo": "Credit: goodwill — outage on the 3rd",
        "correction_id": decision.id,
        "credit_to": credit_to,
    }
    assert total(engine) == 42_000  # the lines of a finalized invoice do not move
    # What is left to credit shrinks by what was credited.
    with pytest.raises(Refused, match="can still be credited"):
        propose(engine, "lee", Kind.CREDIT, amount=40_501)


def test_refusals_after_finalization_use_the_contract_wording(store: Store) -> None:
    engine, (first, _) = store
    set_invoice(engine, "open", total=42_000)
    with pytest.raises(Refused, match="adjust refused: use credit"):
        propose(engine, "lee", Kind.ADJUST, line_id=first, amount=1)
    with pytest.raises(Refused, match="one-off refused"):
        propose(engine, "lee", Kind.ONE_OFF, amount=1, description="x")


def test_duplicate_open_corrections_on_one_target_are_refused(store: Store) -> None:
    engine, (first, _) = store
    pending = propose(engine, "ann", Kind.ADJUST, line_id=first, amount=1_000)
    assert pending.status is Status.PENDING_APPROVAL
    with pytest.raises(Refused, match=f"correction {pending.id} \\(adjust, pending_approval\\)"):
        propose(engine, "bob", Kind.VOID, line_id=first)


def test_an_approval_lapses_when_its_line_changes_and_returns_to_the_queue(store: Store) -> None:
    engine, (first, _) = store
    set_invoice(engine, "draft", due_at=NOW + timedelta(hours=2))
    pending = propose(engine, "ann", Kind.ADJUST, line_id=first, amount=20_000)
    approve(engine, "lee", pending.id)
    usage_arrives(engine, first, 500)
    (lapsed,) = apply(engine)
    assert lapsed.status is Status.LAPSED
    assert (
        lapsed.reason == f"line {first} changed after approval (version 1 → 2); back in the queue"
    )
    assert line(engine, first).amount == 30_500  # nothing applied
    with UnitOfWork(engine) as uow:
        queue = gate.approvals_queue(uow, now=NOW)
    assert [(r.id, r.status, r.why) for r in queue] == [(pending.id, "lapsed", lapsed.reason)]
    assert queue[0].nearing_deadline
    approve(engine, "lou", pending.id)
    (applied,) = apply(engine)
    assert applied.status is Status.APPLIED
    assert line(engine, first).amount == 20_000
    assert audit_actions(engine, f"correction:{pending.id}") == [
        "correction.proposed",
        "correction.approved",
        "correction.lapsed",
        "correction.approved",
        "correction.applied",
    ]


def test_approving_what_changed_since_it_was_reviewed_is_refused(store: Store) -> None:
    engine, (first, _) = store
    pending = propose(engine, "ann", Kind.VOID, line_id=first)
    usage_arrives(engine, first, 1)
    with pytest.raises(Refused, match="changed since you reviewed it"):
        approve(engine, "lee", pending.id, seen_line_version=1)


def test_reject_needs_a_note_and_a_lead(store: Store) -> None:
    engine, _ = store
    pending = propose(engine, "ann", Kind.CREDIT, amount=9_000)
    with UnitOfWork(engine, write=True) as uow, pytest.raises(InvalidInput, match="--note"):
        svc.reject(uow, "lee", pending.id, " ")
    with UnitOfWork(engine, write=True) as uow:
        assert svc.reject(uow, "lee", pending.id, "no outage that day").status is Status.REJECTED
    with UnitOfWork(engine, write=True) as uow, pytest.raises(Refused, match="nothing to decide"):
        svc.approve(uow, "lou", pending.id)


def test_hold_blocks_finalization_until_released(store: Store) -> None:
    engine, _ = store
    set_invoice(engine, "draft", due_at=NOW - timedelta(hours=1))
    assert propose(engine, "ann", Kind.HOLD).status is Status.APPLIED
    with UnitOfWork(engine) as uow:
        (reason,) = gate.blockers(uow.session, "c1", PERIOD)
        assert reason.startswith("held by ann since")
        (draft,) = gate.drafts_queue(uow, now=NOW)
        assert draft.overdue
        assert draft.blockers == [reason]
    # Someone else's agent waits for a lead; the lead releases at once.
    other = propose(engine, "bob", Kind.RELEASE)
    assert other.status is Status.PENDING_APPROVAL
    with UnitOfWork(engine, write=True) as uow:
        svc.reject(uow, "lee", other.id, "ann is still on it")
    assert propose(engine, "lee", Kind.RELEASE).status is Status.APPLIED
    with UnitOfWork(engine) as uow:
        assert gate.blockers(uow.session, "c1", PERIOD) == []
    assert audit_actions(engine, f"hold:c1:{PERIOD}") == ["hold.placed", "hold.released"]


def test_a_pending_correction_blocks_finalization_past_its_grace(store: Store) -> None:
    engine, _ = store
    set_invoice(engine, "draft", due_at=NOW - timedelta(days=3))
    pending = propose(engine, "ann", Kind.CREDIT, amount=5_000)
    with UnitOfWork(engine) as uow:
        assert gate.blockers(uow.session, "c1", PERIOD) == [
            f"correction {pending.id} (credit by ann) awaits a lead's approval"
        ]
    approve(engine, "lee", pending.id)
    with UnitOfWork(engine) as uow:
        assert gate.blockers(uow.session, "c1", PERIOD) == [
            f"correction {pending.id} (credit by ann) is approved and not applied yet"
        ]
    apply(engine)
    with UnitOfWork(engine) as uow:
        assert gate.blockers(uow.session, "c1", PERIOD) == []


def test_undo_is_a_correction_that_reverts_the_original(store: Store) -> None:
    engine, (first, _) = store
    adjust = propose(engine, "lee", Kind.ADJUST, line_id=first, amount=10_000)
    usage_arrives(engine, first, 700)  # 7.00 of usage after the adjust stays billed
    with UnitOfWork(engine, write=True) as uow:
        undo = svc.undo(uow, "ann", adjust.id, Reason.PRICING_ERROR)
    # Restoring 200.00 is above the agent's limit: the undo waits like any correction.
    assert undo.status is Status.PENDING_APPROVAL
    approve(engine, "lou", undo.id)
    apply(engine, "lou")
    assert line(engine, first).amount == 30_700
    assert correction(engine, adjust.id).status == "reverted"
    credit = propose(engine, "ann", Kind.CREDIT, amount=1_000)
    with UnitOfWork(engine, write=True) as uow:
        assert svc.undo(uow, "ann", credit.id, Reason.OTHER, "wrong customer").status is (
            Status.APPLIED
        )
    assert total(engine) == 30_700 + 12_000


def test_settled_outcomes_mark_refused_credit_notes_failed(store: Store) -> None:
    engine, _ = store
    set_invoice(engine, "open", total=42_000)
    decision = propose(engine, "ann", Kind.CREDIT, amount=500)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE outbox SET state = 'needs_attention', last_error = 'invoice is void'"
        )
    with UnitOfWork(engine, write=True) as uow:
        (failed,) = svc.settle_outcomes(uow, "lee")
    assert (failed.id, failed.status) == (decision.id, Status.FAILED)
    assert correction(engine, decision.id).status_reason == "Stripe refused it: invoice is void"
    with UnitOfWork(engine, write=True) as uow:
        assert svc.settle_outcomes(uow, "lee") == []


def test_preview_writes_nothing(store: Store) -> None:
    engine, (first, _) = store
    with UnitOfWork(engine, write=True) as uow:
        preview = svc.preview_correction(uow, "ann", proposal(Kind.ADJUST, line_id=first, amount=0))
    assert preview.to_json() == {
        "kind": "adjust",
        "currency": "usd",
        "invoice_status": "none",
        "total_before": 42_000,
        "total_after": 12_000,
        "change": -30_000,
        "line_amount_before": 30_000,
        "line_amount_after": 0,
        "needs_approval": "its impact of 300.00 USD is above the agent limit of 25.00 USD",
    }
    assert outbox(engine) == []


def test_unknown_people_cannot_propose(store: Store) -> None:
    engine, _ = store
    with pytest.raises(PermissionDenied, match="not on the staff"):
        propose(engine, "zed", Kind.HOLD)


def test_every_change_is_in_the_verified_chain(store: Store) -> None:
    engine, (first, _) = store
    pending = propose(engine, "ann", Kind.VOID, line_id=first)
    approve(engine, "lee", pending.id)
    apply(engine)
    propose(engine, "ann", Kind.HOLD)
    with UnitOfWork(engine) as uow:
        report = verify_chain(audit_repo.iter_chain(uow.session))
    assert report.ok
    assert report.rows == 4 + 1  # proposed, approved, applied, hold applied + hold placed
