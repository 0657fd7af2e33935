"""The ledger's rules: what a valid usage increment is (CONTRACT.md "Usage increments") and how
increments compile into lines. Pure functions and one stateful parser; no I/O.

A parsed increment is a plain tuple (see `IncrementRow`), because ingest handles millions of them
and a tuple is the cheapest record Python has. Decimal fields are kept as canonical decimal text
(`Decimal.normalize()` written without exponent: "1.5", "100", "0"), so equal values compare
equal as text and the store can keep them exactly as given.

`IncrementParser.parse_json_line` has a fast path: one precompiled regular expression that
recognises a line in the contract's field order whose strings need no JSON unescaping. Anything
else (other field orders, escapes, whitespace, floats, bad JSON) goes through the full JSON
decoder, which is slower but applies exactly the same rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any, Final

from billing_desk.domain.currencies import SUPPORTED, is_supported
from billing_desk.domain.money import MAX_MINOR, line_amount

FIELDS: Final = (
    "event_id",
    "customer",
    "item",
    "description",
    "quantity",
    "unit_amount",
    "currency",
    "occurred_at",
)
REQUIRED: Final = frozenset(FIELDS) - {"description"}
_KNOWN = frozenset(FIELDS)

MAX_EVENT_ID = 255
MAX_DESCRIPTION = 500
MAX_PLACES = 12
MAX_QUANTITY = Decimal(10**12)
# The contract bounds quantity only; unit amounts get the same bound so every product fits the
# store's exact columns (NUMERIC(38, 12)).
MAX_UNIT_AMOUNT = Decimal(10**12)
ITEM_PATTERN: Final = r"[a-z0-9][a-z0-9._:-]{0,127}"
_ITEM = re.compile(ITEM_PATTERN)

# (event_id, customer, item, description, quantity, unit_amount, currency, occurred_at)
# quantity/unit_amount: canonical decimal text; occurred_at: UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ".
IncrementRow = tuple[str, str, str, str, str, str, str, str]
EVENT_ID, CUSTOMER, ITEM, DESCRIPTION, QUANTITY, UNIT_AMOUNT, CURRENCY, OCCURRED_AT = range(8)

# Sums of quantities stay exact: a trap turns any rounding into an error instead of a lost cent.
EXACT: Final = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow])


class RowInvalid(ValueError):
    """One row breaks a rule; `str()` is the reason, naming the field."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field


# --- decimals ---------------------------------------------------------------------------------

# Already canonical, below 1e12, at most 12 places: the common case, accepted as is.
_CANONICAL = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{0,11}[1-9])?")
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def canonical_decimal(value: Decimal) -> str:
    """The one text form of a decimal: no exponent, no trailing zeros ("1.50" -> "1.5")."""
    return format(value.normalize(EXACT), "f") if value else "0"


def _check_decimal(text: str, field: str, maximum: Decimal) -> str:
    """Validate a decimal string in full and return its canonical text."""
    if _PLAIN.fullmatch(text) is None:
        if text.startswith("-") and _PLAIN.fullmatch(text[1:]):
            raise RowInvalid(f"{text!r} is negative; it must be >= 0", field)
        if "e" in text.lower() and not text.lower().strip("+-").startswith(("inf", "nan")):
            raise RowInvalid(f"{text!r} has an exponent; write it as a plain decimal", field)
        raise RowInvalid(f"{text!r} is not a plain decimal number like 12.5", field)
    _, _, fraction = text.partition(".")
    if len(fraction.rstrip("0")) > MAX_PLACES:
        raise RowInvalid(f"{text!r} has more than {MAX_PLACES} decimal places", field)
    value = Decimal(text)
    if value > maximum:
        raise RowInvalid(f"{text} is more than the maximum {maximum}", field)
    return canonical_decimal(value)


def _check_integer(value: int, field: str, maximum: Decimal) -> str:
    if value < 0:
        raise RowInvalid(f"{value} is negative; it must be >= 0", field)
    if value > maximum:
        raise RowInvalid(f"{value} is more than the maximum {maximum}", field)
    return str(value)


