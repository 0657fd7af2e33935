"""Corrections use cases: preview, propose, approve, reject, undo, apply approved, settle outcomes.

Each takes a write `UnitOfWork` and commits once: the correction's status change, what applying
it does (lines, outbox, holds) and the audit rows go in one transaction or not at all.

Applying never touches increments or a line's `compiled_amount`: it sets the billed `amount`
(and `voided`), bumps the line's `version` and queues its push; credits and one-offs before
finalization are new lines; after finalization credits and voids are outbox operations the sync
engine sends to Stripe (`settle_outcomes` reads what Stripe said back).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from billing_desk.domain.corrections import (
    AWAITING_DECISION,
    InvoiceView,
    Kind,
    LineView,
    Plan,
    Proposal,
    Reason,
    Refused,
    Status,
    binding_hash,
    plan,
    transition,
)
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.policy import Role, approval_needed, check_may_decide, require_staff
from billing_desk.services.staff import acting_role
from billing_desk.store import corrections_repo as repo
from billing_desk.store import sync_ops
from billing_desk.store.audit_repo import append_audit
from billing_desk.store.models import Line
from billing_desk.store.models.corrections import Correction, Hold
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork


def _now() -> datetime:
    return datetime.now(UTC)


def subject(correction_id: int) -> str:
    return f"correction:{correction_id}"


@dataclass(frozen=True)
class Preview:
    """What a proposal would do now: its plan (effect and impact) and whether it waits."""

    plan: Plan
    invoice: InvoiceView
    role: Role
    approval_needed: str | None

    def to_json(self) -> dict[str, Any]:
        impact = self.plan.impact
        return {
            "kind": self.plan.proposal.kind.value,
            "currency": self.invoice.currency,
            "invoice_status": self.invoice.status.value,
            "total_before": impact.total_before,
            "total_after": impact.total_after,
            "change": impact.change,
            "line_amount_before": impact.line_amount_before,
            "line_amount_after": impact.line_amount_after,
            "needs_approval": self.approval_needed,
        }


def _proposal_of(c: Correction) -> Proposal:
    return Proposal(
        kind=Kind(c.kind),
        customer_id=c.customer_id,
        period=c.period,
        reason=Reason(c.reason),
        note=c.note,
        line_id=c.line_id,
        amount=c.amount,
        quantity=c.quantity,
        description=c.description,
        reverts=c.reverts_id,
    )


def _plan_now(
    uow: UnitOfWork, p: Proposal, *, lock: bool = True
) -> tuple[Plan, InvoiceView, LineView | None]:
    """The proposal checked against the store as it is in this transaction (its line locked
    until the transaction ends, unless only previewing)."""
    session = uow.session
    invoice = repo.invoice_view(session, p.customer_id, p.period)
    original = repo.applied_view(session, p.reverts)
    if p.kind is Kind.UNDO and original is not None:
        line_id = original.created_line_id or original.line_id
    else:
        line_id = p.line_id
    line = repo.line_view(session, line_id, lock=lock)
    return plan(p, invoice, line, original), invoice, line


def preview_correction(uow: UnitOfWork, actor: str, proposal: Proposal) -> Preview:
    """The local effect of `proposal` if it were made now, without writing anything."""
    role = require_staff(actor, acting_role(uow, actor))
    result, invoice, _line = _plan_now(uow, proposal, lock=False)
    why = approval_needed(
        kind=proposal.kind,
        actor=actor,
        role=role,
        magnitude=result.impact.magnitude,
        code=invoice.currency,
        settings=load_settings(uow.session),
        hold_placed_by=invoice.held_by,
    )
    return Preview(result, invoice, role, why)


@dataclass(frozen=True)
class Decision:
    """Where a correction stands after a use case: its id, status, and why (in plain words)."""

    id: int
    status: Status
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status.value}
        if self.reason:
            out["reason"] = self.reason
        return out


def status_of(uow: UnitOfWork, correction_id: int) -> Decision:
    c = repo.get(uow.session, correction_id)
    return Decision(c.id, Status(c.status), c.status_reason)


def _snapshot(c: Correction) -> dict[str, Any]:
    return {
        "status": c.status,
        "kind": c.kind,
        "customer": c.customer_id,
        "period": c.period,
        "line": c.line_id,
        "reverts": c.reverts_id,
        "amount": c.amount,
        "quantity": None if c.quantity is None else format(c.quantity, "f"),
        "description": c.description,
        "reason": c.reason,
        "note": c.note,
        "currency": c.currency,
        "impact": c.impact,
        "total_before": c.total_before,
        "total_after": c.total_after,
    }


def _refuse_duplicate(uow: UnitOfWork, target_key: str) -> None:
    other = repo.open_on_target(uow.session, target_key)
    if other is not None:
        raise Refused(
            f"correction {other.id} ({other.kind}, {other.status}) is already open on this "
            "target: it must be decided on first"
        )


def _new_line(uow: UnitOfWork, result: Plan, invoice: InvoiceView, now: datetime) -> int:
    """A credit or one-off line, created before the correction that records it."""
    assert result.new_line is not None
    new = result.new_line
    line = Line(
        customer_id=invoice.customer_id,
        period=invoice.period,
        kind=new.kind,
        # Unique per correction: two equal credits are two lines.
        item=f"{new.kind}:{uuid.uuid4().hex[:16]}",
        description=new.description,
        unit_amount=Decimal(new.amount),
        currency=invoice.currency,
        quantity=Decimal(1),
        increment_count=0,
        compiled_amount=new.amount,
        amount=new.amount,
        voided=False,
        version=1,
        sync_state="pending",
        dirty_since=now,
        updated_at=now,
    )
    uow.session.add(line)
    uow.session.flush()
    return line.id


def _effect(
    uow: UnitOfWork, result: Plan, invoice: InvoiceView, line: LineView | None, now: datetime
) -> dict[str, Any]:
    """What applying records on the correction; creates the new line, if any."""
    effect: dict[str, Any] = {}
    if result.line_change is not None:
        assert line is not None
        effect.update(
            line_amount_before=line.amount,
            line_amount_after=result.line_change.amount,
            compiled_at_apply=line.compiled_amount,
        )
    if result.new_line is not None:
        effect.update(
            created_line_id=_new_line(uow, result, invoice, now),
            line_amount_after=result.new_line.amount,
        )
    return effect


def _carry_out(
    uow: UnitOfWork,
    c: Correction,
    result: Plan,
    invoice: InvoiceView,
    actor: str,
    now: datetime,
) -> None:
    """Everything applying does besides the correction's own row (already `applied`)."""
    session = uow.session
    pushes: list[LineChange] = []
    if result.line_change is not None:
        change = result.line_change
        line = session.get(Line, change.line_id)
        assert line is not None
        line.amount, line.voided = change.amount, change.voided
        line.version += 1
        line.sync_state = "pending"
        line.dirty_since = line.dirty_since or now
        line.updated_at = now
        pushes.append(LineChange(line.id, line.customer_id, line.version))
    if c.created_line_id is not None:
        pushes.append(LineChange(c.created_line_id, c.customer_id, 1))
    if pushes:
        session.flush()
        queue_line_pushes(session, pushes, now)
    if result.stripe is not None:
        _queue_stripe(uow, c, result, invoice, now)
    if result.hold == "place":
        session.add(
            Hold(
                customer_id=c.customer_id,
                period=c.period,
                correction_id=c.id,
                placed_by=c.requested_by,
                placed_at=now,
            )
        )
        append_audit(
            session,
            actor,
            "hold.placed",
            f"hold:{c.customer_id}:{c.period}",
            None,
            {"by": c.requested_by, "correction": c.id},
            c.note,
        )
    elif result.hold == "release":
        hold = repo.active_hold(session, c.customer_id, c.period)
        assert hold is not None
        hold.release_correction_id, hold.released_by, hold.released_at = c.id, actor, now
        append_audit(
            session,
            actor,
            "hold.released",
            f"hold:{c.customer_id}:{c.period}",
            {"by": hold.placed_by},
            {"released_by": actor, "correction": c.id},
            c.note,
        )
    session.flush()
    if c.kind == Kind.UNDO.value and c.reverts_id is not None:
        original = repo.get(session, c.reverts_id)
        repo.transition(
            session,
            original,
            Status.REVERTED,
            reason=f"undone by correction {c.id}",
            actor=actor,
            now=now,
        )
        append_audit(
            session,
            actor,
            "correction.reverted",
            subject(original.id),
            {"status": Status.APPLIED.value},
            {"status": Status.REVERTED.value, "undo": c.id},
            c.note,
        )


