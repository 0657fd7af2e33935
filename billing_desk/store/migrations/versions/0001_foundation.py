"""Foundation: customers, ingest batches, compiled lines, increments, settings, the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_desk.store.types import ExactDecimal, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_customers_stripe_customer_id")),
    )
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(255), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item", sa.String(128), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("unit_amount", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("increment_count", sa.Integer(), nullable=False),
        sa.Column("compiled_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("synced_version", sa.Integer(), nullable=True),
        sa.Column("sync_state", sa.String(24), nullable=False),
        sa.Column("stripe_invoice_item", sa.String(255), nullable=True),
        sa.Column("dirty_since", UTCDateTime(), nullable=True),
        sa.Column("first_usage_at", UTCDateTime(), nullable=True),
        sa.Column("last_usage_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_batch_id", sa.Integer(), sa.ForeignKey("ingest_batches.id"), nullable=True),
        sa.UniqueConstraint(
            "customer_id",
            "period",
            "item",
            "unit_amount",
            "currency",
            "kind",
            name=op.f("uq_lines_customer_id"),
        ),
    )
    op.create_index("ix_lines_dirty_since", "lines", ["dirty_since"])
    op.create_table(
        "increments",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("item", sa.String(128), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("unit_amount", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        # No foreign key: see the Increment model.
        sa.Column("batch_id", sa.Integer(), nullable=False),
        # One B-tree keyed by event_id (see the Increment model).
        sqlite_with_rowid=False,
    )
    op.create_index("ix_increments_customer_id", "increments", ["customer_id"])
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(255), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("line_id", sa.Integer(), sa.ForeignKey("lines.id"), nullable=True),
        sa.Column("target_version", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("first_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_customer_state", "outbox", ["customer_id", "state"])
    pending_only = sa.text("state = 'pending' AND attempts = 0")
    op.create_index(
        "uq_outbox_pending_line",
        "outbox",
        ["line_id"],
        unique=True,
        sqlite_where=pending_only,
        postgresql_where=pending_only,
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("settings")
    op.drop_index("ix_increments_customer_id", table_name="increments")
    op.drop_table("increments")
    op.drop_table("lines")
    op.drop_table("ingest_batches")
    op.drop_table("customers")
