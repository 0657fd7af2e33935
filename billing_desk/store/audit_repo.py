"""Appending to and reading the hash-chained audit trail.

`append_audit` is what every feature calls, inside the transaction that makes the change it
records. Appends are serialized so the chain never forks: on PostgreSQL by a transaction-scoped
advisory lock, on SQLite by the write lock an IMMEDIATE transaction (`UnitOfWork(write=True)`)
takes when it begins. The database backs this up: `seq` and `prev_hash` are unique and a
trigger refuses a row that does not extend the chain head.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from billing_desk.domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainedRow,
    canonical_json,
    row_hash,
)
from billing_desk.store.engine import WRITE
from billing_desk.store.models.corrections import AuditRow

# pg_advisory_xact_lock key of the audit chain ("bdaudit" as a number; any constant would do).
AUDIT_LOCK_KEY = 0x62646175646974


def _lock_chain(session: Session) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif not connection.get_execution_options().get(WRITE, False):
        # A deferred SQLite transaction that has read cannot always upgrade to a write lock.
        raise RuntimeError("append_audit needs a write unit of work (UnitOfWork(write=True))")


def _json_text(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def append_audit(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> AuditRow:
    """Record one change in the same transaction as the change: who, what, before/after, why.

    `before` and `after` are JSON-able values (dicts of the changed fields, typically); money in
    them is integer minor units or Decimal, never float. `action` is a dotted verb such as
    `correction.approved`; `subject` names the thing, such as `correction:12`.
    """
    _lock_chain(session)
    head = session.execute(
        select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS_HASH)
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor=actor,
        action=action,
        subject=subject,
        before=_json_text(before),
        after=_json_text(after),
        reason=reason,
    )
    row = AuditRow(
        seq=seq,
        at=entry.at,
        actor=actor,
        action=action,
        subject=subject,
        before=entry.before,
        after=entry.after,
        reason=reason,
        prev_hash=prev_hash,
        hash=row_hash(seq, entry, prev_hash),
    )
    session.add(row)
    session.flush()
    return row


def _chained(r: Any) -> ChainedRow:
    entry = AuditEntry(r.at, r.actor, r.action, r.subject, r.before, r.after, r.reason)
    return ChainedRow(r.seq, entry, r.prev_hash, r.hash)


_COLUMNS = (
    AuditRow.id,
    AuditRow.seq,
    AuditRow.at,
    AuditRow.actor,
    AuditRow.action,
    AuditRow.subject,
    AuditRow.before,
    AuditRow.after,
    AuditRow.reason,
    AuditRow.prev_hash,
    AuditRow.hash,
)


def iter_chain(
    session: Session, *, since: datetime | None = None, batch: int = 5000
) -> Iterator[ChainedRow]:
    """Every row in storage order (by id, so a row moved in the table shows up out of order),
    read in keyset batches of plain tuples so a million rows never sit in memory at once."""
    last_id = 0
    while True:
        query = select(*_COLUMNS).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        rows = session.execute(query).all()
        if not rows:
            return
        yield from (_chained(r) for r in rows)
        last_id = rows[-1].id


@dataclass(frozen=True)
class AuditPage:
    rows: list[ChainedRow]
    # Pass as `before_seq` for the next (older) page; None on the last page.
    next_before_seq: int | None


def page(
    session: Session,
    *,
    limit: int = 50,
    before_seq: int | None = None,
    subject: str | None = None,
) -> AuditPage:
    """Newest first, by keyset on `seq` (an index walk, however deep the trail is)."""
    query = select(*_COLUMNS).order_by(AuditRow.seq.desc()).limit(limit + 1)
    if before_seq is not None:
        query = query.where(AuditRow.seq < before_seq)
    if subject is not None:
        query = query.where(AuditRow.subject == subject)
    rows = [_chained(r) for r in session.execute(query).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].seq if more and rows else None)