def _queue_stripe(
    uow: UnitOfWork, c: Correction, result: Plan, invoice: InvoiceView, now: datetime
) -> None:
    assert result.stripe is not None
    if invoice.stripe_invoice_id is None:
        raise Refused(f"the invoice for {c.customer_id} {c.period} has no Stripe id yet")
    if result.stripe.kind == "credit_note":
        assert result.stripe.credit_to is not None
        memo = f"Credit: {c.reason}" + (f" — {c.note}" if c.note else "")
        sync_ops.queue_credit_note(
            uow.session,
            c.customer_id,
            {
                "invoice": invoice.stripe_invoice_id,
                "amount": result.stripe.amount,
                "reason": c.reason,
                "memo": memo[:500],
                "correction_id": c.id,
                "credit_to": result.stripe.credit_to,
            },
            now,
        )
    else:
        sync_ops.queue_void_invoice(
            uow.session,
            c.customer_id,
            {"invoice": invoice.stripe_invoice_id, "correction_id": c.id},
            now,
        )


def propose(uow: UnitOfWork, actor: str, proposal: Proposal) -> Decision:
    """Record the proposal; apply it at once if policy allows, else queue it for a lead."""
    session = uow.session
    role = require_staff(actor, acting_role(uow, actor))
    result, invoice, line = _plan_now(uow, proposal)
    _refuse_duplicate(uow, result.target_key)
    why = approval_needed(
        kind=proposal.kind,
        actor=actor,
        role=role,
        magnitude=result.impact.magnitude,
        code=invoice.currency,
        settings=load_settings(session),
        hold_placed_by=invoice.held_by,
    )
    now = _now()
    status = Status.APPLIED if why is None else Status.PENDING_APPROVAL
    effect = _effect(uow, result, invoice, line, now) if status is Status.APPLIED else {}
    c = Correction(
        customer_id=proposal.customer_id,
        period=proposal.period,
        kind=proposal.kind.value,
        line_id=proposal.line_id,
        reverts_id=proposal.reverts,
        target_key=result.target_key,
        amount=proposal.amount,
        quantity=proposal.quantity,
        description=proposal.description,
        reason=proposal.reason.value,
        note=proposal.note,
        currency=invoice.currency,
        invoice_status=invoice.status.value,
        line_version=result.line_version,
        impact=result.impact.change,
        total_before=result.impact.total_before,
        total_after=result.impact.total_after,
        requested_by=actor,
        requested_at=now,
        status=status.value,
        status_reason=why,
        status_at=now,
        status_by=actor,
        **effect,
    )
    if status is Status.APPLIED:
        c.applied_at, c.applied_by = now, actor
    session.add(c)
    try:
        session.flush()
    except IntegrityError:
        raise Refused(
            "another correction was just proposed on the same target: it must be decided on first"
        ) from None
    action = "correction.applied" if status is Status.APPLIED else "correction.proposed"
    append_audit(session, actor, action, subject(c.id), None, _snapshot(c), why)
    if status is Status.APPLIED:
        _carry_out(uow, c, result, invoice, actor, now)
    uow.commit()
    return Decision(c.id, status, why)


