"""What the app sees of Stripe's objects: small frozen dataclasses, money in minor units.

Nothing outside the gateway ever holds a `stripe` type; the conversions live in `mapping.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StripeCustomer:
    id: str
    name: str | None
    email: str | None
    balance: int
    currency: str | None
    deleted: bool
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StripeInvoiceItem:
    id: str
    customer: str
    amount: int
    currency: str
    description: str | None
    invoice: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def line_id(self) -> str | None:
        return self.metadata.get("billing_desk_line")

    @property
    def version(self) -> str | None:
        return self.metadata.get("billing_desk_version")


@dataclass(frozen=True)
class StripeInvoiceLine:
    id: str
    amount: int
    currency: str
    description: str | None
    # The invoice item the line shows, when it comes from one.
    invoice_item: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StripeInvoice:
    id: str
    customer: str
    # draft | open | paid | void | uncollectible
    status: str
    currency: str
    total: int
    amount_due: int
    amount_paid: int
    created: int
    metadata: dict[str, str] = field(default_factory=dict)
    # Every line (all pages) when fetched with lines; empty otherwise.
    lines: tuple[StripeInvoiceLine, ...] = ()
    lines_complete: bool = False


@dataclass(frozen=True)
class StripeCreditNote:
    id: str
    invoice: str
    customer: str
    amount: int
    currency: str
    status: str
    reason: str | None
    memo: str | None
    created: int
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: int
    # The object as the event carried it (plain JSON); the pull engine re-fetches it anyway.
    object_type: str
    object_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    events: tuple[StripeEvent, ...]
    has_more: bool
