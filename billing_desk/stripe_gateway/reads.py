"""Reads for the pull engine: Stripe's objects with every field the cache keeps.

`StripeReads(gateway)` sends through the gateway's `_call` (rate limiter, retries, error
classification, call statistics), so a pull spends the same budget as a push. Objects come back
as the snapshots below, money in minor units, timestamps as aware UTC datetimes; an object Stripe
no longer has (a deleted draft or invoice item) is `None` rather than an error.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from billing_desk.stripe_gateway import mapping
from billing_desk.stripe_gateway.client import StripeGateway
from billing_desk.stripe_gateway.errors import PermanentStripeError
from billing_desk.stripe_gateway.types import StripeCustomer, StripeEvent

PAGE = 100
T = TypeVar("T")

# Events the cache follows. Stripe's `types` filter takes at most 20 exact names (no wildcards),
# so these are the ones that change what the cache keeps.
EVENT_TYPES: tuple[str, ...] = (
    "invoice.created",
    "invoice.updated",
    "invoice.finalized",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.deleted",
    "invoiceitem.created",
    "invoiceitem.deleted",
    "credit_note.created",
    "credit_note.updated",
    "credit_note.voided",
    "customer.created",
    "customer.updated",
    "customer.deleted",
)


@dataclass(frozen=True)
class InvoiceSnapshot:
    id: str
    stripe_customer: str
    # metadata.billing_desk_period, when Billing Desk created the invoice.
    period: str | None
    status: str
    currency: str
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    starting_balance: int
    ending_balance: int | None
    number: str | None
    hosted_invoice_url: str | None
    automatically_finalizes_at: datetime | None
    due_date: datetime | None
    finalized_at: datetime | None
    created: datetime
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceItemSnapshot:
    id: str
    stripe_customer: str
    invoice: str | None
    amount: int
    currency: str
    description: str | None
    quantity: Decimal | None
    unit_amount: Decimal | None
    created: datetime | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreditNoteSnapshot:
    id: str
    stripe_customer: str
    invoice: str
    number: str | None
    amount: int
    currency: str
    status: str
    type: str | None
    reason: str | None
    memo: str | None
    created: datetime
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventsPage:
    events: tuple[StripeEvent, ...]
    has_more: bool
    # Stripe's clock when it answered (the response's Date header), to judge the cursor's age.
    server_time: datetime | None


class StripeReads:
    def __init__(self, gateway: StripeGateway) -> None:
        self._gateway = gateway
        self._v1 = gateway._v1

    async def _call(self, endpoint: str, request: Callable[[], Awaitable[T]], what: str) -> T:
        return await self._gateway._call(endpoint, request, what)

    async def _missing_is_none(
        self, endpoint: str, request: Callable[[], Awaitable[Any]], what: str
    ) -> Any | None:
        try:
            obj = await self._call(endpoint, request, what)
        except PermanentStripeError as exc:
            if exc.http_status == 404:
                return None
            raise
        plain = _plain(obj)
        return None if plain.get("deleted") else plain

    async def _pages(
        self,
        endpoint: str,
        fetch: Callable[[Any], Awaitable[Any]],
        params: dict[str, Any],
    ) -> AsyncIterator[Any]:
        after: str | None = None
        while True:
            page_params = {**params, "limit": PAGE}
            if after is not None:
                page_params["starting_after"] = after
            page = await self._call(endpoint, functools.partial(fetch, page_params), endpoint)
            for obj in page.data:
                yield _plain(obj)
            if not page.has_more or not page.data:
                return
            after = str(page.data[-1]["id"])

    # Customers

    async def customer(self, customer_id: str) -> StripeCustomer:
        """The customer; a deleted one comes back with `deleted=True` (Stripe keeps a stub)."""
        try:
            obj = await self._call(
                "GET /v1/customers/{id}",
                lambda: self._v1.customers.retrieve_async(customer_id),
                customer_id,
            )
        except PermanentStripeError as exc:
            if exc.http_status == 404:
                return StripeCustomer(customer_id, None, None, 0, None, deleted=True)
            raise
        return mapping.customer(_plain(obj))

    async def customers(self) -> AsyncIterator[StripeCustomer]:
        async for obj in self._pages("GET /v1/customers", self._v1.customers.list_async, {}):
            yield mapping.customer(obj)

    # Invoices

    async def invoice(self, invoice_id: str) -> InvoiceSnapshot | None:
        obj = await self._missing_is_none(
            "GET /v1/invoices/{id}",
            lambda: self._v1.invoices.retrieve_async(invoice_id),
            invoice_id,
        )
        return None if obj is None else invoice_snapshot(obj)

    async def invoices(self, customer: str | None = None) -> AsyncIterator[InvoiceSnapshot]:
        params = {} if customer is None else {"customer": customer}
        async for obj in self._pages("GET /v1/invoices", self._v1.invoices.list_async, params):
            yield invoice_snapshot(obj)

    # Invoice items

    async def invoice_item(self, item_id: str) -> InvoiceItemSnapshot | None:
        obj = await self._missing_is_none(
            "GET /v1/invoiceitems/{id}",
            lambda: self._v1.invoice_items.retrieve_async(item_id),
            item_id,
        )
        return None if obj is None else invoice_item_snapshot(obj)

    async def invoice_items(
        self,
        *,
        customer: str | None = None,
        invoice: str | None = None,
        pending: bool | None = None,
    ) -> AsyncIterator[InvoiceItemSnapshot]:
        params: dict[str, Any] = {}
        if customer is not None:
            params["customer"] = customer
        if invoice is not None:
            params["invoice"] = invoice
        if pending is not None:
            params["pending"] = pending
        async for obj in self._pages(
            "GET /v1/invoiceitems", self._v1.invoice_items.list_async, params
        ):
            yield invoice_item_snapshot(obj)

    # Credit notes

    async def credit_note(self, credit_note_id: str) -> CreditNoteSnapshot | None:
        obj = await self._missing_is_none(
            "GET /v1/credit_notes/{id}",
            lambda: self._v1.credit_notes.retrieve_async(credit_note_id),
            credit_note_id,
        )
        return None if obj is None else credit_note_snapshot(obj)

    async def credit_notes(
        self, *, customer: str | None = None, invoice: str | None = None
    ) -> AsyncIterator[CreditNoteSnapshot]:
        params: dict[str, Any] = {}
        if customer is not None:
            params["customer"] = customer
        if invoice is not None:
            params["invoice"] = invoice
        async for obj in self._pages(
            "GET /v1/credit_notes", self._v1.credit_notes.list_async, params
        ):
            yield credit_note_snapshot(obj)

    # Events

    async def events(
        self, *, created_gte: int | None, starting_after: str | None = None, limit: int = PAGE
    ) -> EventsPage:
        """One page of the followed events, newest first (as Stripe lists them)."""
        params: Any = {"types": list(EVENT_TYPES), "limit": limit}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        if starting_after is not None:
            params["starting_after"] = starting_after
        page = await self._call(
            "GET /v1/events", lambda: self._v1.events.list_async(params), "events"
        )
        return EventsPage(
            tuple(mapping.event(_plain(e)) for e in page.data),
            bool(page.has_more),
            _server_time(page),
        )


def _server_time(obj: Any) -> datetime | None:
    response = getattr(obj, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    date = headers.get("Date") or headers.get("date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _plain(obj: Any) -> Any:
    """A StripeObject as plain dicts and lists (StripeObjects are not dicts)."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


