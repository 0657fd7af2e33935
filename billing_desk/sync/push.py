"""`push_line`: make Stripe's invoice item for a line hold the line's current version.

The request is decided from the line at its first send (create, update, or delete for a voided
line; onto the period's draft invoice if there is one, else as a pending item) and frozen with
the operation, so every retry repeats it byte for byte under the same idempotency key.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_desk.store import stripe_cache_repo, sync_repo
from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.models.stripe_cache import StripeInvoiceItemCache
from billing_desk.store.sync_ops import CREATE_INVOICE, invoice_key
from billing_desk.store.sync_ops import SUPERSEDED as SUPERSEDED_STATE
from billing_desk.stripe_gateway import (
    PermanentStripeError,
    StripeFailure,
    StripeKeyRejected,
    TransientStripeError,
)
from billing_desk.stripe_gateway.types import StripeInvoiceItem
from billing_desk.sync import results, rollup
from billing_desk.sync.context import OpContext
from billing_desk.sync.faults import kill_point
from billing_desk.sync.item_cache import record_item
from billing_desk.sync.results import Result, Status


def describe(line: Line) -> str:
    """The item's description: a usage line's carries its exact quantity and unit price; a
    one-off or credit line's is the agent's own text (its quantity and price mean nothing)."""
    if line.kind != "usage":
        return line.description[:500]
    detail = f" ({_plain(line.quantity)} × {_plain(line.unit_amount)} {line.currency} minor units)"
    return line.description[: 500 - len(detail)] + detail


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text else "0"


def metadata(line: Line, version: int) -> dict[str, str]:
    return {
        "billing_desk_line": str(line.id),
        "billing_desk_version": str(version),
        "billing_desk_period": line.period,
    }


Plan = Result | dict[str, Any]


def plan_many(ctx: OpContext, ops: list[sync_repo.ClaimedOp]) -> dict[int, Plan]:
    """Each op's request (or why there is none to send), read in one transaction.

    Blocking: the engine runs it on a worker thread, with a customer's whole batch of lines.
    """
    with ctx.read() as uow:
        return {op.id: _plan(ctx, uow.session, op) for op in ops}


def _plan(ctx: OpContext, s: Session, op: sync_repo.ClaimedOp) -> Plan:
    """The request to send for `op`, or why there is none to send (now or ever)."""
    assert op.line_id is not None
    line = s.get(Line, op.line_id)
    customer = s.get(Customer, op.customer_id)
    assert line is not None
    assert customer is not None
    if line.synced_version is not None and line.synced_version >= (op.target_version or 0):
        return results.SUPERSEDED
    if customer.stripe_customer_id is None:
        return Result(Status.WAIT, "waits for the customer to be created in Stripe")
    invoice = sync_repo.period_invoice(s, op.customer_id, line.period)
    invoice_id = invoice.stripe_invoice_id if invoice is not None else None
    if invoice is not None and invoice.status not in ("creating", "draft"):
        return Result(
            Status.ATTENTION,
            f"the {line.period} invoice is already {invoice.status} in Stripe: "
            "change it with a credit note",
        )
    if invoice_id is None:
        if invoice is not None and _invoice_creation_started(s, op.customer_id, line.period):
            return Result(Status.WAIT, f"waits for the {line.period} invoice to be created")
        earlier = sync_repo.uninvoiced_earlier_periods(s, op.customer_id, line.period)
        if earlier:
            # Pending items go onto the next invoice made, whatever their period: wait.
            return Result(
                Status.WAIT,
                f"waits for the {min(earlier)} invoice to be created",
                at=ctx.now() + ctx.config.blocked_recheck,
            )
    group = rollup.group_in(s, op.customer_id, line.period, line.item)
    if group is not None:
        return {"action": "rollup", "period": line.period, "group": group}
    if line.stripe_invoice_item is None:
        if line.voided:
            return {"action": "none", "version": line.version}
        return {
            "action": "create",
            "version": line.version,
            "customer": customer.stripe_customer_id,
            "amount": line.amount,
            "currency": line.currency,
            "description": describe(line),
            "metadata": metadata(line, line.version),
            "invoice": invoice_id,
        }
    if line.voided:
        return {"action": "delete", "version": line.version, "item": line.stripe_invoice_item}
    return {
        "action": "update",
        "version": line.version,
        "item": line.stripe_invoice_item,
        "amount": line.amount,
        "description": describe(line),
        "metadata": metadata(line, line.version),
    }


def _invoice_creation_started(s: Session, customer_id: str, period: str) -> bool:
    row = s.scalar(
        select(OutboxOperation).where(
            OutboxOperation.idempotency_key == invoice_key(customer_id, period),
            OutboxOperation.kind == CREATE_INVOICE,
        )
    )
    return row is not None and row.state != SUPERSEDED_STATE and row.first_attempt_at is not None


async def _adopt(
    ctx: OpContext, op: sync_repo.ClaimedOp, request: dict[str, Any]
) -> StripeInvoiceItem | None:
    """Past Stripe's key window: the item this request made, if Stripe already has it."""
    version = str(request["version"])
    if request["action"] == "create":
        for item in await ctx.invoice_items_of(request["customer"]):
            if item.line_id == str(op.line_id) and item.version == version:
                return item
        return None
    if request["action"] == "update":
        try:
            item = await ctx.gateway.retrieve_invoice_item(request["item"])
        except PermanentStripeError:
            return None
        return item if item.version == version else None
    return None


