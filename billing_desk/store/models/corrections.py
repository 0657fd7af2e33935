"""Corrections, approvals, holds, the hash-chained audit trail and staff.

Migration 0004 adds what the ORM cannot say: triggers that keep the audit trail append-only and
a correction's content immutable, and on PostgreSQL the group roles, grants and the functions
through which every status change goes (see `billing_desk.store.pg_roles`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from billing_desk.store.models.base import Base
from billing_desk.store.types import ExactDecimal, UTCDateTime

# Statuses in which a correction still occupies its target (see domain.corrections.OPEN).
OPEN_STATUS_SQL = "status IN ('pending_approval', 'approved', 'lapsed')"
AWAITING_STATUS_SQL = "status IN ('pending_approval', 'lapsed')"

# SQLite's INTEGER PRIMARY KEY is its rowid; PostgreSQL gets a 64-bit identity.
AuditId = BigInteger().with_variant(Integer(), "sqlite")


class Staff(Base):
    """Who may do what. On PostgreSQL the database roles decide; this is their register."""

    __tablename__ = "staff"

    login: Mapped[str] = mapped_column(String(255), primary_key=True)
    # agent | lead | admin
    role: Mapped[str] = mapped_column(String(16))
    added_by: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Correction(Base):
    """One proposed change to a customer's period. Its content never changes after proposal;
    only its status (and what applying it did) does, through the state machine."""

    __tablename__ = "corrections"
    __table_args__ = (
        # A target (a line, or an invoice for invoice-wide kinds) has one open correction at a time.
        Index(
            "uq_corrections_open_target",
            "target_key",
            unique=True,
            sqlite_where=text(OPEN_STATUS_SQL),
            postgresql_where=text(OPEN_STATUS_SQL),
        ),
        # The approvals queue: only what awaits a lead, with what its join and sort need.
        Index(
            "ix_corrections_awaiting",
            "customer_id",
            "period",
            "id",
            sqlite_where=text(AWAITING_STATUS_SQL),
            postgresql_where=text(AWAITING_STATUS_SQL),
        ),
        Index("ix_corrections_customer_period", "customer_id", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(16))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"))
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("corrections.id"))
    target_key: Mapped[str] = mapped_column(String(255))
    # Minor units; None where the kind takes no amount.
    amount: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    description: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    # What the proposer saw: the invoice's status, the target line's version, the impact.
    invoice_status: Mapped[str] = mapped_column(String(24))
    line_version: Mapped[int | None] = mapped_column(Integer)
    impact: Mapped[int] = mapped_column(BigInteger)
    total_before: Mapped[int] = mapped_column(BigInteger)
    total_after: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending_approval | approved | applied | rejected | lapsed | failed | reverted
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_by: Mapped[str] = mapped_column(String(255))
    # What applying did, so an undo can restore it and a reviewer can see it.
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_by: Mapped[str | None] = mapped_column(String(255))
    line_amount_before: Mapped[int | None] = mapped_column(BigInteger)
    line_amount_after: Mapped[int | None] = mapped_column(BigInteger)
    compiled_at_apply: Mapped[int | None] = mapped_column(BigInteger)
    created_line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"))


class Approval(Base):
    """A lead's approval, bound to what it approved by `binding_hash` (content + line version)."""

    __tablename__ = "approvals"
    __table_args__ = (
        # Two leads approving at once leave exactly one active approval.
        Index(
            "uq_approvals_active",
            "correction_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    correction_id: Mapped[int] = mapped_column(ForeignKey("corrections.id"))
    approver: Mapped[str] = mapped_column(String(255))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    binding_hash: Mapped[str] = mapped_column(String(64))
    line_version: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    # active | lapsed
    state: Mapped[str] = mapped_column(String(16))
    lapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lapse_reason: Mapped[str | None] = mapped_column(Text)


class Hold(Base):
    """Finalization held for a customer's period, until released."""

    __tablename__ = "holds"
    __table_args__ = (
        Index(
            "uq_holds_active",
            "customer_id",
            "period",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    period: Mapped[str] = mapped_column(String(7))
    correction_id: Mapped[int] = mapped_column(ForeignKey("corrections.id"))
    placed_by: Mapped[str] = mapped_column(String(255))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    release_correction_id: Mapped[int | None] = mapped_column(ForeignKey("corrections.id"))
    released_by: Mapped[str | None] = mapped_column(String(255))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRow(Base):
    """One row of the append-only, hash-chained audit trail (see domain.audit)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject_seq", "subject", "seq"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    # 1, 2, 3…: unique, so a chain can never fork even if a writer skipped the append lock.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))