def _metadata(obj: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (_plain(obj.get("metadata")) or {}).items()}


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id"))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def invoice_snapshot(obj: Any) -> InvoiceSnapshot:
    metadata = _metadata(obj)
    transitions = _plain(obj.get("status_transitions")) or {}
    return InvoiceSnapshot(
        id=str(obj["id"]),
        stripe_customer=_id(obj.get("customer")) or "",
        period=metadata.get("billing_desk_period"),
        status=str(obj.get("status") or "draft"),
        currency=str(obj["currency"]),
        subtotal=int(obj.get("subtotal") or 0),
        total=int(obj.get("total") or 0),
        amount_due=int(obj.get("amount_due") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        amount_remaining=int(obj.get("amount_remaining") or 0),
        starting_balance=int(obj.get("starting_balance") or 0),
        ending_balance=None if obj.get("ending_balance") is None else int(obj["ending_balance"]),
        number=obj.get("number"),
        hosted_invoice_url=obj.get("hosted_invoice_url"),
        automatically_finalizes_at=_time(obj.get("automatically_finalizes_at")),
        due_date=_time(obj.get("due_date")),
        finalized_at=_time(transitions.get("finalized_at")),
        created=_time(obj.get("created")) or datetime.fromtimestamp(0, UTC),
        metadata=metadata,
    )


def invoice_item_snapshot(obj: Any) -> InvoiceItemSnapshot:
    pricing = _plain(obj.get("pricing")) or {}
    quantity = _decimal(obj.get("quantity_decimal")) or _decimal(obj.get("quantity"))
    return InvoiceItemSnapshot(
        id=str(obj["id"]),
        stripe_customer=_id(obj.get("customer")) or "",
        invoice=_id(obj.get("invoice")),
        amount=int(obj["amount"]),
        currency=str(obj["currency"]),
        description=obj.get("description"),
        quantity=quantity,
        unit_amount=_decimal(pricing.get("unit_amount_decimal")),
        created=_time(obj.get("date")),
        metadata=_metadata(obj),
    )


def credit_note_snapshot(obj: Any) -> CreditNoteSnapshot:
    return CreditNoteSnapshot(
        id=str(obj["id"]),
        stripe_customer=_id(obj.get("customer")) or "",
        invoice=_id(obj.get("invoice")) or "",
        number=obj.get("number"),
        amount=int(obj["amount"]),
        currency=str(obj["currency"]),
        status=str(obj.get("status") or "issued"),
        type=obj.get("type"),
        reason=obj.get("reason"),
        memo=obj.get("memo"),
        created=_time(obj.get("created")) or datetime.fromtimestamp(0, UTC),
        metadata=_metadata(obj),
    )