async def run(ctx: OpContext, op: sync_repo.ClaimedOp, planned: Plan | None = None) -> Result:
    """Push one line change; `planned` is its plan if the caller read it already."""
    assert op.line_id is not None
    request = op.payload.get("request")
    if request is None:
        if planned is None:
            planned = (await asyncio.to_thread(plan_many, ctx, [op]))[op.id]
        if isinstance(planned, Result):
            return planned
        request = planned
    adopt = (
        op.first_attempt_at is not None and ctx.now() - op.first_attempt_at > ctx.config.adopt_after
    )
    frozen = request
    begun = await ctx.recorder.run(
        lambda s: sync_repo.begin_attempt(s, op, ctx.worker, ctx.now(), frozen)
    )
    if not begun:
        return results.LOST
    item: StripeInvoiceItem | None
    try:
        existing = await _adopt(ctx, op, request) if adopt else None
        if existing is not None:
            item = existing
        else:
            kill_point("before_send")
            item = await _send(ctx, op, request)
    except StripeKeyRejected:
        raise
    except TransientStripeError as exc:
        return Result(Status.RETRY, exc.message)
    except StripeFailure as exc:
        return Result(Status.ATTENTION, f"{exc.message} ({exc.stripe_object or exc.endpoint})")
    kill_point("after_stripe_response")
    line_id, version = op.line_id, int(request["version"])
    item_id = item.id if item is not None else None

    def settle(s: Session) -> bool:
        now = ctx.now()
        if not sync_repo.settle_done(s, op.id, ctx.worker, now, item_id):
            return False
        sync_repo.record_line_pushed(s, line_id, version, item_id, now)
        _cache(s, request, item, now)
        return True

    if not await ctx.recorder.run(settle):
        return results.LOST
    kill_point("after_commit")
    return results.ADOPTED if existing is not None else results.DONE


def _cache(
    s: Session, request: dict[str, Any], item: StripeInvoiceItem | None, now: datetime
) -> None:
    """Stripe's answer into the cache (`item_cache`): the line's item, or its deletion."""
    if item is not None:
        record_item(s, item, now)
    elif request["action"] == "delete":
        stripe_cache_repo.mark_deleted(s, StripeInvoiceItemCache, [request["item"]], now)


async def _send(
    ctx: OpContext, op: sync_repo.ClaimedOp, request: dict[str, Any]
) -> StripeInvoiceItem | None:
    gw = ctx.gateway
    action = request["action"]
    if action == "create":
        return await gw.create_invoice_item(
            customer=request["customer"],
            amount=int(request["amount"]),
            currency=request["currency"],
            description=request["description"],
            metadata=request["metadata"],
            invoice=request["invoice"],
            key=op.key,
        )
    if action == "update":
        return await gw.update_invoice_item(
            request["item"],
            amount=int(request["amount"]),
            description=request["description"],
            metadata=request["metadata"],
            key=op.key,
        )
    if action == "delete":
        try:
            await gw.delete_invoice_item(request["item"], op.key)
        except PermanentStripeError as exc:
            if exc.code != "resource_missing":  # already gone is what we wanted
                raise
        return None
    return None  # "none": a voided line that never reached Stripe
