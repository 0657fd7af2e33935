"""Store reads the GUI needs that no service offers (yet): a line's increments, page by page,
and its usage per day. Plain functions over an Engine, called off the UI thread.

A line is (customer, period, item, unit price, currency), so its increments are found by those
columns and the period's UTC month, in time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, String, func, select, type_coerce
from sqlalchemy.sql import ColumnElement

from billing_desk.store.models import Increment, Line
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.models.increments import IncrementRow


@dataclass(frozen=True)
class LineKey:
    """What identifies a line's increments."""

    line_id: int
    customer_id: str
    period: str
    item: str
    unit_amount: Decimal
    currency: str
    description: str
    increment_count: int


def period_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def line_key(engine: Engine, line_id: int) -> LineKey:
    with UnitOfWork(engine) as uow:
        line = uow.session.get(Line, line_id)
        if line is None:
            raise LookupError(f"line {line_id} does not exist")
        return LineKey(
            line.id,
            line.customer_id,
            line.period,
            line.item,
            line.unit_amount,
            line.currency,
            line.description,
            line.increment_count,
        )


def _of_line(key: LineKey) -> list[ColumnElement[bool]]:
    start, end = period_bounds(key.period)
    return [
        Increment.customer_id == key.customer_id,
        Increment.item == key.item,
        Increment.unit_amount == key.unit_amount,
        Increment.currency == key.currency,
        Increment.occurred_at >= start,
        Increment.occurred_at < end,
    ]


def increment_page(engine: Engine, key: LineKey, offset: int, limit: int) -> list[IncrementRow]:
    """Rows `offset`..`offset+limit` of the line's increments in time order."""
    query = (
        select(Increment.event_id, Increment.occurred_at, Increment.quantity, Increment.batch_id)
        .where(*_of_line(key))
        .order_by(Increment.occurred_at, Increment.event_id)
        .offset(offset)
        .limit(limit)
    )
    with UnitOfWork(engine) as uow:
        return [IncrementRow(e, o, q, b) for e, o, q, b in uow.session.execute(query)]


def usage_by_day(engine: Engine, key: LineKey) -> list[tuple[date, Decimal]]:
    """The line's quantity summed per UTC day of the period (exact; days without usage: 0)."""
    start, end = period_bounds(key.period)
    totals: dict[str, Decimal] = {}
    with UnitOfWork(engine) as uow:
        if uow.dialect == "sqlite":
            # Raw text columns: no datetime parsing per row, and the quantity stays exact.
            day = func.substr(type_coerce(Increment.occurred_at, String), 1, 10)
            raw = select(day, type_coerce(Increment.quantity, String)).where(*_of_line(key))
            rows = uow.session.execute(raw)
            for text_day, text_quantity in rows:
                totals[text_day] = totals.get(text_day, Decimal(0)) + Decimal(text_quantity)
        else:
            day = func.to_char(func.timezone("UTC", Increment.occurred_at), "YYYY-MM-DD")
            grouped = select(day, func.sum(Increment.quantity)).where(*_of_line(key)).group_by(day)
            totals = {str(d): Decimal(q) for d, q in uow.session.execute(grouped)}
    days = (end - start).days
    return [
        (
            current := date.fromordinal(start.date().toordinal() + offset),
            totals.get(current.isoformat(), Decimal(0)),
        )
        for offset in range(days)
    ]


def total_quantity(points: Sequence[tuple[date, Decimal]]) -> Decimal:
    return sum((q for _, q in points), Decimal(0))
