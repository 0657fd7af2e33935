"""Customers, the immutable usage increments, ingest batches and the compiled lines."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing_desk.store.models.base import Base
from billing_desk.store.types import ExactDecimal, UTCDateTime


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Stripe's customer balance in minor units (negative = credit), as last pulled.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Free-form markers later features set (e.g. "deleted_in_stripe", "vip").
    flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IngestBatch(Base):
    """One committed `ingest` call: who ran it, when, on which files, with what outcome."""

    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class Line(Base):
    """A compiled line: (customer, period, item, unit_amount, currency), kept current on ingest.

    `version` grows with every change (new usage, an applied correction); the sync engine pushes
    a line when `version` is ahead of `synced_version`, with an idempotency key naming both.
    """

    __tablename__ = "lines"
    __table_args__ = (
        # The line's identity; its (customer_id, period) prefix also serves "a customer's lines".
        UniqueConstraint("customer_id", "period", "item", "unit_amount", "currency", "kind"),
        Index("ix_lines_dirty_since", "dirty_since"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    period: Mapped[str] = mapped_column(String(7))
    # "usage" lines come from increments; corrections add "one-off" and "credit" lines.
    kind: Mapped[str] = mapped_column(String(16), default="usage")
    item: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(500))
    unit_amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    increment_count: Mapped[int] = mapped_column(Integer, default=0)
    # Minor units: what the increments compile to, and what is billed after corrections.
    compiled_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    synced_version: Mapped[int | None] = mapped_column(Integer)
    # pending | synced | needs_attention
    sync_state: Mapped[str] = mapped_column(String(24), default="pending")
    stripe_invoice_item: Mapped[str | None] = mapped_column(String(255))
    # When the oldest change not yet in Stripe happened (interval push policy); None if synced.
    dirty_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_usage_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_usage_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The ingest call that last added usage: a line's version grows once per call, however many
    # of the call's increments it gathers.
    last_batch_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_batches.id"))


class Increment(Base):
    """One usage event as the platform sent it. Immutable: corrections never edit increments.

    Keyed by the producer's `event_id` (idempotency). Everything the desk shows comes from the
    compiled lines; the one other index serves a line's drill-down (a customer's increments,
    then filtered by item, price and time). Each index costs every ingested row a B-tree
    insert, so there are no more, and this one is on the customer alone: adding the timestamp
    made ingest a quarter slower for a drill-down that reads one customer's rows either way.
    On SQLite it is a WITHOUT ROWID table: the `event_id` key is the table's own B-tree.
    """

    __tablename__ = "increments"
    __table_args__ = (
        Index("ix_increments_customer_id", "customer_id"),
        {"sqlite_with_rowid": False},
    )

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255))
    item: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    unit_amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The ingest call that brought it (ingest_batches.id). Deliberately no foreign key: a per-row
    # check halves PostgreSQL's load rate, and only ingest writes here, after creating its batch.
    batch_id: Mapped[int] = mapped_column(Integer)


class Setting(Base):
    """Team-wide settings (sync interval, grace, limits), shared by every desk on the store."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(255))


class OutboxOperation(Base):
    """One Stripe write to make, queued in the same transaction as the change that needs it.

    A pending push for a line is coalesced: while it has never been attempted it follows the
    line's latest version (and key). Once attempted, its idempotency key is frozen, and a newer
    change queues a new row.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_customer_state", "customer_id", "state"),
        # At most one not-yet-attempted push per line: the upsert target for coalescing.
        Index(
            "uq_outbox_pending_line",
            "line_id",
            unique=True,
            sqlite_where=text("state = 'pending' AND attempts = 0"),
            postgresql_where=text("state = 'pending' AND attempts = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"))
    target_version: Mapped[int | None] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending | claimed | done | needs_attention | superseded
    state: Mapped[str] = mapped_column(String(24), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
