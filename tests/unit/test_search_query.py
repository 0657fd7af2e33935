"""What a typed search query becomes before it reaches an index (no database here)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.domain.errors import InvalidInput
from billing_desk.services.search import (
    MAX_QUERY_LENGTH,
    MAX_WORDS,
    CustomerHit,
    Match,
    SearchQuery,
    parse_query,
)
from billing_desk.store.search import fts5_words_query, like_prefix


@pytest.mark.parametrize("raw", ["", "   ", "!!!", "—", '"*"', "()", "-", "_", "\x00\x01\t"])
def test_nothing_to_search_for(raw: str) -> None:
    assert parse_query(raw) is None


@pytest.mark.parametrize(
    ("raw", "text", "words"),
    [
        ("  Sarah   SMITH ", "Sarah SMITH", ("sarah", "smith")),
        ("smith, sarah", "smith, sarah", ("smith", "sarah")),
        ("O'Brien-Jones", "O'Brien-Jones", ("o", "brien", "jones")),
        ("ann ANN Ann", "ann ANN Ann", ("ann",)),
        ("first_last@x.io", "first_last@x.io", ("first", "last", "x", "io")),
        ("Ｊｏｈｎ", "John", ("john",)),
        ("a\x00b\u200bc", "a b c", ("a", "b", "c")),
        ("山田 太郎", "山田 太郎", ("山田", "太郎")),
        ("José", "José", ("josé",)),
        ("cus_Q1w2E3", "cus_Q1w2E3", ("cus", "q1w2e3")),
    ],
)
def test_text_and_words(raw: str, text: str, words: tuple[str, ...]) -> None:
    assert parse_query(raw) == SearchQuery(text=text, words=words)


def test_too_long_a_query_is_refused() -> None:
    assert parse_query("a" * MAX_QUERY_LENGTH) is not None
    with pytest.raises(InvalidInput, match="search query is too long"):
        parse_query("a" * (MAX_QUERY_LENGTH + 1))


def test_too_many_words_are_refused() -> None:
    assert parse_query(" ".join(f"w{i}" for i in range(MAX_WORDS))) is not None
    with pytest.raises(InvalidInput, match=f"at most {MAX_WORDS}"):
        parse_query(" ".join(f"w{i}" for i in range(MAX_WORDS + 1)))


@given(st.text(max_size=MAX_QUERY_LENGTH))
def test_any_text_parses_to_plain_words(raw: str) -> None:
    try:
        parsed = parse_query(raw)
    except InvalidInput as exc:
        # Text of an allowed length is refused only for its number of words.
        assert f"at most {MAX_WORDS}" in str(exc)  # noqa: PT017
        return
    if parsed is None:
        return
    assert parsed.words
    assert len(set(parsed.words)) == len(parsed.words)
    assert all(re.fullmatch(r"[^\W_]+", word) for word in parsed.words)
    assert parsed.text == " ".join(parsed.text.split())
    assert parsed.text.isprintable()


def test_fts5_query_quotes_every_word() -> None:
    assert fts5_words_query(["sarah"]) == '"sarah"*'
    assert fts5_words_query(["near", 'a"b']) == '"near"* AND "a""b"*'


def test_like_prefix_escapes_wildcards() -> None:
    assert like_prefix("sarah.sm") == "sarah.sm%"
    assert like_prefix("a%b_c\\") == "a\\%b\\_c\\\\%"


def test_tiers_follow_the_order_matches_are_listed_in() -> None:
    tiers = [match.tier for match in Match]
    assert tiers == sorted(tiers)
    assert {Match.ID.tier, Match.EMAIL.tier, Match.STRIPE_ID.tier} == {0}
    assert Match.NAME_WORDS.tier == max(tiers)


def test_hit_json_is_the_contract_fields_and_hits_are_frozen() -> None:
    hit = CustomerHit("c1", "Sarah Smith", "s@x.io", None, Match.NAME_PREFIX)
    assert hit.to_json() == {
        "id": "c1",
        "name": "Sarah Smith",
        "email": "s@x.io",
        "stripe_customer_id": None,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.name = "x"  # type: ignore[misc]
