"""The ledger's bulk queries: increments, compiled lines and ingest batches.

Ingest moves millions of rows, so its hot path bypasses the ORM: chunked statements on the raw
DBAPI connection, inside the unit of work's transaction (nothing commits here). SQLite gets
`executemany`; PostgreSQL gets COPY and array parameters (`unnest`), one round trip per chunk.

Values cross this boundary in one form for both backends: decimals as canonical text (see
`domain.ledger`), timestamps as UTC text "YYYY-MM-DDTHH:MM:SS.ffffffZ".
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_desk.domain.ledger import IncrementRow, billed_amount, canonical_decimal
from billing_desk.store.models import IngestBatch, Line
from billing_desk.store.outbox_queue import dbapi_connection
from billing_desk.store.types import utc_text

# (customer_id, period, item, unit_amount, currency) of a usage line; unit_amount canonical text.
LineKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class LineState:
    """What compiling needs to know of a stored usage line."""

    id: int
    quantity: Decimal
    increment_count: int
    compiled_amount: int
    amount: int
    voided: bool
    version: int
    dirty_since: str | None
    first_usage_at: str | None
    last_usage_at: str | None
    last_batch_id: int | None


@dataclass(frozen=True, slots=True)
class LineWrite:
    """A usage line's new compiled state (a new line when `is_new`)."""

    id: int
    key: LineKey
    description: str
    quantity: Decimal
    increment_count: int
    compiled_amount: int
    amount: int
    version: int
    dirty_since: str
    first_usage_at: str
    last_usage_at: str
    is_new: bool


_INCREMENT_COLUMNS = (
    "event_id, customer_id, item, description, quantity, unit_amount, currency, occurred_at"
)
_LINE_STATE_COLUMNS = (
    "l.customer_id, l.period, l.item, l.unit_amount, l.currency, l.id, l.quantity, "
    "l.increment_count, l.compiled_amount, l.amount, l.voided, l.version, l.dirty_since, "
    "l.first_usage_at, l.last_usage_at, l.last_batch_id"
)


