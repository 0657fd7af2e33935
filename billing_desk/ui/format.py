"""Numbers as an agent reads them: grouped thousands, the currency's own decimals, signs that
stand out. The exact arithmetic stays in `domain.money`; this only lays the digits out."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from billing_desk.domain.currencies import currency
from billing_desk.domain.money import format_minor


def _group(number: str) -> str:
    sign = "-" if number.startswith("-") else ""
    whole, dot, part = number.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{part}"


def money(amount: int, code: str) -> str:
    """1234567 usd -> "12,345.67 USD"; 500 jpy -> "500 JPY"."""
    return f"{_group(format_minor(amount, code))} {code.upper()}"


def amount(amount: int, code: str) -> str:
    """Like `money` without the currency code, for table cells under a currency header."""
    return _group(format_minor(amount, code))


def signed(amount: int, code: str) -> str:
    """A difference: "+5.00", "−5.00" (a true minus sign), "0.00"."""
    text = _group(format_minor(abs(amount), code))
    if amount > 0:
        return f"+{text}"
    if amount < 0:
        return f"\u2212{text}"
    return text


def quantity(value: Decimal) -> str:
    """Exact, grouped, without trailing zeros: Decimal("240000.500") -> "240,000.5"."""
    text = format(value.normalize(), "f") if value else "0"
    return _group(text)


def unit_price(minor: Decimal, code: str) -> str:
    """A unit price kept in minor units (`unit_amount_decimal`) shown in major units, exactly:
    Decimal("0.05") usd -> "0.0005"; Decimal("1200") usd -> "12.00"."""
    exponent = currency(code).exponent
    major = (minor / (Decimal(10) ** exponent)).normalize()
    text = format(major, "f")
    whole, _, part = text.partition(".")
    part = part.ljust(exponent, "0")
    return _group(f"{whole}.{part}" if part else whole)


def countdown(until: datetime, now: datetime) -> str:
    """Time left before a moment, coarse enough to read at a glance: "in 2 h 05 min"."""
    left = until - now
    if left <= timedelta(0):
        return "due now"
    minutes = int(left.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {mins:02d} min"
    return f"in {max(mins, 1)} min"
