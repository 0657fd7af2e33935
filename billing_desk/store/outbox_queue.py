"""Queueing line pushes in the outbox, in the caller's transaction, one coalesced row per line.

Whoever changes a line (ingest, corrections, the sync engine) calls `queue_line_pushes` in the
same transaction as the change. Per line there is at most one push that has never been attempted
(the partial unique index `uq_outbox_pending_line`): while it waits, it follows the line's latest
version and idempotency key `bd:<line>:<version>`. Once attempted, its key is frozen (a retry must
send the same key) and a newer version queues a new row.

It works in bulk on the raw DBAPI connection (one `executemany`), because ingest queues up to
millions of pushes in one call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from billing_desk.store.models import Line
from billing_desk.store.sync_ops import PUSH_LINE, push_line_key
from billing_desk.store.types import utc_text


@dataclass(frozen=True, slots=True)
class LineChange:
    """A line that reached `version` (already written to `lines`) and must be pushed."""

    line_id: int
    customer_id: str
    version: int


_CONFLICT = """
ON CONFLICT (line_id) WHERE state = 'pending' AND attempts = 0
DO UPDATE SET target_version = excluded.target_version,
              idempotency_key = excluded.idempotency_key
WHERE outbox.target_version < excluded.target_version
"""
_COLUMNS = (
    "kind, customer_id, line_id, target_version, idempotency_key, payload, state, attempts, "
    "created_at"
)
_SQLITE_UPSERT = (
    f"INSERT INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, '{{}}', 'pending', 0, ?) {_CONFLICT}"
)
# One statement for the whole batch: PostgreSQL pays a round trip per executed statement.
_POSTGRES_UPSERT = (
    f"INSERT INTO outbox ({_COLUMNS}) "
    "SELECT %s, c.customer_id, c.line_id, c.version, c.key, '{}', 'pending', 0, %s::timestamptz "
    "FROM unnest(%s::text[], %s::int[], %s::int[], %s::text[]) "
    "AS c(customer_id, line_id, version, key)"
    f" {_CONFLICT}"
)


def dbapi_connection(session_or_conn: Session | Connection) -> tuple[Any, str]:
    """The raw DBAPI connection inside the caller's transaction, and the dialect's name."""
    conn = session_or_conn.connection() if isinstance(session_or_conn, Session) else session_or_conn
    return conn.connection.driver_connection, conn.dialect.name


def queue_line_pushes(
    session_or_conn: Session | Connection,
    changes: Iterable[LineChange],
    now: datetime | None = None,
) -> int:
    """Queue (or re-point) one `push_line` per changed line; returns how many lines.

    Several changes of one line collapse to its highest version. A change whose version is not
    newer than the waiting row's target leaves it alone, so repeating a call is harmless.
    """
    latest: dict[int, LineChange] = {}
    for change in changes:
        seen = latest.get(change.line_id)
        if seen is None or change.version > seen.version:
            latest[change.line_id] = change
    if not latest:
        return 0
    raw, dialect = dbapi_connection(session_or_conn)
    stamp = now or datetime.now(UTC)
    cursor = raw.cursor()
    try:
        if dialect == "sqlite":
            created = utc_text(stamp)
            cursor.executemany(
                _SQLITE_UPSERT,
                [
                    (PUSH_LINE, c.customer_id, c.line_id, c.version, _key(c), created)
                    for c in latest.values()
                ],
            )
        else:
            changed = list(latest.values())
            cursor.execute(
                _POSTGRES_UPSERT,
                (
                    PUSH_LINE,
                    stamp,
                    [c.customer_id for c in changed],
                    [c.line_id for c in changed],
                    [c.version for c in changed],
                    [_key(c) for c in changed],
                ),
            )
    finally:
        cursor.close()
    return len(latest)


def _key(change: LineChange) -> str:
    return push_line_key(change.line_id, change.version)


def repush_period_lines(session: Session, customer_id: str, period: str, now: datetime) -> int:
    """The period's invoice items are gone from Stripe (its draft was deleted, and its items with
    it): every line of the period is pushed again, as a new version, because Stripe would answer
    a spent key with the deleted item. Returns how many lines were queued."""
    lines = session.scalars(
        select(Line).where(Line.customer_id == customer_id, Line.period == period)
    ).all()
    changes: list[LineChange] = []
    for line in lines:
        line.stripe_invoice_item = None
        line.version += 1
        line.sync_state = "pending"
        line.dirty_since = line.dirty_since or now
        line.updated_at = now
        changes.append(LineChange(line.id, customer_id, line.version))
    session.flush()  # the queue works on the raw connection: it must see the new versions
    return queue_line_pushes(session, changes, now)
