"""Corrections, approvals, holds, the hash-chained audit trail, staff and database roles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_desk.store import pg_roles
from billing_desk.store.types import ExactDecimal, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN_STATUS = sa.text("status IN ('pending_approval', 'approved', 'lapsed')")

# SQLite guards; PostgreSQL gets the same rules (and more) from pg_roles.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE refused'); END""",
    f"""CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
       WHEN NEW.seq <> COALESCE((SELECT max(seq) FROM audit_log), 0) + 1
         OR NEW.prev_hash <> COALESCE(
              (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '{"0" * 64}')
       BEGIN SELECT RAISE(ABORT, 'audit row does not extend the chain head'); END""",
    f"""CREATE TRIGGER corrections_content_immutable BEFORE UPDATE OF
         {", ".join(pg_roles.CORRECTION_CONTENT)} ON corrections
       BEGIN SELECT RAISE(ABORT, 'a correction''s content cannot change after proposal'); END""",
)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("login", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("added_by", sa.String(255), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('agent', 'lead', 'admin')", name="role"),
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(255), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("line_id", sa.Integer(), sa.ForeignKey("lines.id"), nullable=True),
        sa.Column("reverts_id", sa.Integer(), sa.ForeignKey("corrections.id"), nullable=True),
        sa.Column("target_key", sa.String(255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("quantity", ExactDecimal(), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("invoice_status", sa.String(24), nullable=False),
        sa.Column("line_version", sa.Integer(), nullable=True),
        sa.Column("impact", sa.BigInteger(), nullable=False),
        sa.Column("total_before", sa.BigInteger(), nullable=False),
        sa.Column("total_after", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.Column("status_by", sa.String(255), nullable=False),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.Column("applied_by", sa.String(255), nullable=True),
        sa.Column("line_amount_before", sa.BigInteger(), nullable=True),
        sa.Column("line_amount_after", sa.BigInteger(), nullable=True),
        sa.Column("compiled_at_apply", sa.BigInteger(), nullable=True),
        sa.Column("created_line_id", sa.Integer(), sa.ForeignKey("lines.id"), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'approved', 'applied', 'rejected', 'lapsed', "
            "'failed', 'reverted')",
            name="status",
        ),
    )
    op.create_index(
        "uq_corrections_open_target",
        "corrections",
        ["target_key"],
        unique=True,
        sqlite_where=OPEN_STATUS,
        postgresql_where=OPEN_STATUS,
    )
    awaiting = sa.text("status IN ('pending_approval', 'lapsed')")
    op.create_index(
        "ix_corrections_awaiting",
        "corrections",
        ["customer_id", "period", "id"],
        sqlite_where=awaiting,
        postgresql_where=awaiting,
    )

    op.create_index("ix_corrections_customer_period", "corrections", ["customer_id", "period"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("correction_id", sa.Integer(), sa.ForeignKey("corrections.id"), nullable=False),
        sa.Column("approver", sa.String(255), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("line_version", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lapsed_at", UTCDateTime(), nullable=True),
        sa.Column("lapse_reason", sa.Text(), nullable=True),
    )
    active = sa.text("state = 'active'")
    op.create_index(
        "uq_approvals_active",
        "approvals",
        ["correction_id"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(255), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("correction_id", sa.Integer(), sa.ForeignKey("corrections.id"), nullable=False),
        sa.Column("placed_by", sa.String(255), nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column(
            "release_correction_id", sa.Integer(), sa.ForeignKey("corrections.id"), nullable=True
        ),
        sa.Column("released_by", sa.String(255), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
    )
    unreleased = sa.text("released_at IS NULL")
    op.create_index(
        "uq_holds_active",
        "holds",
        ["customer_id", "period"],
        unique=True,
        sqlite_where=unreleased,
        postgresql_where=unreleased,
    )
    audit_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_log",
        sa.Column("id", audit_id, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_log_seq")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
    )
    op.create_index("ix_audit_log_subject_seq", "audit_log", ["subject", "seq"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    if op.get_bind().dialect.name == "postgresql":
        pg_roles.install(op.get_bind())
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        pg_roles.uninstall(op.get_bind())
    for table in ("audit_log", "holds", "approvals", "corrections", "staff"):
        op.drop_table(table)
