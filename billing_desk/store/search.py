"""Customer search queries: each ranking tier's candidates, from an index, never a table scan.

The statement reads at most `limit` candidates per index in that index's own order (a B-tree
range, the FTS5 rowid order, the word table's order) and returns them ordered by tier, then
lowercased name, then id.
The structures behind them are created by migration 0002 (see its docstring for the choice).
User text only ever reaches the database as bound parameters; FTS5 query strings are built
from quoted strings, so no input can be read as FTS5 syntax.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
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

# id, name, email, stripe_customer_id, sort_name, match, tier, arm
Rows = Select[str, str, str, str | None, str, str, int, int]

_customers = cast(Table, Customer.__table__)
_names_fts = table("customer_search_names", column("rowid", Integer), column("name", String))
# The email's domain exactly as migration 0002 indexes it (a bound "@" would not match).
_DOMAIN = {
    "sqlite": "lower(substr(customers.email, instr(customers.email, '@') + 1))",
    "postgresql": "lower(substr(customers.email, strpos(customers.email, '@') + 1))",
}
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
    EMAIL_DOMAIN_PREFIX = "email_domain_prefix"
    STRIPE_ID_PREFIX = "stripe_id_prefix"
    NAME_WORDS = "name_words"

    @property
    def tier(self) -> int:
        """0 an identifier is the query, 1 something starts with it, 2 words of the name."""
        return _TIERS[self]


_TIERS = {
    Match.ID: 0,
    Match.EMAIL: 0,
    Match.STRIPE_ID: 0,
    Match.NAME_PREFIX: 1,
    Match.ID_PREFIX: 1,
    Match.EMAIL_PREFIX: 1,
    Match.EMAIL_DOMAIN_PREFIX: 1,
    Match.STRIPE_ID_PREFIX: 1,
    Match.NAME_WORDS: 2,
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


def _key(dialect: str, expr: ColumnElement[Any]) -> ColumnElement[str]:
    """lower(expr) as the search indexes hold it: byte order ("C") on PostgreSQL, like SQLite's
    BINARY, so ranges and ORDER BY walk the index."""
    lowered: ColumnElement[str] = func.lower(expr)
    return collate(lowered, "C") if _is_pg(dialect) else lowered


def _starts_with(key: ColumnElement[str], prefix: ColumnElement[str]) -> ColumnElement[bool]:
    return (key >= prefix) & (key < prefix.concat(bindparam("top", TOP, String)))


def _starts_with_param(dialect: str, key: ColumnElement[str], name: str) -> ColumnElement[bool]:
    """`key` starts with lower(:name). PostgreSQL gets LIKE lower(:<name>_like) instead (see
    `like_prefix`): it walks the same index range, but its statistics only judge a prefix's
    share of rows well for LIKE; for the range they misjudge a common prefix as a few rows and
    sort every match instead of stopping at the LIMIT (70 ms instead of 0.2 ms at 1M rows)."""
    if not _is_pg(dialect):
        return _starts_with(key, func.lower(bindparam(name, type_=String)))
    return key.like(func.lower(bindparam(f"{name}_like", type_=String)), escape="\\")


def like_prefix(text: str) -> str:
    """A LIKE pattern (escape character backslash) for "starts with `text`"."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


# Within a tier, which match a customer is reported under when it matches several ways.
_ARM = {match: position for position, match in enumerate(Match)}


def _row(dialect: str, match: Match) -> Rows:
    c = _customers.c
    return select(
        c.id,
        c.name,
        c.email,
        c.stripe_customer_id,
        _key(dialect, c.name).label("sort_name"),
        literal(match.value, String).label("match"),
        literal(match.tier, Integer).label("tier"),
        literal(_ARM[match], Integer).label("arm"),
    )


def _ranked(arms: Sequence[Rows]) -> Rows:
    """The arms' rows, each arm read from its index first, then ordered by tier, name, id."""
    merged = union_all(*(select(arm.subquery()) for arm in arms)).subquery()
    m = merged.c
    return select(
        m.id, m.name, m.email, m.stripe_customer_id, m.sort_name, m.match, m.tier, m.arm
    ).order_by(m.tier, m.sort_name, m.id, m.arm)


# The statements are built once per shape and take every value as a parameter: building and
# caching a statement costs more than running it on these indexes.


def _identifier_arms(dialect: str) -> list[Rows]:
    """Tiers 0 and 1: up to :limit customers per field whose id, email or Stripe id is :text,
    and per field whose name, id, email or Stripe id starts with :text or whose email's domain
    starts with :domain, all ignoring case."""
    c = _customers.c
    text = func.lower(bindparam("text", type_=String))
    domain_key: ColumnElement[str] = literal_column(_DOMAIN[dialect])
    if _is_pg(dialect):
        domain_key = collate(domain_key, "C")
    id_key, email_key = _key(dialect, c.id), _key(dialect, c.email)
    name_key, stripe_key = _key(dialect, c.name), _key(dialect, c.stripe_customer_id)
    return [
        _row(dialect, match)
        .where(condition)
        .order_by(key, c.id)
        .limit(bindparam("limit", type_=Integer))
        for match, key, condition in (
            (Match.ID, id_key, id_key == text),
            (Match.EMAIL, email_key, email_key == text),
            (Match.STRIPE_ID, stripe_key, stripe_key == text),
            (Match.NAME_PREFIX, name_key, _starts_with_param(dialect, name_key, "text")),
            (Match.ID_PREFIX, id_key, _starts_with_param(dialect, id_key, "text")),
            (Match.EMAIL_PREFIX, email_key, _starts_with_param(dialect, email_key, "text")),
            (
                Match.EMAIL_DOMAIN_PREFIX,
                domain_key,
                _starts_with_param(dialect, domain_key, "domain"),
            ),
            (Match.STRIPE_ID_PREFIX, stripe_key, _starts_with_param(dialect, stripe_key, "text")),
        )
    ]