def _text_time(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    assert isinstance(value, datetime)
    return utc_text(value)


def _state(row: Sequence[Any]) -> tuple[LineKey, LineState]:
    unit = row[3] if isinstance(row[3], str) else canonical_decimal(row[3])
    key = (row[0], row[1], row[2], unit, row[4])
    return key, LineState(
        id=row[5],
        quantity=Decimal(row[6]),
        increment_count=row[7],
        compiled_amount=row[8],
        amount=row[9],
        voided=bool(row[10]),
        version=row[11],
        dirty_since=_text_time(row[12]),
        first_usage_at=_text_time(row[13]),
        last_usage_at=_text_time(row[14]),
        last_batch_id=row[15],
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LedgerStore(ABC):
    """Bulk reads and writes of the ledger inside one unit of work (`for_session`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.raw, self.dialect = dbapi_connection(session)

    @staticmethod
    def for_session(session: Session) -> LedgerStore:
        dialect = session.get_bind().dialect.name
        return SqliteLedgerStore(session) if dialect == "sqlite" else PostgresLedgerStore(session)

    # -- ingest batches (a handful of rows: the ORM is fine) -----------------------------------

    def open_batch(self, actor: str, files: list[str], started_at: datetime) -> int:
        batch = IngestBatch(
            actor=actor,
            started_at=started_at,
            files=files,
            accepted=0,
            duplicates=0,
            rejected=0,
        )
        self.session.add(batch)
        self.session.flush()
        return batch.id

    def close_batch(
        self, batch_id: int, finished_at: datetime, accepted: int, duplicates: int, rejected: int
    ) -> None:
        batch = self.session.get(IngestBatch, batch_id)
        assert batch is not None
        batch.finished_at = finished_at
        batch.accepted, batch.duplicates, batch.rejected = accepted, duplicates, rejected
        self.session.flush()

    # -- the bulk path, per backend -----------------------------------------------------------

    @abstractmethod
    def prepare_ingest(self) -> None:
        """Ready the transaction for one ingest call (which must run alone: lines are read,
        summed in Python and written back)."""

    @abstractmethod
    def customer_currencies(self, ids: Collection[str]) -> dict[str, str]:
        """{customer id: currency} for those of `ids` that are imported customers."""

    @abstractmethod
    def existing_events(self, event_ids: Sequence[str]) -> dict[str, IncrementRow]:
        """The stored content of those of `event_ids` already ingested."""

    @abstractmethod
    def insert_increments(self, rows: Sequence[IncrementRow], batch_id: int) -> bool:
        """Insert all rows, or none of them and return False if an event_id already exists."""

    @abstractmethod
    def fetch_lines(self, keys: Sequence[LineKey]) -> dict[LineKey, LineState]:
        """The stored usage lines among `keys` (locked for this transaction)."""

    @abstractmethod
    def new_line_ids(self, count: int) -> list[int]:
        """Ids for new lines (the write transaction is held, so they stay ours)."""

    @abstractmethod
    def write_lines(self, writes: Sequence[LineWrite], batch_id: int, now: str) -> None:
        """Insert the new lines and update the others, stamping them with `batch_id`."""

    def _cursor(self) -> Any:
        return self.raw.cursor()


class SqliteLedgerStore(LedgerStore):
    # SQLite allows 32766 parameters per statement (since 3.32).
    _MAX_PARAMS = 30_000

    def prepare_ingest(self) -> None:
        # The write transaction (BEGIN IMMEDIATE) already excludes other writers. A larger page
        # cache for this connection keeps the B-trees' hot pages in memory (a fixed 64 MiB).
        self.raw.execute("PRAGMA cache_size = -65536")

    def customer_currencies(self, ids: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in _chunks(list(ids), self._MAX_PARAMS):
            marks = ",".join("?" * len(part))
            sql = f"SELECT id, currency FROM customers WHERE id IN ({marks})"
            found.update(self.raw.execute(sql, part).fetchall())
        return found

    def existing_events(self, event_ids: Sequence[str]) -> dict[str, IncrementRow]:
        found: dict[str, IncrementRow] = {}
        for part in _chunks(event_ids, self._MAX_PARAMS):
            marks = ",".join("?" * len(part))
            sql = f"SELECT {_INCREMENT_COLUMNS} FROM increments WHERE event_id IN ({marks})"
            for row in self.raw.execute(sql, part):
                found[row[0]] = tuple(row)
        return found

    def insert_increments(self, rows: Sequence[IncrementRow], batch_id: int) -> bool:
        sql = (
            f"INSERT INTO increments ({_INCREMENT_COLUMNS}, batch_id) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, {int(batch_id)})"
        )
        raw = self.raw
        raw.execute("SAVEPOINT bd_increments")
        try:
            raw.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raw.execute("ROLLBACK TO bd_increments")
            raw.execute("RELEASE bd_increments")
            if "increments.event_id" not in str(exc):
                raise
            return False
        raw.execute("RELEASE bd_increments")
        return True

    def fetch_lines(self, keys: Sequence[LineKey]) -> dict[LineKey, LineState]:
        found: dict[LineKey, LineState] = {}
        for part in _chunks(keys, self._MAX_PARAMS // 5):
            values = ",".join(["(?, ?, ?, ?, ?)"] * len(part))
            sql = (
                f"SELECT {_LINE_STATE_COLUMNS} FROM lines AS l WHERE l.kind = 'usage' AND "
                "(l.customer_id, l.period, l.item, l.unit_amount, l.currency) "
                f"IN (VALUES {values})"
            )
            params = [value for key in part for value in key]
            for row in self.raw.execute(sql, params):
                key, state = _state(row)
                found[key] = state
        return found

    def new_line_ids(self, count: int) -> list[int]:
        (top,) = self.raw.execute("SELECT coalesce(max(id), 0) FROM lines").fetchone()
        return list(range(top + 1, top + 1 + count))

    def write_lines(self, writes: Sequence[LineWrite], batch_id: int, now: str) -> None:
        inserts = [
            (
                w.id,
                *w.key[:3],
                w.description,
                w.key[3],
                w.key[4],
                canonical_decimal(w.quantity),
                w.increment_count,
                w.compiled_amount,
                w.amount,
                w.dirty_since,
                w.first_usage_at,
                w.last_usage_at,
                now,
                batch_id,
            )
            for w in writes
            if w.is_new
        ]
        updates = [
            (
                canonical_decimal(w.quantity),
                w.increment_count,
                w.compiled_amount,
                w.amount,
                w.version,
                w.dirty_since,
                w.first_usage_at,
                w.last_usage_at,
                now,
                batch_id,
                w.id,
            )
            for w in writes
            if not w.is_new
        ]
        if inserts:
            self.raw.executemany(
                "INSERT INTO lines (id, customer_id, period, item, description, unit_amount, "
                "currency, quantity, increment_count, compiled_amount, amount, dirty_since, "
                "first_usage_at, last_usage_at, updated_at, last_batch_id, kind, voided, "
                "version, sync_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'usage', 0, 1, 'pending')",
                inserts,
            )
        if updates:
            self.raw.executemany(
                "UPDATE lines SET quantity = ?, increment_count = ?, compiled_amount = ?, "
                "amount = ?, version = ?, sync_state = 'pending', dirty_since = ?, "
                "first_usage_at = ?, last_usage_at = ?, updated_at = ?, last_batch_id = ? "
                "WHERE id = ?",
                updates,
            )


def _copy_text(rows: Sequence[IncrementRow], batch_id: int) -> str | None:
    """The rows in COPY's text format, built by two C-level joins, or None if some value needs
    COPY's escaping (a backslash, tab, newline or carriage return), which `write_row` does."""
    end = f"\t{batch_id}\n"
    text = end.join(map("\t".join, rows)) + end
    fields = len(rows) * len(_INCREMENT_COLUMNS.split(","))
    if text.count("\t") != fields or text.count("\n") != len(rows):
        return None
    if "\\" in text or "\r" in text:
        return None
    return text


class PostgresLedgerStore(LedgerStore):
    def prepare_ingest(self) -> None:
        # One ingest at a time across the team: a transaction-scoped advisory lock.
        with self._cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('billing_desk.ingest'))")

    def customer_currencies(self, ids: Collection[str]) -> dict[str, str]:
        with self._cursor() as cur:
            cur.execute("SELECT id, currency FROM customers WHERE id = ANY(%s)", (list(ids),))
            return dict(cur.fetchall())

    def existing_events(self, event_ids: Sequence[str]) -> dict[str, IncrementRow]:
        found: dict[str, IncrementRow] = {}
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_INCREMENT_COLUMNS} FROM increments WHERE event_id = ANY(%s)",
                (list(event_ids),),
            )
            for ev, customer, item, description, qty, unit, currency, at in cur:
                found[ev] = (
                    ev,
                    customer,
                    item,
                    description,
                    canonical_decimal(qty),
                    canonical_decimal(unit),
                    currency,
                    utc_text(at),
                )
        return found

    def insert_increments(self, rows: Sequence[IncrementRow], batch_id: int) -> bool:
        import psycopg

        if not rows:
            return True
        text = _copy_text(rows, batch_id)
        with self._cursor() as cur:
            cur.execute("SAVEPOINT bd_increments")
            try:
                with cur.copy(
                    f"COPY increments ({_INCREMENT_COLUMNS}, batch_id) FROM STDIN"
                ) as copy:
                    if text is not None:
                        copy.write(text)
                    else:
                        for row in rows:
                            copy.write_row((*row, batch_id))
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT bd_increments")
                cur.execute("RELEASE SAVEPOINT bd_increments")
                return False
            cur.execute("RELEASE SAVEPOINT bd_increments")
        return True

    def fetch_lines(self, keys: Sequence[LineKey]) -> dict[LineKey, LineState]:
        found: dict[LineKey, LineState] = {}
        columns = [list(column) for column in zip(*keys, strict=True)] if keys else [[]] * 5
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_LINE_STATE_COLUMNS} FROM lines AS l JOIN unnest("
                "%s::text[], %s::text[], %s::text[], %s::numeric[], %s::text[]"
                ") AS k(customer_id, period, item, unit_amount, currency) "
                "ON l.customer_id = k.customer_id AND l.period = k.period AND l.item = k.item "
                "AND l.unit_amount = k.unit_amount AND l.currency = k.currency "
                "WHERE l.kind = 'usage' FOR UPDATE OF l",
                columns,
            )
            for row in cur:
                key, state = _state(row)
                found[key] = state
        return found

    def new_line_ids(self, count: int) -> list[int]:
        with self._cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('lines', 'id')) FROM generate_series(1, %s)",
                (count,),
            )
            return [row[0] for row in cur]

    def write_lines(self, writes: Sequence[LineWrite], batch_id: int, now: str) -> None:
        new = [w for w in writes if w.is_new]
        old = [w for w in writes if not w.is_new]
        with self._cursor() as cur:
            if new:
                cur.execute(
                    "INSERT INTO lines (id, customer_id, period, item, description, unit_amount, "
                    "currency, quantity, increment_count, compiled_amount, amount, dirty_since, "
                    "first_usage_at, last_usage_at, updated_at, last_batch_id, kind, voided, "
                    "version, sync_state) "
                    "SELECT n.*, %s::timestamptz, %s, 'usage', false, 1, 'pending' FROM unnest("
                    "%s::int[], %s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[], "
                    "%s::text[], %s::numeric[], %s::int[], %s::bigint[], %s::bigint[], "
                    "%s::timestamptz[], %s::timestamptz[], %s::timestamptz[]) AS n",
                    [
                        now,
                        batch_id,
                        [w.id for w in new],
                        [w.key[0] for w in new],
                        [w.key[1] for w in new],
                        [w.key[2] for w in new],
                        [w.description for w in new],
                        [w.key[3] for w in new],
                        [w.key[4] for w in new],
                        [w.quantity for w in new],
                        [w.increment_count for w in new],
                        [w.compiled_amount for w in new],
                        [w.amount for w in new],
                        [w.dirty_since for w in new],
                        [w.first_usage_at for w in new],
                        [w.last_usage_at for w in new],
                    ],
                )
            if old:
                cur.execute(
                    "UPDATE lines AS l SET quantity = u.quantity, "
                    "increment_count = u.increment_count, compiled_amount = u.compiled_amount, "
                    "amount = u.amount, version = u.version, sync_state = 'pending', "
                    "dirty_since = u.dirty_since, first_usage_at = u.first_usage_at, "
                    "last_usage_at = u.last_usage_at, updated_at = %s::timestamptz, "
                    "last_batch_id = %s FROM unnest("
                    "%s::int[], %s::numeric[], %s::int[], %s::bigint[], %s::bigint[], %s::int[], "
                    "%s::timestamptz[], %s::timestamptz[], %s::timestamptz[]"
                    ") AS u(id, quantity, increment_count, compiled_amount, amount, version, "
                    "dirty_since, first_usage_at, last_usage_at) WHERE l.id = u.id",
                    [
                        now,
                        batch_id,
                        [w.id for w in old],
                        [w.quantity for w in old],
                        [w.increment_count for w in old],
                        [w.compiled_amount for w in old],
                        [w.amount for w in old],
                        [w.version for w in old],
                        [w.dirty_since for w in old],
                        [w.first_usage_at for w in old],
                        [w.last_usage_at for w in old],
                    ],
                )


# -- reading lines (the ORM: a customer's lines are few) ---------------------------------------


def lines_of(session: Session, customer_id: str, period: str) -> list[Line]:
    """A customer's compiled lines for one period, in the order they were created."""
    query = (
        select(Line).where(Line.customer_id == customer_id, Line.period == period).order_by(Line.id)
    )
    return list(session.scalars(query))


def recompute_amount(line: Line, new_compiled: int) -> None:
    """Set a line's compiled amount and re-derive what it bills (`domain.ledger.billed_amount`):
    the hook corrections use so a line's amount is only ever computed one way."""
    line.amount = billed_amount(
        new_compiled, old_compiled=line.compiled_amount, old_amount=line.amount, voided=line.voided
    )
    line.compiled_amount = new_compiled