def undo(
    uow: UnitOfWork, actor: str, correction_id: int, reason: Reason, note: str | None = None
) -> Decision:
    """Propose reverting an applied correction: itself a correction under the same rules."""
    original = repo.get(uow.session, correction_id)
    return propose(
        uow,
        actor,
        Proposal(
            Kind.UNDO, original.customer_id, original.period, reason, note, reverts=correction_id
        ),
    )


def _decidable(uow: UnitOfWork, actor: str, correction_id: int) -> Correction:
    c = repo.get(uow.session, correction_id)
    check_may_decide(actor, acting_role(uow, actor), c.requested_by)
    if Status(c.status) not in AWAITING_DECISION:
        raise Refused(f"correction {c.id} is {c.status}: there is nothing to decide")
    return c


def approve(
    uow: UnitOfWork,
    actor: str,
    correction_id: int,
    note: str | None = None,
    *,
    seen_line_version: int | None = None,
) -> Decision:
    """A lead's approval, bound to the correction's content and its line as they are now (or as
    the lead saw it: `seen_line_version`). Applying is a separate step (`apply_approved`)."""
    session = uow.session
    c = _decidable(uow, actor, correction_id)
    transition(c.id, Status(c.status), Status.APPROVED)
    proposal = _proposal_of(c)
    try:
        result, invoice, _line = _plan_now(uow, proposal)
    except InvalidInput as exc:
        raise Refused(f"correction {c.id} can no longer be applied ({exc}): reject it") from None
    if seen_line_version is not None and result.line_version != seen_line_version:
        raise Refused(
            f"line {proposal.line_id or ''} changed since you reviewed it (version "
            f"{seen_line_version} → {result.line_version}): review the correction again"
        )
    binding = binding_hash(proposal.content(), result.line_version, invoice.status.finalized)
    before = c.status
    now = _now()
    repo.decide(
        session,
        c,
        approve=True,
        binding=binding,
        line_version=result.line_version,
        note=note,
        actor=actor,
        now=now,
    )
    append_audit(
        session,
        actor,
        "correction.approved",
        subject(c.id),
        {"status": before},
        {"status": c.status, "binding": binding, "line_version": result.line_version},
        note,
    )
    uow.commit()
    return Decision(c.id, Status(c.status))