def fts5_words_query(words: Sequence[str]) -> str:
    """An FTS5 query: every word as a quoted prefix string, all required."""
    return " AND ".join('"' + word.replace('"', '""') + '"*' for word in words)


def _fold(word: ColumnElement[str]) -> ColumnElement[str]:
    return func.billing_search_fold(word)


def _word_params(words: Sequence[str]) -> dict[str, str]:
    return {f"w{position}": word for position, word in enumerate(words)}


@functools.cache
def driver_counts_statement(n_words: int) -> Select[Any]:
    """PostgreSQL: how many word-table entries each of :w0, :w1... spans, up to a cap."""
    counts = []
    for position in range(n_words):
        folded = _fold(bindparam(f"w{position}", type_=String))
        spanned = (
            select(literal(1))
            .select_from(_words)
            .where(_starts_with(_words.c.word, folded))
            .limit(DRIVER_COUNT_CAP)
            .subquery()
        )
        counts.append(select(func.count()).select_from(spanned).scalar_subquery())
    return select(*counts)


def _words_arm(dialect: str, n_words: int, driver: int) -> Rows:
    """Tier 2: up to :limit customers with, for every query word, a word of the name starting
    with it (any order).

    SQLite asks FTS5 (:fts, from `fts5_words_query`). PostgreSQL scans the word table's range of
    word :w<driver> (the rarest: see `driver_counts_statement`) in index order and checks the
    other words :w0, :w1... on the same entry.
    """
    limit = bindparam("limit", type_=Integer)
    if not _is_pg(dialect):
        matched = (
            select(_names_fts.c.rowid)
            .where(_names_fts.c.name.match(bindparam("fts", type_=String)))
            .order_by(_names_fts.c.rowid)
            .limit(limit)
        )
        where = literal_column("customers.rowid").in_(matched)
    else:
        folded = [_fold(bindparam(f"w{i}", type_=String)) for i in range(n_words)]
        others = [
            func.strpos(_words.c.name_key, literal(" ", Text).concat(f)) > 0
            for i, f in enumerate(folded)
            if i != driver
        ]
        # A name with two words starting with the driver shows up twice: read twice as many.
        matched = (
            select(_words.c.customer_id)
            .where(_starts_with(_words.c.word, folded[driver]), *others)
            .order_by(_words.c.word, _words.c.customer_id)
            .limit(limit * 2)
        )
        where = _customers.c.id.in_(matched)
    row = _row(dialect, Match.NAME_WORDS).where(where)
    return row.order_by(_key(dialect, _customers.c.name), _customers.c.id).limit(limit)


@functools.cache
def search_statement(dialect: str, n_words: int = 1, driver: int = 0) -> Rows:
    """Every tier in one statement, one round trip per keystroke: the candidates ordered by
    tier, lowercased name, id (a customer may appear in several arms; the best comes first).
    Reading the words index when the identifiers already fill the limit costs less than a
    second round trip when they do not, which is the usual case (an exact hit is one row)."""
    return _ranked([*_identifier_arms(dialect), _words_arm(dialect, n_words, driver)])


class CustomerSearch:
    """Runs the search statement on a session."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.dialect = session.get_bind().dialect.name

    def _run(self, statement: Rows, params: dict[str, Any]) -> list[Candidate]:
        return [
            Candidate(row.id, row.name, row.email, row.stripe_customer_id, Match(row.match))
            for row in self._session.execute(statement, params)
        ]

    def candidates(self, text: str, words: Sequence[str], limit: int) -> list[Candidate]:
        """Up to `limit` candidates per index (see `search_statement`), best first."""
        # "@example.com" is how a domain is written after an address.
        domain = text.lstrip("@")
        params: dict[str, Any] = {"text": text, "domain": domain, "limit": limit}
        if not _is_pg(self.dialect):
            params["fts"] = fts5_words_query(words)
            return self._run(search_statement(self.dialect), params)
        params |= {"text_like": like_prefix(text), "domain_like": like_prefix(domain)}
        params |= _word_params(words)
        driver = 0
        if len(words) > 1:
            counts = self._session.execute(driver_counts_statement(len(words)), params).one()
            # The rarest word; among equally common ones the longest, which narrows most.
            driver = min(range(len(words)), key=lambda i: (counts[i], -len(words[i]), i))
        return self._run(search_statement(self.dialect, len(words), driver), params)
