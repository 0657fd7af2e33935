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
    """A StripeObject (nested ones included) as plain dicts and lists; anything else as is."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return obj


def _metadata(obj: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}


def _id(value: Any) -> str | None:
    """An expandable field: a bare id, or the expanded object's id."""
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id"))


def customer(raw: Any) -> StripeCustomer:
    obj = _plain(raw)
    return StripeCustomer(
        id=str(obj["id"]),
        name=obj.get("name"),
        email=obj.get("email"),
        balance=int(obj.get("balance") or 0),
        currency=obj.get("currency"),
        deleted=bool(obj.get("deleted", False)),
        metadata=_metadata(obj),
    )


def invoice_item(raw: Any) -> StripeInvoiceItem:
    obj = _plain(raw)
    return StripeInvoiceItem(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        amount=int(obj["amount"]),
        currency=str(obj["currency"]),
        description=obj.get("description"),
        invoice=_id(obj.get("invoice")),
        metadata=_metadata(obj),
    )


def invoice_line(raw: Any) -> StripeInvoiceLine:
    obj = _plain(raw)
    parent = obj.get("parent") or {}
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


def embedded_lines(raw: Any) -> tuple[StripeInvoiceLine, ...] | None:
    """The lines an invoice object carries, if that is all of them (Stripe embeds the first
    page only); None when there are more to fetch."""
    lines = _plain(raw).get("lines") or {}
    if lines.get("has_more", True) or "data" not in lines:
        return None
    return tuple(invoice_line(line) for line in lines["data"])


def invoice(
    raw: Any, lines: tuple[StripeInvoiceLine, ...] = (), complete: bool = False
) -> StripeInvoice:
    obj = _plain(raw)
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


def credit_note(raw: Any) -> StripeCreditNote:
    obj = _plain(raw)
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


def event(raw: Any) -> StripeEvent:
    obj = _plain(raw)
    data = obj.get("data") or {}
    inner = data.get("object") or {}
    return StripeEvent(
        id=str(obj["id"]),
        type=str(obj["type"]),
        created=int(obj["created"]),
        object_type=str(inner.get("object", "")),
        object_id=str(inner.get("id", "")),
        data=inner,
    )
