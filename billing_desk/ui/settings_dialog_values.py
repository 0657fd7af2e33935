"""The settings dialog's values, without widgets: durations and limits as people type them, and
the changes to save (only the settings that differ), in the JSON form the store keeps.

Bad input raises `InvalidInput` naming the field, so the dialog can say it before saving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from billing_desk.domain.currencies import currency
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.policy import Role
from billing_desk.domain.settings import Settings
from billing_desk.services.close import parse_duration

ANY_CURRENCY = "*"
_LIMIT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_duration(value: timedelta) -> str:
    """In the largest whole unit: 86400 s -> "1d", 5400 s -> "90m", 0 -> "0"."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def read_duration(field: str, text: str, *, minimum: timedelta = timedelta(0)) -> timedelta:
    try:
        value = parse_duration(text.strip())
    except InvalidInput:
        raise InvalidInput(
            f"{field}: {text.strip()!r} is not 0 or a number with a unit s, m, h or d (e.g. 24h)"
        ) from None
    if value < minimum:
        raise InvalidInput(f"{field} must be at least {format_duration(minimum)}")
    return value


def read_rate(field: str, text: str) -> float:
    """Requests per second (a rate, not money: a float is what the limiter takes)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(
            f"{field}: {text.strip()!r} is not a number of requests per second"
        ) from None
    if not value.is_finite() or value <= 0 or value > 1000:
        raise InvalidInput(f"{field} must be more than 0 and at most 1000 requests per second")
    return float(value)


@dataclass(frozen=True)
class LimitRow:
    """One line of the limits table as typed: a role, a currency (or "*"), an amount."""

    role: str
    currency: str
    amount: str


def read_limits(rows: list[LimitRow]) -> dict[str, dict[str, Decimal]]:
    """The limits table, checked: known roles, supported currencies, plain decimals in the
    currency's major unit with no more decimals than it has, one row per role and currency."""
    limits: dict[str, dict[str, Decimal]] = {}
    for number, row in enumerate(rows, start=1):
        where = f"limits row {number}"
        try:
            role = Role(row.role)
        except ValueError:
            raise InvalidInput(f"{where}: role {row.role!r} is not agent, lead or admin") from None
        code = row.currency.strip().lower() or ANY_CURRENCY
        exponent = 2
        if code != ANY_CURRENCY:
            try:
                exponent = currency(code).exponent
            except InvalidInput:
                raise InvalidInput(
                    f"{where}: {row.currency!r} is not a currency Stripe supports"
                ) from None
        text = row.amount.strip()
        if not _LIMIT_RE.fullmatch(text):
            raise InvalidInput(f"{where}: limit {text!r} is not an amount like 25.00")
        amount = Decimal(text)
        places = len(text.partition(".")[2])
        if places > exponent:
            raise InvalidInput(
                f"{where}: {code.upper()} takes at most {exponent} decimals, not {text!r}"
            )
        table = limits.setdefault(role.value, {})
        if code in table:
            raise InvalidInput(f"{where}: {role.value} already has a limit for {code.upper()}")
        table[code] = amount
    return limits


def limit_rows(settings: Settings) -> list[LimitRow]:
    return [
        LimitRow(role, code, format(amount, "f"))
        for role, table in settings.limits.items()
        for code, amount in table.items()
    ]


@dataclass(frozen=True)
class TeamForm:
    """The team settings as typed in the dialog."""

    sync_interval: str
    finalize_grace: str
    approval_warning: str
    rate_limit_test: str
    rate_limit_live: str
    limits: list[LimitRow]


def team_form(settings: Settings) -> TeamForm:
    return TeamForm(
        sync_interval=format_duration(settings.sync_interval),
        finalize_grace=format_duration(settings.finalize_grace),
        approval_warning=format_duration(settings.approval_warning),
        rate_limit_test=_rate_text(settings.rate_limit_test),
        rate_limit_live=_rate_text(settings.rate_limit_live),
        limits=limit_rows(settings),
    )


def _rate_text(value: float) -> str:
    return f"{value:g}"


def changed_settings(current: Settings, form: TeamForm) -> dict[str, Any]:
    """The settings `form` changes, as {key: JSON value}; `InvalidInput` names a bad field."""
    wanted = Settings(
        sync_interval=read_duration(
            "Sync interval", form.sync_interval, minimum=timedelta(minutes=1)
        ),
        finalize_grace=read_duration("Grace period", form.finalize_grace),
        approval_warning=read_duration("Flag approvals within", form.approval_warning),
        rate_limit_test=read_rate("Test-mode request rate", form.rate_limit_test),
        rate_limit_live=read_rate("Live-mode request rate", form.rate_limit_live),
        limits=read_limits(form.limits),
    )
    before, after = current.to_json(), wanted.to_json()
    return {key: value for key, value in after.items() if before.get(key) != value}
