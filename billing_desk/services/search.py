"""Customer search, as the agent types: `search_customers(uow, query, limit)`.

Ranking, best first:
  0. the id, email or Stripe id is the query (ignoring case);
  1. the name, id, email, Stripe id or the email's domain starts with the query ("sarah.sm",
     "cus_Q1w", "c00012", "example.co" and "@example.co" are all prefixes);
  2. every word of the query starts a word of the name, in any order ("smith sa" finds
     "Sarah Smith"), ignoring case and accents.
A customer is listed once, under its best match. Within a tier hits are ordered by lowercased
name, then id. Each tier reads at most `limit` candidates per index (in the index's own order)
before ordering them, so a keystroke costs a few index reads however many customers match; when
a tier has more matches than that, typing more narrows it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from billing_desk.domain.errors import InvalidInput
from billing_desk.store.search import CustomerSearch, Match
from billing_desk.store.uow import UnitOfWork

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_LENGTH = 200
MAX_WORDS = 8

_WORD = re.compile(r"[^\W_]+")

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CustomerHit",
    "Match",
    "SearchQuery",
    "parse_query",
    "search_customers",
]


@dataclass(frozen=True, slots=True)
class CustomerHit:
    id: str
    name: str
    email: str
    stripe_customer_id: str | None
    match: Match

    def to_json(self) -> dict[str, str | None]:
        """The fields CONTRACT.md gives `customers search`."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "stripe_customer_id": self.stripe_customer_id,
        }


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A query as the indexes take it: `text` for identifiers and prefixes (whitespace runs
    collapsed), `words` for names (runs of letters and digits, lowercased, each once)."""

    text: str
    words: tuple[str, ...]


def parse_query(raw: str) -> SearchQuery | None:
    """The searchable form of what was typed; None when there is nothing to search for
    (empty, or only punctuation and spaces)."""
    if len(raw) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            f"search query is too long: {len(raw)} characters (at most {MAX_QUERY_LENGTH})"
        )
    # Compatibility forms fold (full-width letters, ligatures); control and format characters,
    # which no name or identifier holds, separate words like spaces do.
    normalized = "".join(
        " " if unicodedata.category(ch).startswith("C") else ch
        for ch in unicodedata.normalize("NFKC", raw)
    )
    words = tuple(dict.fromkeys(word.lower() for word in _WORD.findall(normalized)))
    if not words:
        return None
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"search query has {len(words)} words (at most {MAX_WORDS})")
    return SearchQuery(text=" ".join(normalized.split()), words=words)


def search_customers(uow: UnitOfWork, query: str, limit: int = DEFAULT_LIMIT) -> list[CustomerHit]:
    """The best `limit` customers for `query`, best first (see the module docstring)."""
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"search limit must be between 1 and {MAX_LIMIT}, got {limit}")
    parsed = parse_query(query)
    if parsed is None:
        return []
    hits: dict[str, CustomerHit] = {}
    # Best first; each index was read for `limit` candidates, so after dropping those a better
    # tier already holds, the `limit - len(hits)` still wanted remain whenever a tier has them.
    for found in CustomerSearch(uow.session).candidates(parsed.text, parsed.words, limit):
        if len(hits) == limit:
            break
        if found.id not in hits:
            hits[found.id] = CustomerHit(
                found.id, found.name, found.email, found.stripe_customer_id, found.match
            )
    return list(hits.values())
