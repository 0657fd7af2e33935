"""The Stripe cache: pulled invoices, invoice lines, credit notes, customers; the events cursor.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_desk.store.types import ExactDecimal, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stripe_customers",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(500), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stripe_customers_customer_id", "stripe_customers", ["customer_id"])
    op.create_table(
        "stripe_invoices",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("stripe_customer", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("period", sa.String(7), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("amount_remaining", sa.BigInteger(), nullable=False),
        sa.Column("starting_balance", sa.BigInteger(), nullable=False),
        sa.Column("ending_balance", sa.BigInteger(), nullable=True),
        sa.Column("number", sa.String(255), nullable=True),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("automatically_finalizes_at", UTCDateTime(), nullable=True),
        sa.Column("due_date", UTCDateTime(), nullable=True),
        sa.Column("finalized_at", UTCDateTime(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_stripe_invoices_customer_period", "stripe_invoices", ["customer_id", "period"]
    )
    op.create_index("ix_stripe_invoices_stripe_customer", "stripe_invoices", ["stripe_customer"])
    op.create_table(
        "stripe_invoice_items",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("stripe_customer", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("invoice", sa.String(255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", ExactDecimal(), nullable=True),
        sa.Column("unit_amount", ExactDecimal(), nullable=True),
        sa.Column("line_id", sa.BigInteger(), nullable=True),
        sa.Column("line_version", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stripe_invoice_items_invoice", "stripe_invoice_items", ["invoice"])
    op.create_index(
        "ix_stripe_invoice_items_stripe_customer",
        "stripe_invoice_items",
        ["stripe_customer", "invoice"],
    )
    op.create_table(
        "stripe_credit_notes",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("stripe_customer", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("invoice", sa.String(255), nullable=False),
        sa.Column("number", sa.String(255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("type", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stripe_credit_notes_invoice", "stripe_credit_notes", ["invoice"])
    op.create_index("ix_stripe_credit_notes_customer_id", "stripe_credit_notes", ["customer_id"])
    op.create_table(
        "stripe_event_cursor",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", UTCDateTime(), nullable=True),
        sa.Column("last_event_id", sa.String(255), nullable=True),
        sa.Column("last_event_created", UTCDateTime(), nullable=True),
        sa.Column("full_reconcile_at", UTCDateTime(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "stripe_processed_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stripe_processed_events_created", "stripe_processed_events", ["created"])


def downgrade() -> None:
    op.drop_table("stripe_processed_events")
    op.drop_table("stripe_event_cursor")
    op.drop_table("stripe_credit_notes")
    op.drop_table("stripe_invoice_items")
    op.drop_table("stripe_invoices")
    op.drop_table("stripe_customers")
