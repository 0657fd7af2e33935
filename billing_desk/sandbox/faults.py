"""Stripe's failure modes, as switches: rate limit, latency, random 500s, dropped responses,
an outage. The server-wide values come from the CLI flags; each account may override them
at runtime through `/_sandbox/config`, so a test can turn a fault on for itself alone.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from billing_desk.sandbox.errors import StripeError


@dataclass(frozen=True)
class FaultConfig:
    rate_limit: float | None = None  # requests per second per account; None = unlimited
    latency_ms: float = 0.0
    latency_jitter_ms: float | None = None  # ± around latency_ms; None = a fifth of it
    fail_rate: float = 0.0  # share of requests answered 500 before anything is applied
    drop_after_commit_rate: float = 0.0  # share of successful writes whose answer is lost
    outage: bool = False  # every Stripe request answered 503

    @property
    def jitter_ms(self) -> float:
        if self.latency_jitter_ms is None:
            return self.latency_ms / 5
        return self.latency_jitter_ms

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """A copy with `changes` applied, each checked (raises ValueError naming the field)."""
        return replace(self, **check_changes(changes))


_FIELDS = {f.name for f in fields(FaultConfig)}


def check_changes(changes: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in _FIELDS:
            raise ValueError(f"unknown setting {name!r} (known: {', '.join(sorted(_FIELDS))})")
        if name == "outage":
            if not isinstance(value, bool):
                raise ValueError("outage must be true or false")
        elif name in ("rate_limit", "latency_jitter_ms") and value is None:
            pass
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        elif name.endswith("_rate") and name != "rate_limit" and value > 1:
            raise ValueError(f"{name} must be between 0 and 1")
        elif name == "rate_limit" and value == 0:
            raise ValueError("rate_limit must be above 0 (or null for no limit)")
        checked[name] = value
    return checked


class TokenBucket:
    """Per-account rate limit: `rate` tokens a second, bursts of up to one second's worth.

    Never limits a caller that stays at or below the rate; always limits one that goes above
    it for longer than the burst.
    """

    __slots__ = ("_last", "_tokens")

    def __init__(self) -> None:
        self._tokens: float | None = None
        self._last = 0.0

    def take(self, rate: float) -> bool:
        now = time.monotonic()
        capacity = max(1.0, rate)
        if self._tokens is None:
            self._tokens = capacity
        else:
            self._tokens = min(capacity, self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )


def lock_timeout() -> StripeError:
    return StripeError(
        429,
        "This object cannot be accessed right now because another API request or Stripe "
        "process is currently accessing it. If you see this error intermittently, retry the "
        "request. If you see this error frequently and are making multiple concurrent requests "
        "to a single object, make your requests serially or at a lower rate.",
        code="lock_timeout",
        headers={"Stripe-Should-Retry": "true"},
    )


def injected_failure() -> StripeError:
    return StripeError(
        500,
        "An unknown error occurred (injected by the sandbox's --fail-rate; nothing was applied).",
        type="api_error",
    )


def outage() -> StripeError:
    return StripeError(
        503,
        "The Stripe API is unavailable (the sandbox's outage switch is on).",
        type="api_error",
    )
