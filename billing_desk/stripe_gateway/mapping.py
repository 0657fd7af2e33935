"""Stripe objects to the gateway's dataclasses. Only the fields the app uses are carried over."""

from __future__ import annotations

from typing import Any

from billing_desk.stripe_gateway.types import (
    StripeCreditNote,
    StripeCustomer,
    StripeEvent,
    StripeInvoice,
    StripeInvoiceItem,
    StripeInvoiceLine,
)


def _plain(obj: Any) -> Any:
    """A StripeObject (or anything nested in one) as plain dicts and lists."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return obj


def _metadata(obj: Any) -> dict[str, str]:
    raw = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in _plain(raw).items()}


def _id(value: Any) -> str | None:
    """An expandable field: a bare id, or the expanded object's id."""
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id"))


def customer(obj: Any) -> StripeCustomer:
    return StripeCustomer(
        id=str(obj["id"]),
        name=obj.get("name"),
        email=obj.get("email"),
        balance=int(obj.get("balance") or 0),
        currency=obj.get("currency"),
        deleted=bool(obj.get("deleted", False)),
        metadata=_metadata(obj),
    )


def invoice_item(obj: Any) -> StripeInvoiceItem:
    return StripeInvoiceItem(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        amount=int(obj["amount"]),
        currency=str(obj["currency"]),
        description=obj.get("description"),
        invoice=_id(obj.get("invoice")),
        metadata=_metadata(obj),
    )


def invoice_line(obj: Any) -> StripeInvoiceLine:
    parent = _plain(obj.get("parent")) or {}
    details = parent.get("invoice_item_details") or {}
    item = details.get("invoice_item") if parent.get("type") == "invoice_item_details" else None
    return StripeInvoiceLine(
        id=str(obj["id"]),
        amount=int(obj["amount"]),
        currency=str(obj["currency"]),
        description=obj.get("description"),
        invoice_item=_id(item),
        metadata=_metadata(obj),
    )


def invoice(
    obj: Any, lines: tuple[StripeInvoiceLine, ...] = (), complete: bool = False
) -> StripeInvoice:
    return StripeInvoice(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        status=str(obj.get("status") or "draft"),
        currency=str(obj["currency"]),
        total=int(obj.get("total") or 0),
        amount_due=int(obj.get("amount_due") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        created=int(obj.get("created") or 0),
        metadata=_metadata(obj),
        lines=lines,
        lines_complete=complete,
    )


def credit_note(obj: Any) -> StripeCreditNote:
    return StripeCreditNote(
        id=str(obj["id"]),
        invoice=_id(obj.get("invoice")) or "",
        customer=_id(obj.get("customer")) or "",
        amount=int(obj["amount"]),
        currency=str(obj["currency"]),
        status=str(obj.get("status") or "issued"),
        reason=obj.get("reason"),
        memo=obj.get("memo"),
        created=int(obj.get("created") or 0),
        metadata=_metadata(obj),
    )


def event(obj: Any) -> StripeEvent:
    data = _plain(obj.get("data")) or {}
    inner = data.get("object") or {}
    return StripeEvent(
        id=str(obj["id"]),
        type=str(obj["type"]),
        created=int(obj["created"]),
        object_type=str(inner.get("object", "")),
        object_id=str(inner.get("id", "")),
        data=inner,
    )
