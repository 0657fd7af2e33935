"""Customers: `customers import` (CONTRACT.md), upsert by id, with the rules a row must meet.

Fields: `id`, `name`, `email`, `currency`, `stripe_customer_id` (optional). Like ingest, an
import is atomic by default (one invalid row and nothing is written) and `skip_invalid=True`
writes the valid rows and hands each invalid one to `on_reject`.

Rules beyond the shape of each field, so an import never breaks what is already there:
- a customer's currency cannot change once it has usage (its lines are in that currency);
- a customer linked to a Stripe customer is not silently relinked to another one, and a
  `cus_` id belongs to one customer only; a row without `stripe_customer_id` keeps the link.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from billing_desk.domain.currencies import SUPPORTED
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.ledger import RowInvalid, decode_json_object, json_type
from billing_desk.services.ingest import Reject, ShownRow, Source, read_jsonl_lines
from billing_desk.store.models import Customer, Line
from billing_desk.store.uow import UnitOfWork

FIELDS = ("id", "name", "email", "currency", "stripe_customer_id")
REQUIRED = frozenset(FIELDS) - {"stripe_customer_id"}
CUSTOMER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}"
# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is Stripe's concern.
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s.]+"
STRIPE_CUSTOMER_PATTERN = r"cus_[A-Za-z0-9]{1,251}"
MAX_NAME = 500
MAX_EMAIL = 320
BLOCK_ROWS = 5_000

_ID_RE = re.compile(CUSTOMER_ID_PATTERN)
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_STRIPE_RE = re.compile(STRIPE_CUSTOMER_PATTERN)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: str
    name: str
    email: str
    currency: str
    stripe_customer_id: str | None


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    written: bool = False

    def to_json(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": self.rejected,
            "unchanged": self.unchanged,
        }


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise RowInvalid(f"must be a string, not {json_type(value)}", name)
    if "\x00" in value:  # PostgreSQL text cannot hold it; refused on both backends
        raise RowInvalid("contains a NUL character (\\u0000)", name)
    return value


def validate_customer(fields: dict[str, Any]) -> CustomerRow:
    """One customer row (a decoded JSON object or a CSV record) checked field by field."""
    unknown = sorted(fields.keys() - set(FIELDS))
    if unknown:
        raise RowInvalid(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    values = {name: _text(fields, name) for name in FIELDS}
    for name in FIELDS:
        if name in REQUIRED and values[name] is None:
            raise RowInvalid("missing or empty", name)
    customer_id, name, email, currency = (values[n] or "" for n in FIELDS[:4])
    if _ID_RE.fullmatch(customer_id) is None:
        raise RowInvalid(
            f"{customer_id!r} is not a customer id ({CUSTOMER_ID_PATTERN}: letters, digits, "
            "'.', '_', ':', '-', at most 255)",
            "id",
        )
    if not name.strip():
        raise RowInvalid("must not be blank", "name")
    if len(name) > MAX_NAME:
        raise RowInvalid(f"is {len(name)} characters; at most {MAX_NAME}", "name")
    if len(email) > MAX_EMAIL or _EMAIL_RE.fullmatch(email) is None:
        raise RowInvalid(f"{email!r} is not an email address", "email")
    if currency not in SUPPORTED:
        hint = f" (write {currency.lower()!r})" if currency.lower() in SUPPORTED else ""
        reason = "must be lower case" if hint else "is not a currency Stripe supports"
        raise RowInvalid(f"{currency!r} {reason}{hint}", "currency")
    stripe_id = values["stripe_customer_id"]
    if stripe_id is not None and _STRIPE_RE.fullmatch(stripe_id) is None:
        raise RowInvalid(
            f"{stripe_id!r} is not a Stripe customer id (cus_ followed by letters and digits)",
            "stripe_customer_id",
        )
    return CustomerRow(customer_id, name, email, currency, stripe_id)


def import_customers(
    uow: UnitOfWork,
    sources: Sequence[Source],
    *,
    skip_invalid: bool = False,
    on_reject: Callable[[Reject], None] | None = None,
) -> ImportSummary:
    """Upsert customers from `sources` in one transaction (atomic unless `skip_invalid`)."""
    run = _Import(uow.session, skip_invalid, on_reject)
    for source in sources:
        for block in _blocks(source):
            run.take(source.name, block)
    summary = run.summary
    if summary.rejected and not skip_invalid:
        uow.rollback()
        summary.created = summary.updated = summary.unchanged = 0
        return summary
    uow.commit()
    summary.written = True
    return summary


# (line number, the row or why it is invalid, the row as read)
_Record = tuple[int, CustomerRow | RowInvalid, ShownRow]


def _blocks(source: Source) -> Iterator[list[_Record]]:
    records = _csv_records(source) if source.format == "csv" else _jsonl_records(source)
    block: list[_Record] = []
    for record in records:
        block.append(record)
        if len(block) >= BLOCK_ROWS:
            yield block
            block = []
    if block:
        yield block


def _validated(fields: dict[str, Any] | str) -> CustomerRow | RowInvalid:
    """A record (a CSV row, or a JSONL line to decode first) as a customer or its problem."""
    try:
        return validate_customer(decode_json_object(fields) if isinstance(fields, str) else fields)
    except RowInvalid as exc:
        return exc


def _jsonl_records(source: Source) -> Iterator[_Record]:
    number = 0
    for lines, _ in read_jsonl_lines(source.stream):
        for text in lines:
            number += 1
            if isinstance(text, str):
                clean = text.removesuffix("\r").removeprefix("\ufeff")
                yield number, _validated(clean), text
            elif text is None:
                yield number, RowInvalid("line is far too long"), None
            else:
                shown = text.decode("utf-8", errors="replace")
                yield number, RowInvalid("line is not UTF-8 text"), shown


def _csv_records(source: Source) -> Iterator[_Record]:
    text = io.TextIOWrapper(source.stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput(f"{source.name}:1: not a CSV header ({exc})") from None
    if header is None:
        return
    header = [header[0].removeprefix("\ufeff"), *header[1:]] if header else header
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"{source.name}:1: unknown column {unknown[0]!r} (columns: {', '.join(FIELDS)})"
        )
    missing = [name for name in FIELDS if name in REQUIRED and name not in header]
    if missing:
        raise InvalidInput(f"{source.name}:1: missing column {missing[0]!r}")
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RowInvalid(f"not valid CSV ({exc})"), None
            continue
        row = dict(zip(header, record, strict=False))
        if not any(value.strip() for value in record):
            yield start, RowInvalid("empty line"), row
        elif len(record) != len(header):
            reason = f"has {len(record)} fields; the header has {len(header)}"
            yield start, RowInvalid(reason), row
        elif any("\udc80" <= ch <= "\udcff" for value in record for ch in value):
            yield start, RowInvalid("line is not UTF-8 text"), row
        else:
            yield start, _validated({k: v for k, v in row.items()}), row


class _Import:
    def __init__(
        self,
        session: Session,
        skip_invalid: bool,
        on_reject: Callable[[Reject], None] | None,
    ) -> None:
        self.session = session
        self.skip_invalid = skip_invalid
        self.on_reject = on_reject
        self.summary = ImportSummary()
        self.now = datetime.now(UTC)

    def reject(self, source: str, number: int, reason: str, row: ShownRow) -> None:
        self.summary.rejected += 1
        if self.on_reject is not None:
            self.on_reject(Reject(source, number, reason, row))

    def take(self, source: str, block: list[_Record]) -> None:
        valid: list[tuple[int, CustomerRow, ShownRow]] = []
        for number, parsed, shown in block:
            if isinstance(parsed, RowInvalid):
                self.reject(source, number, str(parsed), shown)
            else:
                valid.append((number, parsed, shown))
        if not valid:
            return
        session = self.session
        ids = {row.id for _, row, _ in valid}
        columns = (Customer.id, Customer.name, Customer.email, Customer.currency)
        stored = {
            row[0]: CustomerRow(*row)
            for row in session.execute(
                select(*columns, Customer.stripe_customer_id).where(Customer.id.in_(ids))
            )
        }
        claimed = {row.stripe_customer_id for _, row, _ in valid if row.stripe_customer_id}
        owners = {
            stripe_id: owner
            for stripe_id, owner in session.execute(
                select(Customer.stripe_customer_id, Customer.id).where(
                    Customer.stripe_customer_id.in_(claimed)
                )
            )
            if stripe_id is not None
        }
        with_usage = set(
            session.scalars(select(Line.customer_id).where(Line.customer_id.in_(ids)).distinct())
        )
        # Later rows of the block see the effect of earlier ones, as if imported one by one.
        state = dict(stored)
        created: dict[str, CustomerRow] = {}
        changed: dict[str, CustomerRow] = {}
        for number, row, shown in valid:
            before = state.get(row.id)
            problem = _conflict(row, before, owners, row.id in with_usage)
            if problem is not None:
                self.reject(source, number, problem, shown)
                continue
            if before is not None and row.stripe_customer_id is None:
                row = CustomerRow(
                    row.id, row.name, row.email, row.currency, before.stripe_customer_id
                )
            if row.stripe_customer_id is not None:
                owners[row.stripe_customer_id] = row.id
            if before == row:
                self.summary.unchanged += 1
                continue
            state[row.id] = row
            if row.id in stored:
                changed[row.id] = row
                self.summary.updated += 1
            elif row.id in created:
                created[row.id] = row
                self.summary.updated += 1
            else:
                created[row.id] = row
                self.summary.created += 1
        self._write(created, changed)

    def _write(self, created: dict[str, CustomerRow], changed: dict[str, CustomerRow]) -> None:
        # Core statements, one executemany each: the ORM's bulk paths split batches and cost
        # far more per row than the store itself.
        now = self.now
        table = Customer.__table__
        assert isinstance(table, Table)
        if created:
            self.session.execute(
                insert(table),
                [
                    {
                        "id": row.id,
                        "name": row.name,
                        "email": row.email,
                        "currency": row.currency,
                        "stripe_customer_id": row.stripe_customer_id,
                        "balance": 0,
                        "flags": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for row in created.values()
                ],
            )
        if changed:
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("key"))
                .values(
                    name=bindparam("name"),
                    email=bindparam("email"),
                    currency=bindparam("currency"),
                    stripe_customer_id=bindparam("stripe_id"),
                    updated_at=now,
                ),
                [
                    {
                        "key": row.id,
                        "name": row.name,
                        "email": row.email,
                        "currency": row.currency,
                        "stripe_id": row.stripe_customer_id,
                    }
                    for row in changed.values()
                ],
            )


def _conflict(
    row: CustomerRow, before: CustomerRow | None, owners: dict[str, str], has_usage: bool
) -> str | None:
    """Why `row` may not replace `before` (None if it may)."""
    if before is not None and before.currency != row.currency and has_usage:
        return (
            f"currency: customer {row.id!r} already has usage in {before.currency!r}; its "
            "currency cannot change"
        )
    new_link = row.stripe_customer_id
    linked = before.stripe_customer_id if before is not None else None
    if linked and new_link and linked != new_link:
        return (
            f"stripe_customer_id: customer {row.id!r} is linked to {linked!r}; refusing to "
            f"relink it to {new_link!r}"
        )
    if new_link is not None and owners.get(new_link, row.id) != row.id:
        return f"stripe_customer_id: {new_link!r} already belongs to customer {owners[new_link]!r}"
    return None
