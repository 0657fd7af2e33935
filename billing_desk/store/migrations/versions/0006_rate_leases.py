"""Budget shares by lease: `sync_rate_leases`; the heartbeat row's `sends_from` goes.

Workers used to split the Stripe budget by counting live heartbeat rows (a newcomer waited
until `sends_from`); they now hold leases granted in a serialized transaction.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_desk.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_rate_leases",
        sa.Column("worker_id", sa.String(255), primary_key=True),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("share_until", UTCDateTime(), nullable=False),
        sa.Column("held", sa.Float(), nullable=False),
        sa.Column("held_until", UTCDateTime(), nullable=True),
    )
    with op.batch_alter_table("sync_workers") as batch:
        batch.drop_column("sends_from")


def downgrade() -> None:
    with op.batch_alter_table("sync_workers") as batch:
        # Any time will do: the older app only compares it with now when a worker starts.
        batch.add_column(
            sa.Column(
                "sends_from",
                UTCDateTime(),
                nullable=False,
                server_default="1970-01-01T00:00:00.000000Z",
            )
        )
    op.drop_table("sync_rate_leases")
