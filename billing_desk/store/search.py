"""Customer search queries: each ranking tier's candidates, from an index, never a table scan.

Every statement reads at most `limit` candidates in its index's own order (a B-tree range, the
FTS5 rowid order, the word table's order) and returns them ordered by lowercased name, then id.
The structures behind them are created by migration 0002 (see its docstring for the choice).
User text only ever reaches the database as bound parameters; FTS5 query strings are built
from quoted strings, so no input can be read as FTS5 syntax.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    Text,
    bindparam,
    collate,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    union_all,
)
from sqlalchemy.orm import Session

from billing_desk.store.models import Customer

# Sorts after every character a name can hold, so a prefix p spans [p, p + TOP).
TOP = "\U0010ffff"
# PostgreSQL: how far the word table is read to tell which query word is the rarest.
DRIVER_COUNT_CAP = 2000

# id, name, email, stripe_customer_id, sort_name, match, arm
Rows = Select[str, str, str, str | None, str, str, int]

_names_fts = table("customer_search_names", column("rowid", Integer), column("name", String))
_emails_fts = table("customer_search_emails", column("rowid", Integer), column("email", String))
_words = table(
    "customer_search_words",
    column("word", Text),
    column("customer_id", String),
    column("name_key", Text),
)


class Match(enum.StrEnum):
    """What a hit matched, best tier first."""

    ID = "id"
    EMAIL = "email"
    STRIPE_ID = "stripe_id"
    NAME_PREFIX = "name_prefix"
    ID_PREFIX = "id_prefix"
    EMAIL_PREFIX = "email_prefix"
    STRIPE_ID_PREFIX = "stripe_id_prefix"
    NAME_WORDS = "name_words"
    EMAIL_CONTAINS = "email_contains"

    @property
    def tier(self) -> int:
        """0 exact identifier, 1 something starts with the query, 2 words of the name, 3 part
        of the email."""
        return _TIERS[self]


_TIERS = {
    Match.ID: 0,
    Match.EMAIL: 0,
    Match.STRIPE_ID: 0,
    Match.NAME_PREFIX: 1,
    Match.ID_PREFIX: 1,
    Match.EMAIL_PREFIX: 1,
    Match.STRIPE_ID_PREFIX: 1,
    Match.NAME_WORDS: 2,
    Match.EMAIL_CONTAINS: 3,
}


@dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    name: str
    email: str
    stripe_customer_id: str | None
    match: Match


def _is_pg(dialect: str) -> bool:
    return dialect == "postgresql"


def _key(dialect: str, expr: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """lower(expr) as the search indexes hold it: byte order ("C") on PostgreSQL, like SQLite's
    BINARY, so ranges and ORDER BY walk the index."""
    lowered: ColumnElement[str] = func.lower(expr)
    return collate(lowered, "C") if _is_pg(dialect) else lowered


def _starts_with(key: ColumnElement[str], prefix: ColumnElement[str]) -> ColumnElement[bool]:
    return (key >= prefix) & (key < prefix.concat(bindparam("top", TOP)))


def _row(dialect: str, match: Match) -> Rows:
    return select(
        Customer.id,
        Customer.name,
        Customer.email,
        Customer.stripe_customer_id,
        _key(dialect, Customer.name).label("sort_name"),
        literal(match.value, String).label("match"),
        literal(_ARM[match], Integer).label("arm"),
    )


# Within a tier, which match a customer is reported under when it matches several ways.
_ARM = {match: position for position, match in enumerate(Match)}


def _ranked(
    arms: Sequence[Rows],
) -> Rows:
    """The arms' rows, each arm read from its index first, then ordered by name and id."""
    merged = union_all(*(select(arm.subquery()) for arm in arms)).subquery()
    return select(
        merged.c.id,
        merged.c.name,
        merged.c.email,
        merged.c.stripe_customer_id,
        merged.c.sort_name,
        merged.c.match,
        merged.c.arm,
    ).order_by(merged.c.sort_name, merged.c.id, merged.c.arm)


def exact_statement(dialect: str, text: str) -> Rows:
    """The customer whose id, email or Stripe id is `text`, ignoring case."""
    wanted = func.lower(bindparam("text", text, String))
    return _ranked(
        [
            _row(dialect, Match.ID).where(_key(dialect, Customer.id) == wanted),
            _row(dialect, Match.EMAIL).where(_key(dialect, Customer.email) == wanted),
            _row(dialect, Match.STRIPE_ID).where(
                _key(dialect, Customer.stripe_customer_id) == wanted
            ),
        ]
    )


def prefix_statement(dialect: str, text: str, limit: int) -> Rows:
    """Customers whose name, id, email or Stripe id starts with `text`, ignoring case."""
    prefix = func.lower(bindparam("text", text, String))
    arms = []
    for match, field in (
        (Match.NAME_PREFIX, Customer.name),
        (Match.ID_PREFIX, Customer.id),
        (Match.EMAIL_PREFIX, Customer.email),
        (Match.STRIPE_ID_PREFIX, Customer.stripe_customer_id),
    ):
        key = _key(dialect, field)
        order = (key, Customer.id) if match is Match.NAME_PREFIX else (key,)
        arms.append(
            _row(dialect, match).where(_starts_with(key, prefix)).order_by(*order).limit(limit)
        )
    return _ranked(arms)


