"""The outbox operations the sync engine executes: kinds, payloads, idempotency keys, queueing.

Every Stripe write is one `outbox` row, queued in the same transaction as the change that needs
it. This module is the contract between whoever queues (ingest, corrections, close) and the
engine that sends (`billing_desk.sync`). It lives in the store so the services layer can queue
without importing the engine.

Kinds and payloads
- `push_line` (queued by ingest and corrections through `outbox_queue.queue_line_pushes`):
  payload `{}`; the row's `line_id`/`target_version` name the line. The engine creates, updates
  or (voided line) deletes the line's invoice item. Key `bd:<line>:<version>`.
- `create_customer`: payload `{}`; queued by the engine for a customer without a Stripe id.
- `create_invoice`: payload `{"period": "YYYY-MM"}`; queued by `close`.
- `finalize_invoice`: payload `{"period": "YYYY-MM"}`; queued by `close`, due at
  `next_attempt_at` (the end of the grace window).
- `credit_note`: payload `CreditNotePayload`; queued by corrections (`queue_credit_note`).
- `void_invoice`: payload `VoidInvoicePayload`; queued by corrections (`queue_void_invoice`).

Outcome (read it back with `operation_outcome`): the row's `state` becomes `done` (with
`stripe_object_id`: the credit note or invoice id) or `needs_attention` (with `last_error`,
Stripe's message); `pending`/`claimed` mean not settled yet (transient failures are retried).

Engine-only payload keys: `request` (the Stripe request as first sent, frozen so a retry sends
exactly the same parameters under the same key) and `blocked` (why a due finalization waits).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_desk.domain.errors import InvalidInput
from billing_desk.store.models import OutboxOperation

PUSH_LINE = "push_line"
CREATE_CUSTOMER = "create_customer"
CREATE_INVOICE = "create_invoice"
FINALIZE_INVOICE = "finalize_invoice"
CREDIT_NOTE = "credit_note"
VOID_INVOICE = "void_invoice"
KINDS = (PUSH_LINE, CREATE_CUSTOMER, CREATE_INVOICE, FINALIZE_INVOICE, CREDIT_NOTE, VOID_INVOICE)

# Outbox states.
PENDING = "pending"
CLAIMED = "claimed"
DONE = "done"
NEEDS_ATTENTION = "needs_attention"
SUPERSEDED = "superseded"


class CreditNotePayload(TypedDict):
    """A Stripe credit note on a finalized invoice.

    `amount` is in minor units (> 0). `credit_to` is `pre_payment` (reduces what the open
    invoice asks for) or `customer_balance` (after payment: credited to the customer's balance).
    `reason` is one of CONTRACT.md's reason codes; `memo` is shown on the credit note.
    """

    invoice: str
    amount: int
    reason: str
    memo: str
    correction_id: int
    credit_to: Literal["pre_payment", "customer_balance"]


class VoidInvoicePayload(TypedDict):
    """Void a finalized (open) invoice in Stripe."""

    invoice: str
    correction_id: int


def _key(*parts: object) -> str:
    """An idempotency key `bd:a:b…`, hashed if it would not fit Stripe's 255 characters."""
    key = ":".join(["bd", *(str(p) for p in parts)])
    if len(key) <= 255:
        return key
    return f"bd:{parts[0]}:{hashlib.sha256(key.encode()).hexdigest()}"


def push_line_key(line_id: int, version: int) -> str:
    return _key(line_id, version)


def customer_key(customer_id: str) -> str:
    return _key("customer", customer_id)


def invoice_key(customer_id: str, period: str) -> str:
    return _key("invoice", customer_id, period)


def finalize_key(customer_id: str, period: str) -> str:
    return _key("finalize", customer_id, period)


def credit_note_key(correction_id: int) -> str:
    return _key("credit", correction_id)


def void_invoice_key(correction_id: int) -> str:
    return _key("void", correction_id)


def queue_operation(
    session: Session,
    *,
    kind: str,
    customer_id: str,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    due_at: datetime | None = None,
) -> OutboxOperation:
    """Queue one operation unless its key is already queued; returns the (new or existing) row."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown outbox operation kind {kind!r}")
    existing = session.scalar(select(OutboxOperation).where(OutboxOperation.idempotency_key == key))
    if existing is not None:
        return existing
    row = OutboxOperation(
        kind=kind,
        customer_id=customer_id,
        idempotency_key=key,
        payload=payload,
        state=PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=due_at,
    )
    session.add(row)
    session.flush()
    return row


def queue_credit_note(
    session: Session, customer_id: str, payload: CreditNotePayload, now: datetime
) -> OutboxOperation:
    if payload["amount"] <= 0:
        raise InvalidInput("a credit note's amount must be positive")
    if payload["credit_to"] not in ("pre_payment", "customer_balance"):
        raise InvalidInput(
            f"credit_to must be pre_payment or customer_balance, not {payload['credit_to']!r}"
        )
    return queue_operation(
        session,
        kind=CREDIT_NOTE,
        customer_id=customer_id,
        key=credit_note_key(payload["correction_id"]),
        payload=dict(payload),
        now=now,
    )


def queue_void_invoice(
    session: Session, customer_id: str, payload: VoidInvoicePayload, now: datetime
) -> OutboxOperation:
    return queue_operation(
        session,
        kind=VOID_INVOICE,
        customer_id=customer_id,
        key=void_invoice_key(payload["correction_id"]),
        payload=dict(payload),
        now=now,
    )


@dataclass(frozen=True)
class Outcome:
    """Where an operation stands: `pending` (not settled yet), `done` or `needs_attention`."""

    state: str
    stripe_object_id: str | None
    error: str | None


def operation_outcome(session: Session, key: str) -> Outcome | None:
    """The outcome of the operation queued under `key` (e.g. `credit_note_key(correction)`)."""
    row = session.scalar(select(OutboxOperation).where(OutboxOperation.idempotency_key == key))
    if row is None:
        return None
    state = row.state if row.state in (DONE, NEEDS_ATTENTION) else PENDING
    object_id: str | None = getattr(row, "stripe_object_id", None)
    return Outcome(state, object_id, row.last_error)
