"""Tables of the sync engine (push side): invoices per period, worker state and budget shares,
API statistics.

The outbox itself lives with the ledger (`OutboxOperation`); migration 0003 adds the column
`outbox.stripe_object_id` (the Stripe id an operation produced: an invoice item, a credit note,
an invoice), which is mapped onto that class below.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing_desk.store.models.base import Base
from billing_desk.store.models.ledger import OutboxOperation
from billing_desk.store.types import UTCDateTime


class PeriodInvoice(Base):
    """A customer's Stripe invoice for one billing period.

    Created by `close` (status `creating` until Stripe answers, then `draft`), finalized by the
    worker once `due_at` has passed and nothing blocks it (`open`), and kept current afterwards
    by the pull engine from Stripe's events (`paid`, `void`, `uncollectible`). `blocked_reason`
    says, in plain words, why a due draft is still a draft; None when nothing blocks it.
    """

    __tablename__ = "period_invoices"
    __table_args__ = (
        UniqueConstraint("customer_id", "period"),
        Index("ix_period_invoices_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    period: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # creating | draft | open | paid | void | uncollectible
    status: Mapped[str] = mapped_column(String(24), default="creating")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Minor units, as Stripe reported it at creation, finalization or the last pull.
    total: Mapped[int | None] = mapped_column(BigInteger)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SyncWorker(Base):
    """One running sync engine (a desktop or a headless service), seen by every other.

    The row is the worker's heartbeat (`expires_at` in the future = alive): the GUI's sync panel
    shows its state, and operations leased to a worker that is no longer alive are retried. The
    request budget is split through `SyncRateLease`, not through these rows.
    """

    __tablename__ = "sync_workers"

    worker_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # running | backing_off | idle | stopped
    status: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outbox_depth: Mapped[int] = mapped_column(Integer, default=0)
    needs_attention: Mapped[int] = mapped_column(Integer, default=0)
    calls_per_s: Mapped[float] = mapped_column(Float, default=0.0)
    last_pass_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncRateLease(Base):
    """A worker's share of the Stripe account's request budget (see `store/rate_lease_repo.py`).

    Granted only in a serialized transaction, so at every instant the store's clock shows, the
    shares counted here sum to at most the budget. A share counts until `share_until` (the
    worker stops sending a window and a margin before that, by its own clock); a rate a worker
    gave up counts on as `held` until `held_until`, a window after it stopped using it.
    """

    __tablename__ = "sync_rate_leases"

    worker_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Requests per second the worker may start (whole requests, unless the budget is below one).
    share: Mapped[float] = mapped_column(Float)
    share_until: Mapped[datetime] = mapped_column(UTCDateTime)
    held: Mapped[float] = mapped_column(Float, default=0.0)
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncApiCalls(Base):
    """Stripe requests per endpoint per hour (UTC), summed over every worker."""

    __tablename__ = "sync_api_calls"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    rate_limited: Mapped[int] = mapped_column(Integer, default=0)


class SyncError(Base):
    """A Stripe error a worker met: transient ones (retried) and those that need a person."""

    __tablename__ = "sync_errors"
    __table_args__ = (Index("ix_sync_errors_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    worker_id: Mapped[str] = mapped_column(String(255))
    # transient | permanent | auth
    severity: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[str | None] = mapped_column(String(255))


# Migration 0003's column on the ledger's outbox, mapped here so the ledger module stays its
# owner's; the outcome of an operation (e.g. the credit note a correction asked for) is read
# from it. Guarded so that declaring it in the ledger model later is harmless.
if "stripe_object_id" not in OutboxOperation.__table__.c:
    setattr(OutboxOperation, "stripe_object_id", mapped_column(String(255), nullable=True))  # noqa: B010