def reject(uow: UnitOfWork, actor: str, correction_id: int, note: str) -> Decision:
    if not note or not note.strip():
        raise InvalidInput("reject needs --note saying why")
    session = uow.session
    c = _decidable(uow, actor, correction_id)
    before = c.status
    repo.decide(
        session,
        c,
        approve=False,
        binding="",
        line_version=None,
        note=note,
        actor=actor,
        now=_now(),
    )
    append_audit(
        session,
        actor,
        "correction.rejected",
        subject(c.id),
        {"status": before},
        {"status": c.status},
        note,
    )
    uow.commit()
    return Decision(c.id, Status(c.status), note)


def _apply_one(uow: UnitOfWork, actor: str, c: Correction) -> Decision:
    session = uow.session
    now = _now()
    approval = repo.active_approval(session, c.id)
    proposal = _proposal_of(c)
    try:
        result, invoice, line = _plan_now(uow, proposal)
    except InvalidInput as exc:
        reason = f"it can no longer be applied: {exc}"
        repo.transition(session, c, Status.FAILED, reason=reason, actor=actor, now=now)
        append_audit(
            session,
            actor,
            "correction.failed",
            subject(c.id),
            {"status": "approved"},
            {"status": c.status},
            reason,
        )
        return Decision(c.id, Status.FAILED, reason)
    bound = binding_hash(proposal.content(), result.line_version, invoice.status.finalized)
    if approval is None or approval.binding_hash != bound:
        if approval is not None and approval.line_version != result.line_version:
            reason = (
                f"line {line.id if line else ''} changed after approval (version "
                f"{approval.line_version} → {result.line_version}); back in the queue"
            )
        else:
            reason = "what was approved changed before it was applied; back in the queue"
        repo.transition(session, c, Status.LAPSED, reason=reason, actor=actor, now=now)
        append_audit(
            session,
            actor,
            "correction.lapsed",
            subject(c.id),
            {"status": "approved"},
            {"status": c.status},
            reason,
        )
        return Decision(c.id, Status.LAPSED, reason)
    effect = _effect(uow, result, invoice, line, now)
    repo.transition(session, c, Status.APPLIED, reason=None, actor=actor, now=now, effect=effect)
    append_audit(
        session,
        actor,
        "correction.applied",
        subject(c.id),
        {"status": "approved"},
        {"status": c.status, **effect},
    )
    _carry_out(uow, c, result, invoice, actor, now)
    return Decision(c.id, Status.APPLIED)


def apply_approved(
    uow: UnitOfWork, actor: str, *, correction_id: int | None = None, customer_id: str | None = None
) -> list[Decision]:
    """Apply approved corrections whose approval still holds; lapse the others (back to the
    queue with the reason). The sync engine calls this before each pass; `approve` callers may
    call it at once."""
    session = uow.session
    ids = [correction_id] if correction_id is not None else repo.approved_ids(session, customer_id)
    decisions = []
    for cid in ids:
        c = repo.lock(session, cid)
        if c.status == Status.APPROVED.value:
            decisions.append(_apply_one(uow, actor, c))
    uow.commit()
    return decisions


def settle_outcomes(uow: UnitOfWork, actor: str) -> list[Decision]:
    """Credit notes and voids Stripe refused for good: the correction `failed`, with Stripe's
    message. (Done ones stay `applied`; their Stripe id is on the outbox row.)"""
    session = uow.session
    decisions = []
    for c, error in repo.refused_by_stripe(session):
        reason = f"Stripe refused it: {error or 'no message'}"
        repo.transition(session, c, Status.FAILED, reason=reason, actor=actor, now=_now())
        append_audit(
            session,
            actor,
            "correction.failed",
            subject(c.id),
            {"status": "applied"},
            {"status": c.status},
            reason,
        )
        decisions.append(Decision(c.id, Status.FAILED, reason))
    uow.commit()
    return decisions