# --- timestamps -------------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_timestamp(text: str, field: str = "occurred_at") -> str:
    """RFC 3339 with an offset (Z or ±HH:MM) as UTC text "YYYY-MM-DDTHH:MM:SS.ffffffZ".

    Fractions finer than a microsecond are cut to microseconds (the store's resolution).
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise RowInvalid(
            f"{text!r} is not an RFC 3339 timestamp with an offset "
            "(like 2026-01-31T23:00:00Z or 2026-02-01T01:00:00+02:00)",
            field,
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        if int(off_h) > 23 or int(off_m) > 59:
            raise RowInvalid(f"{text!r} has an impossible UTC offset", field)
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=timezone(offset),
        )
        utc = local.astimezone(UTC)
    except ValueError as exc:
        raise RowInvalid(f"{text!r} is not a valid date and time ({exc})", field) from None
    except OverflowError:  # e.g. 0001-01-01T00:00:00+02:00 is before year 1 in UTC
        raise RowInvalid(f"{text!r} falls outside the years 1 to 9999 in UTC", field) from None
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- JSON -------------------------------------------------------------------------------------


class _JsonFloat(str):
    """A JSON number with a fraction or exponent, kept as its text so it can be named."""


class _JsonConstant(str):
    """NaN, Infinity or -Infinity, which JSON forbids but Python's decoder accepts."""


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RowInvalid(f"field {key!r} appears more than once")
            seen.add(key)
    return result


_DECODER = json.JSONDecoder(
    parse_float=_JsonFloat,
    parse_constant=_JsonConstant,
    object_pairs_hook=_object_without_repeats,
)

# The fast path: a line in the contract's field order whose values are already valid and
# canonical, so that matching it is the whole validation except the item code, currency and
# timestamp, which repeat and are checked against sets of values already seen. A
# string here is exactly its JSON value (no backslash, quote or control character); decimals are
# canonical, below 1e12, with at most 12 places; integers are JSON integers below 1e12.
_C = r'[^"\\\x00-\x1f]'
_DEC = r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{0,11}[1-9])?"
_INT = r"(?:0|[1-9][0-9]{0,11})"
_FAST_LINE = re.compile(
    rf'\{{"event_id":"({_C}{{1,{MAX_EVENT_ID}}})","customer":"({_C}+)","item":"({_C}+)"'
    rf'(?:,"description":"({_C}{{1,{MAX_DESCRIPTION}}})")?'
    rf',"quantity":(?:"({_DEC})"|({_INT})),"unit_amount":(?:"({_DEC})"|({_INT}))'
    rf',"currency":"([a-z]{{3}})","occurred_at":"({_C}+)"\}}'
)


# The same, matched line by line across a whole block (each match is exactly one line).
_FAST_BLOCK = re.compile(f"^{_FAST_LINE.pattern}$", re.MULTILINE)


