"""The customer- and invoice-level operations: create the Stripe customer, create the period's
draft invoice, finalize it when due and nothing blocks it, credit notes and voids.

Each one records its first attempt before sending, sends under the operation's idempotency key,
and, past Stripe's 24-hour key window, first looks for what an earlier attempt may have made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.orm import Session

from billing_desk.domain.reconcile import LocalLine, StripeLine, reconcile
from billing_desk.services import finalization_gate
from billing_desk.store import sync_repo
from billing_desk.store.models import Customer
from billing_desk.store.sync_ops import CreditNotePayload, VoidInvoicePayload
from billing_desk.stripe_gateway import (
    PermanentStripeError,
    StripeFailure,
    StripeKeyRejected,
    TransientStripeError,
)
from billing_desk.stripe_gateway.types import StripeInvoice
from billing_desk.sync import results
from billing_desk.sync.context import OpContext
from billing_desk.sync.faults import kill_point
from billing_desk.sync.results import Result, Status

FINAL = ("open", "paid", "void", "uncollectible")
# CONTRACT.md's reason codes that have a Stripe credit note reason of their own.
STRIPE_REASONS = {"duplicate-charge": "duplicate", "customer-dispute": "product_unsatisfactory"}


def _past_key_window(ctx: OpContext, op: sync_repo.ClaimedOp) -> bool:
    return (
        op.first_attempt_at is not None and ctx.now() - op.first_attempt_at > ctx.config.adopt_after
    )


async def _attempt(
    ctx: OpContext,
    op: sync_repo.ClaimedOp,
    send: Callable[[], Awaitable[str]],
    adopt: Callable[[], Awaitable[str | None]] | None,
    record: Callable[[Session, str, datetime], None],
) -> Result:
    """Record the attempt, adopt or send, then settle the operation with `record` in one commit."""
    begun = await ctx.recorder.run(
        lambda s: sync_repo.begin_attempt(s, op, ctx.worker, ctx.now(), None)
    )
    if not begun:
        return results.LOST
    try:
        found = await adopt() if adopt is not None and _past_key_window(ctx, op) else None
        if found is None:
            kill_point("before_send")
            object_id = await send()
        else:
            object_id = found
    except StripeKeyRejected:
        raise
    except TransientStripeError as exc:
        return Result(Status.RETRY, exc.message)
    except StripeFailure as exc:
        return Result(Status.ATTENTION, f"{exc.message} ({exc.stripe_object or exc.endpoint})")
    kill_point("after_stripe_response")

    def settle(s: Session) -> bool:
        now = ctx.now()
        if not sync_repo.settle_done(s, op.id, ctx.worker, now, object_id):
            return False
        record(s, object_id, now)
        return True

    if not await ctx.recorder.run(settle):
        return results.LOST
    kill_point("after_commit")
    return results.ADOPTED if found is not None else results.DONE


def _customer(ctx: OpContext, customer_id: str) -> tuple[str, str, str, str | None]:
    with ctx.read() as uow:
        customer = uow.session.get(Customer, customer_id)
        assert customer is not None
        return customer.id, customer.name, customer.email, customer.stripe_customer_id


async def create_customer(ctx: OpContext, op: sync_repo.ClaimedOp) -> Result:
    local_id, name, email, existing = await asyncio.to_thread(_customer, ctx, op.customer_id)
    if existing is not None:
        return results.SUPERSEDED

    async def send() -> str:
        made = await ctx.gateway.create_customer(local_id, name, email, op.key)
        return made.id

    async def adopt() -> str | None:
        for found in await ctx.gateway.find_customers_by_email(email):
            if not found.deleted and found.metadata.get("billing_desk_customer") == local_id:
                return found.id
        return None

    def record(session: Session, stripe_id: str, now: datetime) -> None:
        row = session.get(Customer, local_id)
        assert row is not None
        row.stripe_customer_id, row.updated_at = stripe_id, now

    return await _attempt(ctx, op, send, adopt, record)


def _creation_plan(
    ctx: OpContext, op: sync_repo.ClaimedOp, period: str
) -> Result | tuple[str, str]:
    with ctx.read() as uow:
        s = uow.session
        customer = s.get(Customer, op.customer_id)
        invoice = sync_repo.period_invoice(s, op.customer_id, period)
        assert customer is not None
        assert invoice is not None
        if invoice.stripe_invoice_id is not None:
            return results.SUPERSEDED
        if customer.stripe_customer_id is None:
            return Result(Status.WAIT, "waits for the customer to be created in Stripe")
        waiting = sync_repo.unsettled_pushes(s, op.customer_id, period)
        if waiting:
            return Result(Status.WAIT, f"waits for {waiting} line pushes of {period}")
        return customer.stripe_customer_id, invoice.currency


async def create_invoice(ctx: OpContext, op: sync_repo.ClaimedOp) -> Result:
    period = str(op.payload["period"])
    plan = await asyncio.to_thread(_creation_plan, ctx, op, period)
    if isinstance(plan, Result):
        return plan
    stripe_customer, currency = plan
    made: list[StripeInvoice] = []

    async def send() -> str:
        created = await ctx.gateway.create_invoice(
            customer=stripe_customer,
            currency=currency,
            metadata={"billing_desk_period": period, "billing_desk_customer": op.customer_id},
            key=op.key,
        )
        made.append(created)
        return created.id

    async def adopt() -> str | None:
        for found in await ctx.gateway.list_invoices(stripe_customer):
            if found.metadata.get("billing_desk_period") == period and found.status != "void":
                made.append(found)
                return found.id
        return None

    def record(session: Session, invoice_id: str, now: datetime) -> None:
        status = made[-1].status if made else "draft"
        total = made[-1].total if made else None
        sync_repo.update_period_invoice(
            session,
            op.customer_id,
            period,
            now,
            stripe_invoice_id=invoice_id,
            status=status,
            total=total,
        )

    return await _attempt(ctx, op, send, adopt, record)


def _drift(ctx: OpContext, customer_id: str, period: str, invoice: StripeInvoice) -> list[str]:
    """Where Stripe's invoice and the local lines disagree, in plain words; empty when equal."""
    with ctx.read() as uow:
        local = [
            LocalLine(
                id=line.id,
                item=line.item,
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=line.amount,
                version=line.version,
                synced_version=line.synced_version,
                voided=line.voided,
                stripe_invoice_item=line.stripe_invoice_item,
            )
            for line in sync_repo.period_lines(uow.session, customer_id, period)
        ]
    stripe = [
        StripeLine.from_metadata(
            line.invoice_item or line.id, line.amount, line.description or "", line.metadata
        )
        for line in invoice.lines
    ]
    recon = reconcile(local, stripe)
    if recon.in_sync:
        return []
    reasons = []
    for row in recon.rows:
        if row.status.value == "in_sync":
            continue
        what = (
            f"line {row.lines[0].id}"
            if row.lines
            else f"Stripe item {row.stripe.id if row.stripe else '?'}"
        )
        reasons.append(f"{what}: {row.status.value.replace('_', ' ')}")
    return [f"Stripe differs from the ledger ({'; '.join(reasons[:5])})"]


