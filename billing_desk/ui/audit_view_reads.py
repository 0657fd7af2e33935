"""The audit view's filtered pages: by customer, person, kind and date, newest first.

The audit service pages by subject only (yet), so these reads filter here; they read the same
table the same way (keyset on `seq`, newest first) and write nothing. A customer's rows are
those whose subject names it (its holds, its corrections) or whose recorded JSON does
(`"customer":"ID"`, as every correction snapshot carries it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, String, literal, or_, select
from sqlalchemy.sql import ColumnElement

from billing_desk.domain.audit import AuditEntry, ChainedRow, canonical_json
from billing_desk.store.audit_repo import AuditPage
from billing_desk.store.models.corrections import AuditRow, Correction
from billing_desk.store.uow import UnitOfWork

PAGE_SIZE = 100

# Kinds of audit rows, by the first word of their action ("correction.approved").
FAMILIES = {
    "correction": "Corrections",
    "hold": "Holds",
    "staff": "Staff",
    "setting": "Settings",
    "ingest": "Ingest",
    "sync": "Sync failures",
}


@dataclass(frozen=True)
class AuditFilter:
    """Empty fields match everything; `until` is exclusive."""

    customer: str = ""
    actor: str = ""
    family: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @property
    def empty(self) -> bool:
        return self == AuditFilter()


def _like_literal(text: str) -> str:
    """`text` with LIKE's wildcards escaped (customer ids often hold underscores)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _customer_clause(customer: str) -> ColumnElement[bool]:
    escaped = _like_literal(customer)
    in_json = f"%{_like_literal(canonical_json({'customer': customer})[1:-1])}%"
    corrections = select(literal("correction:", String) + Correction.id.cast(String)).where(
        Correction.customer_id == customer
    )
    return or_(
        AuditRow.subject.like(f"hold:{escaped}:%", escape="\\"),
        AuditRow.subject == f"customer:{customer}",
        AuditRow.subject.in_(corrections),
        AuditRow.after.like(in_json, escape="\\"),
        AuditRow.before.like(in_json, escape="\\"),
    )


def _conditions(flt: AuditFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.customer:
        where.append(_customer_clause(flt.customer))
    if flt.actor:
        where.append(AuditRow.actor == flt.actor)
    if flt.family:
        where.append(AuditRow.action.like(f"{_like_literal(flt.family)}.%", escape="\\"))
    if flt.since is not None:
        where.append(AuditRow.at >= flt.since)
    if flt.until is not None:
        where.append(AuditRow.at < flt.until)
    return where


def read_page(
    engine: Engine, flt: AuditFilter, *, limit: int = PAGE_SIZE, before_seq: int | None = None
) -> AuditPage:
    """One page of matching rows, newest first; pass `next_before_seq` for the next one."""
    query = (
        select(
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
        .where(*_conditions(flt))
        .order_by(AuditRow.seq.desc())
        .limit(limit + 1)
    )
    if before_seq is not None:
        query = query.where(AuditRow.seq < before_seq)
    with UnitOfWork(engine) as uow:
        found = uow.session.execute(query).all()
    rows = [
        ChainedRow(
            r.seq,
            AuditEntry(r.at, r.actor, r.action, r.subject, r.before, r.after, r.reason),
            r.prev_hash,
            r.hash,
        )
        for r in found[:limit]
    ]
    more = len(found) > limit
    return AuditPage(rows, rows[-1].seq if more and rows else None)
