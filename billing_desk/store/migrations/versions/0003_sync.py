"""The sync engine: outbox leases, invoices per period, API call statistics, worker state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_desk.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "period_invoices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(255), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("finalized_at", UTCDateTime(), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("customer_id", "period", name=op.f("uq_period_invoices_customer_id")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_period_invoices_stripe_invoice_id")),
    )
    op.create_index("ix_period_invoices_status_due", "period_invoices", ["status", "due_at"])
    op.create_table(
        "sync_workers",
        sa.Column("worker_id", sa.String(255), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("sends_from", UTCDateTime(), nullable=False),
        sa.Column("outbox_depth", sa.Integer(), nullable=False),
        sa.Column("needs_attention", sa.Integer(), nullable=False),
        sa.Column("calls_per_s", sa.Float(), nullable=False),
        sa.Column("last_pass_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "sync_api_calls",
        sa.Column("hour", UTCDateTime(), primary_key=True),
        sa.Column("endpoint", sa.String(64), primary_key=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
    )
    op.create_table(
        "sync_errors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("worker_id", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.String(255), nullable=True),
    )
    op.create_index("ix_sync_errors_at", "sync_errors", ["at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("stripe_object_id", sa.String(255), nullable=True))
    # Claims look for due rows by kind and lease; outcomes are looked up by the Stripe id.
    op.create_index("ix_outbox_lease", "outbox", ["state", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_lease", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("stripe_object_id")
    op.drop_index("ix_sync_errors_at", table_name="sync_errors")
    op.drop_table("sync_errors")
    op.drop_table("sync_api_calls")
    op.drop_table("sync_workers")
    op.drop_index("ix_period_invoices_status_due", table_name="period_invoices")
    op.drop_table("period_invoices")