def fts5_words_query(words: Sequence[str]) -> str:
    """An FTS5 query: every word as a quoted prefix string, all required."""
    return " AND ".join('"' + word.replace('"', '""') + '"*' for word in words)


def fts5_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fold(word: ColumnElement[str]) -> ColumnElement[str]:
    return func.billing_search_fold(word)


def driver_counts_statement(words: Sequence[str]) -> Select[Any]:
    """PostgreSQL: how many word-table entries each query word's prefix spans, up to a cap."""
    counts = []
    for position, word in enumerate(words):
        folded = _fold(bindparam(f"w{position}", word, String))
        spanned = (
            select(literal(1))
            .select_from(_words)
            .where(_starts_with(_words.c.word, folded))
            .limit(DRIVER_COUNT_CAP)
            .subquery()
        )
        counts.append(select(func.count()).select_from(spanned).scalar_subquery())
    return select(*counts)


def words_statement(dialect: str, words: Sequence[str], limit: int, driver: int = 0) -> Rows:
    """Customers with, for every query word, a word of the name starting with it (any order).

    SQLite asks FTS5. PostgreSQL scans the word table's range of the `driver` word (the rarest:
    see `driver_counts_statement`) in index order and checks the other words on the same entry.
    """
    if not _is_pg(dialect):
        matched = (
            select(_names_fts.c.rowid)
            .where(_names_fts.c.name.match(bindparam("fts", fts5_words_query(words), String)))
            .order_by(_names_fts.c.rowid)
            .limit(limit)
        )
        where = literal_column("customers.rowid").in_(matched)
    else:
        folded = [_fold(bindparam(f"w{i}", word, String)) for i, word in enumerate(words)]
        others = [
            func.strpos(_words.c.name_key, literal(" ", Text).concat(f)) > 0
            for i, f in enumerate(folded)
            if i != driver
        ]
        # Twice the limit: a name with two words starting with the driver shows up twice.
        matched = (
            select(_words.c.customer_id)
            .where(_starts_with(_words.c.word, folded[driver]), *others)
            .order_by(_words.c.word, _words.c.customer_id)
            .limit(2 * limit)
        )
        where = Customer.id.in_(matched)
    row = _row(dialect, Match.NAME_WORDS).where(where)
    return row.order_by(_key(dialect, Customer.name), Customer.id).limit(limit)


def _like_contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains_statement(dialect: str, text: str, limit: int) -> Rows:
    """Customers whose email contains `text` (at least 3 characters: trigram indexes)."""
    if not _is_pg(dialect):
        matched = (
            select(_emails_fts.c.rowid)
            .where(_emails_fts.c.email.match(bindparam("fts", fts5_phrase(text), String)))
            .order_by(_emails_fts.c.rowid)
            .limit(limit)
        )
        where = literal_column("customers.rowid").in_(matched)
    else:
        pattern = bindparam("pattern", _like_contains(text.lower()), String)
        email_key = _key(dialect, Customer.email)
        matched = (
            select(Customer.id)
            .where(func.lower(Customer.email).like(pattern, escape="\\"))
            .order_by(email_key)
            .limit(limit)
        )
        where = Customer.id.in_(matched)
    row = _row(dialect, Match.EMAIL_CONTAINS).where(where)
    return row.order_by(_key(dialect, Customer.name), Customer.id).limit(limit)


class CustomerSearch:
    """Runs the tier statements on a session; each returns candidates best first."""

    def __init__(self, session: Session) -> None:
        self._session = session
        bind = session.get_bind()
        self.dialect = bind.dialect.name

    def _run(self, statement: Rows) -> list[Candidate]:
        return [
            Candidate(row.id, row.name, row.email, row.stripe_customer_id, Match(row.match))
            for row in self._session.execute(statement)
        ]

    def exact(self, text: str) -> list[Candidate]:
        return self._run(exact_statement(self.dialect, text))

    def prefix(self, text: str, limit: int) -> list[Candidate]:
        return self._run(prefix_statement(self.dialect, text, limit))

    def words(self, words: Sequence[str], limit: int) -> list[Candidate]:
        driver = 0
        if _is_pg(self.dialect) and len(words) > 1:
            counts = self._session.execute(driver_counts_statement(words)).one()
            # The rarest word; among equally common ones the longest, which narrows most.
            driver = min(range(len(words)), key=lambda i: (counts[i], -len(words[i]), i))
        return self._run(words_statement(self.dialect, words, limit, driver))

    def contains(self, text: str, limit: int) -> list[Candidate]:
        return self._run(contains_statement(self.dialect, text, limit))
