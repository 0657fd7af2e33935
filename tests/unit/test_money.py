"""Money: Stripe's currency table, the rounding rule of CONTRACT.md, parsing and formatting."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.domain.currencies import (
    SUPPORTED,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    currency,
    is_supported,
)
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.money import (
    MAX_MINOR,
    CurrencyMismatch,
    Money,
    format_minor,
    format_money,
    line_amount,
    parse_major,
)

CODES = sorted(SUPPORTED)
# Decimals the ledger accepts: up to 12 places, up to 1e12.
decimals = st.decimals(
    min_value=Decimal(0), max_value=Decimal(10**12), places=12, allow_nan=False
).map(lambda d: d.normalize())


def _reference(quantity: Decimal, unit: Decimal, step: int) -> int:
    """Round half away from zero, computed with exact fractions independently of decimal."""
    exact = Fraction(quantity) * Fraction(unit) / step
    sign = -1 if exact < 0 else 1
    whole, rest = divmod(abs(exact), 1)
    return sign * int(whole + (1 if rest >= Fraction(1, 2) else 0)) * step


def test_stripe_currency_table() -> None:
    zero = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd"}
    assert zero | {"vuv", "xaf", "xof", "xpf"} == ZERO_DECIMAL
    assert {"bhd", "jod", "kwd", "omr", "tnd"} == THREE_DECIMAL
    for code in ZERO_DECIMAL - {"ugx"}:
        assert (currency(code).exponent, currency(code).step) == (0, 1)
    for code in THREE_DECIMAL:
        assert (currency(code).exponent, currency(code).step) == (3, 10)
    assert (currency("usd").exponent, currency("eur").step) == (2, 1)
    # Special cases: ISK two-decimal but whole krónur; HUF/TWD whole units only for payouts.
    assert (currency("isk").exponent, currency("isk").step) == (2, 100)
    for code in ("huf", "twd"):
        assert (currency(code).exponent, currency(code).step) == (2, 1)
        assert currency(code).payout_step == 100
    # UGX: on Stripe's zero-decimal list, but the API takes 5 UGX as 500 (special cases).
    assert (currency("ugx").exponent, currency("ugx").step) == (2, 100)


def test_unsupported_and_upper_case_currencies_are_refused() -> None:
    assert is_supported("usd")
    assert not is_supported("USD")
    assert not is_supported("xyz")
    with pytest.raises(InvalidInput, match="lower case"):
        currency("USD")
    with pytest.raises(InvalidInput, match="not a currency Stripe supports"):
        currency("xyz")


@pytest.mark.parametrize(
    ("quantity", "unit", "code", "expected"),
    [
        ("3", "0.5", "usd", 2),  # 1.5 -> 2: half away from zero
        ("5", "0.5", "usd", 3),  # 2.5 -> 3, not banker's 2
        ("1", "0.4999999999", "usd", 0),
        ("2", "12.345", "jpy", 25),  # 24.69 yen
        ("1", "5124", "kwd", 5120),  # three-decimal: multiple of 10
        ("1", "5125", "kwd", 5130),
        ("1", "1250", "isk", 1300),  # whole krónur
        ("1", "1249", "isk", 1200),
        ("3", "150", "ugx", 500),  # 450 -> 500: whole shillings
        ("0", "99", "usd", 0),
        ("1000000000000", "0.000000000001", "usd", 1),
    ],
)
def test_line_amount_examples(quantity: str, unit: str, code: str, expected: int) -> None:
    assert line_amount(Decimal(quantity), Decimal(unit), code) == expected


@given(decimals, decimals, st.sampled_from(CODES))
def test_line_amount_is_the_exact_product_rounded_half_away_from_zero(
    quantity: Decimal, unit: Decimal, code: str
) -> None:
    step = currency(code).step
    amount = line_amount(quantity, unit, code)
    assert amount == _reference(quantity, unit, step)
    assert amount % step == 0
    assert abs(Fraction(amount) - Fraction(quantity) * Fraction(unit)) <= Fraction(step, 2)
    assert line_amount(-quantity, unit, code) == -amount  # symmetric around zero


@given(st.integers(0, 10**12), st.integers(0, 10**6), st.sampled_from(CODES))
def test_line_amount_of_integers_is_exact_up_to_the_step(q: int, u: int, code: str) -> None:
    step = currency(code).step
    if step == 1:
        assert line_amount(q, u, code) == q * u


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(TypeError, match="never float"):
        line_amount(1.5, Decimal(1), "usd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(1.5, "usd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_minor(1.5, "usd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        line_amount(True, Decimal(1), "usd")


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        ("12.50", "usd", 1250),
        ("12.5", "usd", 1250),
        ("12.500", "usd", 1250),  # trailing zeros carry no extra precision
        ("0.01", "usd", 1),
        ("500", "jpy", 500),
        ("500.0", "jpy", 500),
        ("5.120", "kwd", 5120),
        ("12", "isk", 1200),
        ("5", "ugx", 500),
        ("10.45", "huf", 1045),
        (" 7 ", "eur", 700),
    ],
)
def test_parse_major(text: str, code: str, expected: int) -> None:
    assert parse_major(text, code) == expected


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("1.234", "usd", "USD takes at most 2 decimals"),
        ("5.5", "jpy", "JPY takes no decimals"),
        ("5.124", "kwd", r"multiples of 0\.010 KWD"),
        ("12.50", "isk", r"multiples of 1\.00 ISK"),
        ("5.50", "ugx", r"multiples of 1\.00 UGX"),
        ("-1", "usd", "must not be negative"),
        ("1e3", "usd", "not a decimal number"),
        ("1,000.00", "usd", "not a decimal number"),
        ("", "usd", "not a decimal number"),
        ("NaN", "usd", "not a decimal number"),
        ("12", "XYZ", "not a currency Stripe supports"),
        ("99999999999999999999", "usd", "too large"),
    ],
)
def test_parse_major_refuses_with_a_clear_reason(text: str, code: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_major(text, code)


def test_parse_major_negative_when_allowed() -> None:
    assert parse_major("-2.50", "usd", allow_negative=True) == -250


@given(st.sampled_from(CODES), st.integers(-(10**15), 10**15))
def test_format_then_parse_round_trips(code: str, units: int) -> None:
    minor = units * currency(code).step
    text = format_minor(minor, code)
    assert parse_major(text, code, allow_negative=True) == minor


def test_format_minor() -> None:
    assert format_minor(1250, "usd") == "12.50"
    assert format_minor(-5, "usd") == "-0.05"
    assert format_minor(500, "jpy") == "500"
    assert format_minor(5120, "kwd") == "5.120"
    assert format_money(1250, "eur") == "12.50 EUR"
    assert format_minor(MAX_MINOR, "usd").endswith(".07")


def test_money_refuses_mixing_currencies() -> None:
    usd, eur = Money(1250, "usd"), Money(100, "eur")
    assert usd + Money(50, "usd") == Money(1300, "usd")
    assert usd - Money(50, "usd") == Money(1200, "usd")
    assert -usd == Money(-1250, "usd")
    assert Money(1, "usd") < usd <= usd
    assert usd > Money(0, "usd") >= Money.zero("usd")
    assert str(usd) == "12.50 USD"
    assert Money.parse("12.50", "usd") == usd
    with pytest.raises(CurrencyMismatch):
        usd + eur
    with pytest.raises(CurrencyMismatch):
        usd < eur  # noqa: B015
    with pytest.raises(TypeError):
        usd + 1  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        Money(1, "USD")
