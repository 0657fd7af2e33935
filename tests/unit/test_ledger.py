"""The ledger's rules: every increment field, the fast path agreeing with the full decoder, and
how compiled lines count money."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.domain.ledger import (
    FIELDS,
    MAX_QUANTITY,
    IncrementParser,
    RowInvalid,
    billed_amount,
    canonical_decimal,
    compiled_amount,
    customer_problem,
    parse_timestamp,
)
from billing_desk.domain.money import line_amount

GOOD: dict[str, Any] = {
    "event_id": "evt_1",
    "customer": "c0000001",
    "item": "api.calls",
    "description": "API calls",
    "quantity": "12.5",
    "unit_amount": "0.05",
    "currency": "usd",
    "occurred_at": "2026-01-31T23:30:00Z",
}
EXPECTED = (
    "evt_1",
    "c0000001",
    "api.calls",
    "API calls",
    "12.5",
    "0.05",
    "usd",
    "2026-01-31T23:30:00.000000Z",
)


def line(**changes: Any) -> str:
    row = {**GOOD, **changes}
    return json.dumps({k: v for k, v in row.items() if v is not _DROP}, separators=(",", ":"))


_DROP = object()


def parse(text: str) -> tuple[str, ...]:
    return IncrementParser().parse_json_line(text)


def test_a_good_line_in_contract_order_takes_the_fast_path_and_the_full_one_agrees() -> None:
    assert parse(line()) == EXPECTED
    spaced = json.dumps(GOOD)  # whitespace: the full decoder
    assert parse(spaced) == EXPECTED
    reordered = json.dumps(dict(reversed(list(GOOD.items()))))
    assert parse(reordered) == EXPECTED
    assert IncrementParser().parse_fields(GOOD) == EXPECTED


def test_defaults_and_canonical_forms() -> None:
    assert parse(line(description=_DROP))[3] == "api.calls"  # defaults to the item code
    assert parse(line(description=""))[3] == "api.calls"
    assert parse(line(quantity=12, unit_amount=0))[4:6] == ("12", "0")  # JSON integers
    assert parse(line(quantity="012.50"))[4] == "12.5"
    assert parse(line(quantity="1000000000000"))[4] == "1000000000000"  # exactly the maximum
    assert parse(line(quantity="0.000000000001"))[4] == "0.000000000001"
    assert parse(line(quantity="3.1000000000000"))[4] == "3.1"  # trailing zeros are not places
    assert parse(line() + "\r") == EXPECTED  # CRLF files
    assert parse("\ufeff" + line()) == EXPECTED  # a byte order mark


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (line(extra="x"), None, "unknown field 'extra'"),
        (line(quantity=1.5), "quantity", "binary float"),
        (line(unit_amount=0.05), "unit_amount", "binary float"),
        (line(quantity=1e3), "quantity", "float"),
        (line().replace('"12.5"', "1E3"), "quantity", "exponent"),
        (line(quantity="1e3"), "quantity", "exponent"),
        (line().replace('"12.5"', "NaN"), "quantity", "NaN is not a number JSON allows"),
        (line().replace('"12.5"', "Infinity"), "quantity", "Infinity"),
        (line(quantity="-1"), "quantity", "must be >= 0"),
        (line(quantity=-1), "quantity", "must be >= 0"),
        (line(quantity="1000000000000.1"), "quantity", "more than the maximum"),
        (line(quantity=10**13), "quantity", "more than the maximum"),
        (line(quantity="1.0000000000001"), "quantity", "more than 12 decimal places"),
        (line(unit_amount="0.0000000000001"), "unit_amount", "more than 12 decimal places"),
        (line(quantity="12,5"), "quantity", "not a plain decimal"),
        (line(quantity=""), "quantity", "missing or empty"),
        (line(quantity=True), "quantity", "not a boolean"),
        (line(quantity=None), "quantity", "missing or empty"),
        (line(quantity=_DROP), "quantity", "missing or empty"),
        (line(event_id=""), "event_id", "missing or empty"),
        (line(event_id="e" * 256), "event_id", "at most 255"),
        (line(event_id=7), "event_id", "must be a string, not a number"),
        (line(customer=_DROP), "customer", "missing or empty"),
        (line(item="API.calls"), "item", "not an item code"),
        (line(item="-calls"), "item", "not an item code"),
        (line(item="a" * 129), "item", "not an item code"),
        (line(description="d" * 501), "description", "at most 500"),
        (line(currency="USD"), "currency", "must be lower case"),
        (line(currency="xyz"), "currency", "not a currency Stripe supports"),
        (line(occurred_at="2026-01-31T23:30:00"), "occurred_at", "with an offset"),
        (line(occurred_at="2026-01-31 23:30:00Z"), "occurred_at", "RFC 3339"),
        (line(occurred_at="2026-02-30T00:00:00Z"), "occurred_at", "not a valid date"),
        (line(occurred_at="2026-01-31T23:30:00+25:00"), "occurred_at", "impossible UTC offset"),
        (line(occurred_at=1767225600), "occurred_at", "must be a string"),
        (line(description="nul\u0000"), "description", "contains a NUL character"),
        ("", None, "empty line"),
        ("   ", None, "empty line"),
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object, not an array"),
        ('{"event_id": "a", "event_id": "b"}', None, "'event_id' appears more than once"),
    ],
)
def test_each_bad_field_is_named_with_its_reason(text: str, field: str | None, words: str) -> None:
    with pytest.raises(RowInvalid) as caught:
        parse(text)
    assert caught.value.field == field
    assert words in str(caught.value)
    if field is not None:
        assert str(caught.value).startswith(f"{field}: ")


def test_timestamps_become_utc_and_their_utc_month_is_the_period() -> None:
    assert parse_timestamp("2026-02-01T01:30:00+02:00") == "2026-01-31T23:30:00.000000Z"
    assert parse_timestamp("2026-01-31T20:00:00-05:00") == "2026-02-01T01:00:00.000000Z"
    assert parse_timestamp("2026-01-01t00:00:00.123456789z") == "2026-01-01T00:00:00.123456Z"
    assert parse_timestamp("2026-03-01T00:00:00-00:00") == "2026-03-01T00:00:00.000000Z"
    row = parse(line(occurred_at="2026-02-01T00:59:59+01:00"))
    assert row[7][:7] == "2026-01"


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+02:20", "9999-12-31T23:00:00-02:00"])
def test_a_time_that_leaves_the_calendar_in_utc_is_an_invalid_row(text: str) -> None:
    with pytest.raises(RowInvalid, match="outside the years 1 to 9999"):
        parse_timestamp(text)


def test_customer_problems() -> None:
    row = parse(line())
    assert customer_problem(row, "usd") is None
    missing = customer_problem(row, None)
    assert missing is not None
    assert str(missing) == "customer: 'c0000001' is not an imported customer"
    other = customer_problem(row, "eur")
    assert other is not None
    assert str(other).startswith("currency: 'usd' differs from customer 'c0000001'")


# Rows of valid values, written in the contract's order (fast path) and shuffled (full path).
decimal_texts = st.decimals(
    min_value=Decimal(0), max_value=MAX_QUANTITY, places=12, allow_nan=False
).map(lambda d: format(d, "f"))
rows = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=255),
        "customer": st.text(min_size=1, max_size=40),
        "item": st.from_regex(r"[a-z0-9][a-z0-9._:-]{0,20}", fullmatch=True),
        "description": st.text(min_size=1, max_size=500),
        "quantity": decimal_texts | st.integers(0, 10**12),
        "unit_amount": decimal_texts,
        "currency": st.sampled_from(["usd", "eur", "jpy", "kwd", "isk"]),
        "occurred_at": st.datetimes(timezones=st.timezones()).map(
            lambda d: d.isoformat(timespec="seconds")
        ),
    }
)


@given(rows, st.randoms())
def test_fast_path_and_full_decoder_agree(row: dict[str, Any], random: Any) -> None:
    fast = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
    keys = list(row)
    random.shuffle(keys)
    slow = json.dumps({k: row[k] for k in keys}, indent=1)
    try:
        expected = IncrementParser().parse_fields(row)
    except RowInvalid:  # e.g. a generated timestamp outside what RFC 3339 allows
        with pytest.raises(RowInvalid):
            parse(fast)
        return
    assert parse(fast) == expected
    assert parse(slow) == expected
    assert expected[4] == canonical_decimal(Decimal(str(row["quantity"])))


def test_every_field_of_the_contract_is_known() -> None:
    assert set(GOOD) == set(FIELDS)


@given(
    st.lists(decimal_texts, min_size=1, max_size=50),
    decimal_texts,
    st.sampled_from(["usd", "jpy", "kwd"]),
)
def test_a_line_is_the_exact_sum_rounded_once(
    quantities: list[str], unit: str, currency: str
) -> None:
    total = sum((Decimal(q) for q in quantities), Decimal(0))
    if total * Decimal(unit) > 10**18:
        return
    assert compiled_amount(total, Decimal(unit), currency) == line_amount(
        total, Decimal(unit), currency
    )


def test_billed_amount_keeps_corrections_and_voids() -> None:
    assert billed_amount(500, old_compiled=400, old_amount=400, voided=False) == 500
    # A correction added 100 on top of the compiled amount: it stays on top.
    assert billed_amount(500, old_compiled=400, old_amount=500, voided=False) == 600
    assert billed_amount(500, old_compiled=400, old_amount=0, voided=True) == 0


def test_a_block_parsed_whole_gives_the_same_rows_as_line_by_line() -> None:
    lines = [
        line(event_id=f"e{n}", occurred_at=f"2026-01-0{1 + n}T10:00:00+02:00") for n in range(5)
    ]
    block = IncrementParser().parse_json_block("\n".join(lines))
    assert block == [parse(text) for text in lines]
    # Anything off the fast path, however harmless, sends the caller line by line.
    odds = ("", line() + "\r", json.dumps(GOOD), line(currency="xyz"), line(occurred_at="x"))
    for odd in (*odds, line(item="API.calls"), line(item="a" * 129)):
        assert IncrementParser().parse_json_block("\n".join([line(), odd, line()])) is None