def _finalize_plan(
    ctx: OpContext, op: sync_repo.ClaimedOp, period: str
) -> Result | tuple[str, list[str]]:
    with ctx.read() as uow:
        s = uow.session
        invoice = sync_repo.period_invoice(s, op.customer_id, period)
        assert invoice is not None
        if invoice.status in FINAL:
            return results.SUPERSEDED
        if invoice.stripe_invoice_id is None:
            return Result(Status.WAIT, f"waits for the {period} invoice to be created")
        if invoice.due_at > ctx.now():
            return Result(Status.NOT_DUE, at=invoice.due_at)
        if sync_repo.unsettled_pushes(s, op.customer_id, period):
            return Result(Status.WAIT, "waits for line pushes")
        return invoice.stripe_invoice_id, list(
            finalization_gate.blockers(s, op.customer_id, period)
        )


async def finalize_invoice(ctx: OpContext, op: sync_repo.ClaimedOp) -> Result:
    period = str(op.payload["period"])
    plan = await asyncio.to_thread(_finalize_plan, ctx, op, period)
    if isinstance(plan, Result):
        return plan
    invoice_id, blockers = plan
    try:
        fresh = await ctx.gateway.retrieve_invoice(invoice_id)
    except StripeKeyRejected:
        raise
    except TransientStripeError as exc:
        return Result(Status.RETRY, exc.message)
    except StripeFailure as exc:
        return Result(Status.ATTENTION, f"{exc.message} ({exc.stripe_object or exc.endpoint})")
    if fresh.status in FINAL:
        await _record_invoice(ctx, op.customer_id, period, fresh)
        return results.SUPERSEDED
    blockers += await asyncio.to_thread(_drift, ctx, op.customer_id, period, fresh)
    if blockers:
        return Result(Status.BLOCKED, "; ".join(blockers))

    async def send() -> str:
        try:
            done = await ctx.gateway.finalize_invoice(invoice_id, op.key)
        except PermanentStripeError:
            # Finalized meanwhile (by a retry whose answer was lost, or in the Dashboard)?
            done = await ctx.gateway.retrieve_invoice(invoice_id, with_lines=False)
            if done.status not in FINAL:
                raise
        finalized.append(done)
        return done.id

    finalized: list[StripeInvoice] = []

    def record(session: Session, _invoice_id: str, now: datetime) -> None:
        done = finalized[-1]
        sync_repo.update_period_invoice(
            session,
            op.customer_id,
            period,
            now,
            status=done.status,
            total=done.total,
            finalized_at=now,
            blocked_reason=None,
        )

    return await _attempt(ctx, op, send, None, record)


