"""Money: integer minor units and exact `Decimal`s, never binary floats.

- `line_amount` is CONTRACT.md's rounding rule: quantity × unit amount computed exactly, rounded
  half away from zero to an integer number of minor units (a multiple of 10 for Stripe's
  three-decimal currencies, of 100 for ISK: see `currencies`).
- `parse_major` reads what people type on the command line (`12.50` USD -> 1250).
- `format_minor` shows minor units as the major-unit decimal (1250 USD -> "12.50").
- `Money` is a value type (electrum style) that refuses floats and mixing currencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Self

from billing_desk.domain.currencies import Currency, currency
from billing_desk.domain.errors import InvalidInput

# What the store's BIGINT columns hold; every amount the app keeps fits in it.
MAX_MINOR = 2**63 - 1

# Products of exact decimals are exact: enough digits for any product of two stored values
# (at most 38 digits each), and a trap so a silent rounding could never go unnoticed.
_EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow, DivisionByZero])
# decimal's ROUND_HALF_UP is "half away from zero" (-2.5 -> -3), the rule of CONTRACT.md.
_ROUND = Context(prec=100, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])
_ONE = Decimal(1)
_MAJOR_RE = re.compile(r"(-)?([0-9]+)(?:\.([0-9]+))?")


class CurrencyMismatch(TypeError):
    """Two amounts in different currencies were combined: always a bug, never user input."""


def _exact(value: Decimal | int, what: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{what} must be a Decimal or an int, never {type(value).__name__}")


def round_to_step(value: Decimal, step: int) -> int:
    """`value` rounded half away from zero to a multiple of `step` (1, 10 or 100) minor units."""
    if step == 1:
        return int(_ROUND.quantize(value, _ONE))
    shift = len(str(step)) - 1  # step is a power of ten: scaling by it is exact
    return int(_ROUND.quantize(value.scaleb(-shift), _ONE)) * step


def line_amount(quantity: Decimal | int, unit_amount: Decimal | int, code: str) -> int:
    """The amount of a line in minor units: quantity × unit_amount, exactly, then rounded."""
    rules = currency(code)
    product = _EXACT.multiply(_exact(quantity, "quantity"), _exact(unit_amount, "unit_amount"))
    return round_to_step(product, rules.step)


def _step_text(rules: Currency) -> str:
    return f"{format_minor(rules.step, rules.code)} {rules.code.upper()}"


def parse_major(text: str, code: str, *, allow_negative: bool = False) -> int:
    """A decimal in the currency's major unit (`12.50` USD, `500` JPY) as integer minor units.

    Raises `InvalidInput` naming the problem: not a plain decimal (no exponents, no thousands
    separators), a negative amount where none is allowed, more decimals than the currency has,
    or an amount Stripe cannot charge (three-decimal currencies: multiples of 0.010; ISK: whole
    krónur).
    """
    rules = currency(code)
    match = _MAJOR_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"amount {text!r} is not a decimal number like 12.50")
    negative, whole, fraction = match[1] is not None, match[2], (match[3] or "").rstrip("0")
    if negative and not allow_negative:
        raise InvalidInput(f"amount {text!r} must not be negative")
    if len(fraction) > rules.exponent:
        places = "no decimals" if rules.exponent == 0 else f"at most {rules.exponent} decimals"
        raise InvalidInput(f"amount {text!r}: {rules.code.upper()} takes {places}")
    minor = int(whole) * rules.minor_per_major + int(fraction.ljust(rules.exponent, "0") or 0)
    if minor % rules.step:
        raise InvalidInput(
            f"amount {text!r}: Stripe charges {rules.code.upper()} only in multiples of "
            f"{_step_text(rules)}"
        )
    if minor > MAX_MINOR:
        raise InvalidInput(f"amount {text!r} is too large")
    return -minor if negative else minor


def format_minor(amount: int, code: str) -> str:
    """Minor units as the major-unit decimal: 1250 USD -> "12.50", 500 JPY -> "500"."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"amounts are integer minor units, not {type(amount).__name__}")
    exponent = currency(code).exponent
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{part:0{exponent}d}" if exponent else f"{sign}{whole}"


def format_money(amount: int, code: str) -> str:
    """For people: "12.50 USD", "500 JPY"."""
    return f"{format_minor(amount, code)} {code.upper()}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of one currency in integer minor units.

    Refuses floats (and bools) at construction, and refuses to add, subtract or compare amounts
    of different currencies (`CurrencyMismatch`).
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError(f"Money needs integer minor units, not {type(self.minor).__name__}")
        currency(self.currency)

    @classmethod
    def zero(cls, code: str) -> Self:
        return cls(0, code)

    @classmethod
    def parse(cls, text: str, code: str, *, allow_negative: bool = True) -> Self:
        return cls(parse_major(text, code, allow_negative=allow_negative), code)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency.upper()} with {other.currency.upper()}"
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.minor + self._same(other).minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.minor - self._same(other).minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.minor < self._same(other).minor

    def __le__(self, other: Money) -> bool:
        return self.minor <= self._same(other).minor

    def __gt__(self, other: Money) -> bool:
        return self.minor > self._same(other).minor

    def __ge__(self, other: Money) -> bool:
        return self.minor >= self._same(other).minor

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)
