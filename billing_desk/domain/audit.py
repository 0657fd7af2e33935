"""The audit trail's hash chain and its CSV cells, as pure functions (no database).

Each row's hash is SHA-256 over the canonical JSON of its content, its sequence number and the
previous row's hash, so editing, deleting or reordering a row breaks the chain from that point
on. The chain has no secret: it proves the trail was not altered by anyone who did not also
recompute every later hash. `audit verify` reports the head hash so it can be noted elsewhere,
which also catches the one thing a chain alone cannot: rows cut off its end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64

# Leading characters a spreadsheet reads as a formula (or that hide one after them).
FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return timestamp_text(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot record a {type(value).__name__} in the audit trail")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not recorded in the audit trail (money is never a float)")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, Decimals and datetimes as text, never floats."""
    _refuse_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def timestamp_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one row says: who did what to which subject, the state before and after, and why.

    `before` and `after` are canonical JSON texts (or None), so the hash never depends on how a
    database returns JSON.
    """

    at: datetime
    actor: str
    action: str
    subject: str
    before: str | None
    after: str | None
    reason: str | None


def row_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": timestamp_text(entry.at),
            "actor": entry.actor,
            "action": entry.action,
            "subject": entry.subject,
            "before": entry.before,
            "after": entry.after,
            "reason": entry.reason,
            "prev": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainedRow:
    """A stored row: its entry, its place in the chain, and the hashes it was written with."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    kind: str  # edited | deleted | reordered | relinked
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    head_seq: int
    head_hash: str
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _walk(rows: Iterable[ChainedRow]) -> Iterator[ChainProblem | ChainedRow]:
    """Walk the rows in storage order, yielding each row checked and each problem found."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    for row in rows:
        if row.seq > expected_seq:
            missing = (
                f"seq {expected_seq}"
                if row.seq == expected_seq + 1
                else f"seq {expected_seq}..{row.seq - 1}"
            )
            yield ChainProblem(row.seq, "deleted", f"{missing} missing before this row")
        elif row.seq < expected_seq:
            yield ChainProblem(
                row.seq, "reordered", f"found after seq {expected_seq - 1}; rows are out of order"
            )
        if row_hash(row.seq, row.entry, row.prev_hash) != row.hash:
            yield ChainProblem(row.seq, "edited", "its content no longer matches its hash")
        elif row.prev_hash != prev_hash and row.seq == expected_seq:
            yield ChainProblem(
                row.seq, "relinked", "it does not point at the row before it (a row was replaced)"
            )
        yield row
        expected_seq = max(expected_seq, row.seq + 1)
        prev_hash = row.hash


def verify_chain(rows: Iterable[ChainedRow], limit: int = 20) -> ChainReport:
    """Check every row; keep the first `limit` problems (one tampered row breaks little else)."""
    problems: list[ChainProblem] = []
    count, head_seq, head_hash = 0, 0, GENESIS_HASH
    for item in _walk(rows):
        if isinstance(item, ChainProblem):
            if len(problems) < limit:
                problems.append(item)
            continue
        count += 1
        head_seq, head_hash = item.seq, item.hash
    return ChainReport(count, head_seq, head_hash, tuple(problems))


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs: formula leaders get a leading quote."""
    if value.startswith(FORMULA_LEADERS):
        return "'" + value
    return value
