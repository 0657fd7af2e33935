"""Column types that keep money exact and timestamps in UTC on both SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

_EXACT = Context(prec=200)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored without ever passing through a float.

    SQLite has no decimal type (its NUMERIC affinity converts to binary floats), so there the
    value is kept as its canonical text; PostgreSQL gets a real NUMERIC.
    """

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, 12, asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"ExactDecimal needs a Decimal, got {type(value).__name__}")
        if dialect.name == "postgresql":
            return value
        # normalize() rounds to the context's precision (28 digits by default): use one wide
        # enough that it only ever strips trailing zeros.
        return format(value.normalize(_EXACT), "f") if value else "0"

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime; SQLite keeps it as ISO text, PostgreSQL as timestamptz."""

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import TIMESTAMP

            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        return dialect.type_descriptor(String(32))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        # Fixed-width text sorts in time order, so SQLite range queries and indexes work.
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        # fromisoformat reads the trailing "Z" as UTC (3.11+) and is far cheaper than strptime.
        return datetime.fromisoformat(value)


def utc_text(value: datetime) -> str:
    """The SQLite text form of a timestamp, for raw bulk statements that bypass the ORM."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