def decode_json_object(line: str) -> dict[str, Any]:
    """One JSONL line as an object, or `RowInvalid`: empty lines, bad JSON, repeated keys and
    anything but an object are refused. Floats and NaN/Infinity come back as markers
    (`_JsonFloat`, `_JsonConstant`) for the field rules to name."""
    if not line.strip():
        raise RowInvalid("empty line")
    try:
        value = _DECODER.decode(line)
    except RowInvalid:
        raise
    except json.JSONDecodeError as exc:
        raise RowInvalid(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise RowInvalid(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise RowInvalid(f"a row must be a JSON object, not {_json_type(value)}")
    return value


def json_type(value: Any) -> str:
    """How a decoded JSON value is named in reasons ("a number", "null", "an object"...)."""
    return _json_type(value)


def _describe_json_value(value: Any) -> str:
    if isinstance(value, _JsonConstant):
        return f"{value} is not a number JSON allows"
    if isinstance(value, _JsonFloat):
        if "e" in value.lower():
            return f"the JSON number {value} has an exponent; send a decimal string"
        return (
            f"the JSON number {value} is a binary float (cents would be lost); "
            f'send it as a decimal string "{value}"'
        )
    return f"must be a decimal string or a JSON integer, not {_json_type(value)}"


def _json_type(value: Any) -> str:
    if isinstance(value, _JsonFloat | _JsonConstant):
        return f"the number {value}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


_CACHE_LIMIT = 65_536


class IncrementParser:
    """Validates increments. It remembers the item codes and timestamps it has checked (usage
    comes in hourly batches of a few items, so the same ones repeat) in bounded caches: memory
    stays flat however long the input is."""

    def __init__(self) -> None:
        self._timestamps: dict[str, str] = {}
        self._items: set[str] = set()

    def _remember_items(self, items: set[str]) -> None:
        if len(self._items) + len(items) > _CACHE_LIMIT:
            self._items.clear()
        self._items |= items

    def parse_json_block(self, text: str) -> list[IncrementRow] | None:
        """Lines of JSONL (joined by newlines) as rows, if every one takes the fast path and is
        valid; None otherwise, and the caller goes line by line. One scan of the block by the
        regular expression replaces splitting it and matching each line."""
        found = _FAST_BLOCK.findall(text)
        if len(found) != text.count("\n") + 1:  # a line that did not match: not all fast
            return None
        if not {g[8] for g in found} <= SUPPORTED:
            return None
        new_items = {g[2] for g in found} - self._items
        if new_items:
            if any(_ITEM.fullmatch(item) is None for item in new_items):
                return None
            self._remember_items(new_items)
        stamps = self._timestamps
        needed = {g[9] for g in found}
        missing = needed - stamps.keys()
        if missing:
            if len(stamps) + len(missing) > _CACHE_LIMIT:
                stamps.clear()
                missing = needed
            try:
                for at in missing:
                    stamps[at] = parse_timestamp(at)
            except RowInvalid:
                return None
        return [
            (g[0], g[1], g[2], g[3] or g[2], g[4] or g[5], g[6] or g[7], g[8], stamps[g[9]])
            for g in found
        ]

    def parse_json_line(self, line: str) -> IncrementRow:
        """One JSONL line (without its newline) as a validated row, or `RowInvalid`."""
        match = _FAST_LINE.fullmatch(line)
        if match is None:
            return self._parse_json_slow(line)
        event_id, customer, item, description, q_text, q_int, u_text, u_int, cur, at = (
            match.groups()
        )
        if item not in self._items:
            self._check_item(item)
            self._remember_items({item})
        if cur not in SUPPORTED:
            _check_currency(cur)
        occurred = self._timestamps.get(at)
        if occurred is None:
            occurred = self._timestamp(at)
        return (
            event_id,
            customer,
            item,
            description or item,
            q_text or q_int,
            u_text or u_int,
            cur,
            occurred,
        )

    def _parse_json_slow(self, line: str) -> IncrementRow:
        if line.endswith("\r"):  # a CRLF file: the line itself is fine
            return self.parse_json_line(line[:-1])
        if line.startswith("\ufeff"):  # a byte order mark before the first line
            return self.parse_json_line(line[1:])
        return self.parse_fields(decode_json_object(line))

    def parse_fields(self, fields: Mapping[str, Any]) -> IncrementRow:
        """A row given as a mapping (a decoded JSON object, a CSV record): the full rules."""
        unknown = fields.keys() - _KNOWN
        if unknown:
            names = ", ".join(repr(name) for name in sorted(unknown))
            plural = "s" if len(unknown) > 1 else ""
            raise RowInvalid(f"unknown field{plural} {names}")
        missing = [name for name in FIELDS if name in REQUIRED and fields.get(name) in (None, "")]
        if missing:
            raise RowInvalid("missing or empty", missing[0])
        event_id = self._string(fields["event_id"], "event_id")
        self._check_event_id(event_id)
        customer = self._string(fields["customer"], "customer")
        item = self._string(fields["item"], "item")
        self._check_item(item)
        raw_description = fields.get("description")
        if raw_description in (None, ""):
            description = item
        else:
            description = self._string(raw_description, "description")
            self._check_description(description)
        quantity = self._number(fields["quantity"], "quantity", MAX_QUANTITY)
        unit = self._number(fields["unit_amount"], "unit_amount", MAX_UNIT_AMOUNT)
        currency = self._string(fields["currency"], "currency")
        _check_currency(currency)
        occurred = self._timestamp(self._string(fields["occurred_at"], "occurred_at"))
        return (event_id, customer, item, description, quantity, unit, currency, occurred)

    # -- field rules (slow paths; they raise with the reason or fill a cache) ------------------

    @staticmethod
    def _string(value: Any, field: str) -> str:
        if type(value) is not str:
            raise RowInvalid(f"must be a string, not {_json_type(value)}", field)
        if "\x00" in value:  # PostgreSQL text cannot hold it; refused on both backends
            raise RowInvalid("contains a NUL character (\\u0000)", field)
        return value

    @staticmethod
    def _check_event_id(event_id: str) -> None:
        if not event_id:
            raise RowInvalid("must not be empty", "event_id")
        if len(event_id) > MAX_EVENT_ID:
            raise RowInvalid(f"is {len(event_id)} characters; at most {MAX_EVENT_ID}", "event_id")

    @staticmethod
    def _check_item(item: str) -> None:
        if _ITEM.fullmatch(item) is None:
            raise RowInvalid(
                f"{item!r} is not an item code ({ITEM_PATTERN}: lower-case letters, digits, "
                "'.', '_', ':', '-', at most 128)",
                "item",
            )

    @staticmethod
    def _check_description(description: str) -> None:
        if len(description) > MAX_DESCRIPTION:
            raise RowInvalid(
                f"is {len(description)} characters; at most {MAX_DESCRIPTION}", "description"
            )

    @staticmethod
    def _number(value: Any, field: str, maximum: Decimal) -> str:
        if type(value) is str:
            return value if _CANONICAL.fullmatch(value) else _check_decimal(value, field, maximum)
        if type(value) is int:
            return _check_integer(value, field, maximum)
        raise RowInvalid(_describe_json_value(value), field)

    def _timestamp(self, text: str) -> str:
        utc = parse_timestamp(text)
        if len(self._timestamps) >= _CACHE_LIMIT:
            self._timestamps.clear()
        self._timestamps[text] = utc
        return utc


def _check_currency(code: str) -> None:
    if is_supported(code):
        return
    if code.lower() in SUPPORTED:
        raise RowInvalid(f"{code!r} must be lower case ({code.lower()!r})", "currency")
    raise RowInvalid(f"{code!r} is not a currency Stripe supports", "currency")


def customer_problem(row: IncrementRow, customer_currency: str | None) -> RowInvalid | None:
    """Why a well-formed row still cannot be taken: its customer is unknown or bills in
    another currency. `customer_currency` is the customer's currency, None if not imported."""
    if customer_currency is None:
        return RowInvalid(f"{row[CUSTOMER]!r} is not an imported customer", "customer")
    if customer_currency != row[CURRENCY]:
        return RowInvalid(
            f"{row[CURRENCY]!r} differs from customer {row[CUSTOMER]!r}'s currency "
            f"{customer_currency!r}",
            "currency",
        )
    return None


# --- compiling lines --------------------------------------------------------------------------


@dataclass(slots=True)
class LineDelta:
    """What one ingest call adds to one line: a quantity, a count, the usage time span, and
    the description a new line takes (its first increment's). A row's period is the first
    seven characters of its UTC timestamp ("YYYY-MM")."""

    quantity: Decimal
    count: int
    first_usage: str
    last_usage: str
    description: str


class LineTooLarge(ValueError):
    """A compiled line's amount left the range the store (and Stripe) can hold."""


def compiled_amount(quantity: Decimal, unit_amount: Decimal, currency: str) -> int:
    """The amount increments compile to (`money.line_amount`), refused if it cannot be stored."""
    amount = line_amount(quantity, unit_amount, currency)
    if abs(amount) > MAX_MINOR:
        raise LineTooLarge(
            f"a line of {quantity} × {unit_amount} {currency} comes to {amount} minor units, "
            "more than can be billed"
        )
    return amount


def billed_amount(new_compiled: int, *, old_compiled: int, old_amount: int, voided: bool) -> int:
    """The amount a line bills after its compiled amount changed from `old_compiled`.

    The corrections hook: whatever corrections added on top of the compiled amount (the
    difference `old_amount - old_compiled`) is kept; a voided line bills nothing. With no
    corrections this is simply the compiled amount.
    """
    if voided:
        return 0
    return new_compiled + (old_amount - old_compiled)