async def _record_invoice(
    ctx: OpContext, customer_id: str, period: str, invoice: StripeInvoice
) -> None:
    await ctx.recorder.run(
        lambda s: sync_repo.update_period_invoice(
            s,
            customer_id,
            period,
            ctx.now(),
            status=invoice.status,
            total=invoice.total,
            blocked_reason=None,
        )
    )


async def credit_note(ctx: OpContext, op: sync_repo.ClaimedOp) -> Result:
    payload: CreditNotePayload = op.payload  # type: ignore[assignment]
    correction = str(payload["correction_id"])

    async def send() -> str:
        note = await ctx.gateway.create_credit_note(
            invoice=payload["invoice"],
            amount=int(payload["amount"]),
            to_balance=payload["credit_to"] == "customer_balance",
            memo=payload["memo"],
            reason=STRIPE_REASONS.get(payload["reason"]),
            metadata={
                "billing_desk_correction": correction,
                "billing_desk_reason": payload["reason"],
            },
            key=op.key,
        )
        return note.id

    async def adopt() -> str | None:
        for note in await ctx.gateway.list_credit_notes(invoice=payload["invoice"]):
            if note.metadata.get("billing_desk_correction") == correction:
                return note.id
        return None

    def record(_session: Session, _note_id: str, _now: datetime) -> None:
        """The outcome is the outbox row itself (state, stripe_object_id): see sync_ops."""

    return await _attempt(ctx, op, send, adopt, record)


async def void_invoice(ctx: OpContext, op: sync_repo.ClaimedOp) -> Result:
    payload: VoidInvoicePayload = op.payload  # type: ignore[assignment]
    invoice_id = payload["invoice"]
    voided: list[StripeInvoice] = []

    async def send() -> str:
        try:
            done = await ctx.gateway.void_invoice(invoice_id, op.key)
        except PermanentStripeError:
            done = await ctx.gateway.retrieve_invoice(invoice_id, with_lines=False)
            if done.status != "void":
                raise
        voided.append(done)
        return done.id

    def record(session: Session, _invoice_id: str, now: datetime) -> None:
        sync_repo.mark_invoice_status(session, invoice_id, voided[-1].status, now)

    return await _attempt(ctx, op, send, None, record)
