"""The Stripe cache (pull side): Stripe's copy of customers, invoices, items and credit notes.

Every row is a snapshot of one Stripe object as last fetched, with `fetched_at` (our clock) so
the GUI can say how old it is. Rows are written only from objects fetched from Stripe, never
from an event's payload. `customer_id` is the local customer the object belongs to, when known.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing_desk.store.models.base import Base
from billing_desk.store.types import ExactDecimal, UTCDateTime


class StripeCustomerCache(Base):
    __tablename__ = "stripe_customers"
    __table_args__ = (Index("ix_stripe_customers_customer_id", "customer_id"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str | None] = mapped_column(String(3))
    # Minor units; negative is a credit the customer holds.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeInvoiceCache(Base):
    __tablename__ = "stripe_invoices"
    __table_args__ = (
        Index("ix_stripe_invoices_customer_period", "customer_id", "period"),
        Index("ix_stripe_invoices_stripe_customer", "stripe_customer"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    stripe_customer: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(String(255))
    # metadata.billing_desk_period; None for invoices Billing Desk did not create.
    period: Mapped[str | None] = mapped_column(String(7))
    # draft | open | paid | void | uncollectible (a deleted draft keeps its last status)
    status: Mapped[str] = mapped_column(String(24))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    starting_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    ending_balance: Mapped[int | None] = mapped_column(BigInteger)
    number: Mapped[str | None] = mapped_column(String(255))
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    automatically_finalizes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeInvoiceItemCache(Base):
    """An invoice item: on an invoice (`invoice` set) or pending for the customer's next one."""

    __tablename__ = "stripe_invoice_items"
    __table_args__ = (
        Index("ix_stripe_invoice_items_invoice", "invoice"),
        Index("ix_stripe_invoice_items_stripe_customer", "stripe_customer", "invoice"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    stripe_customer: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(String(255))
    invoice: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    unit_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    # metadata.billing_desk_line / _version of a single-line item (a roll-up names its lines in
    # `metadata`, see billing_desk.domain.reconcile.line_refs).
    line_id: Mapped[int | None] = mapped_column(BigInteger)
    line_version: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeCreditNoteCache(Base):
    __tablename__ = "stripe_credit_notes"
    __table_args__ = (
        Index("ix_stripe_credit_notes_invoice", "invoice"),
        Index("ix_stripe_credit_notes_customer_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    stripe_customer: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(String(255))
    invoice: Mapped[str] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # issued | void
    status: Mapped[str] = mapped_column(String(16))
    # pre_payment | post_payment | mixed
    type: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    memo: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeEventCursor(Base):
    """How far the Events API has been read (one row, `name` "events")."""

    __tablename__ = "stripe_event_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Stripe's clock: every event created before `position` has been applied; the next poll
    # lists from there (events at `position` itself again, de-duplicated by id).
    position: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str | None] = mapped_column(String(255))
    last_event_created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stripe's clock when everything was last listed afresh (a full reconciliation).
    full_reconcile_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeProcessedEvent(Base):
    """An event already applied: a second delivery of the same id changes nothing."""

    __tablename__ = "stripe_processed_events"
    __table_args__ = (Index("ix_stripe_processed_events_created", "created"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = [
    "StripeCreditNoteCache",
    "StripeCustomerCache",
    "StripeEventCursor",
    "StripeInvoiceCache",
    "StripeInvoiceItemCache",
    "StripeProcessedEvent",
]
