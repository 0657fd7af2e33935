"""The gateway's parts that need no server: the limiter's pacing, key redaction, the sorting of
Stripe's errors, retry delays."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.stripe_gateway import (
    KEY_REJECTED,
    PermanentStripeError,
    RateLimiter,
    RetryPolicy,
    StripeKeyRejected,
    TransientStripeError,
    install_log_redaction,
    is_live_key,
    redact,
)
from billing_desk.stripe_gateway.client import GatewayConfig
from billing_desk.stripe_gateway.errors import classify
from tests.unit.fake_time import FakeTime


def starts(rate: float, count: int, pause_at: int | None = None) -> list[float]:
    fake = FakeTime()
    limiter = RateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    out: list[float] = []

    async def run() -> None:
        for i in range(count):
            if i == pause_at:
                limiter.pause(2.0)
            await limiter.acquire()
            out.append(fake.now)

    asyncio.run(run())
    return out


@given(st.floats(min_value=0.5, max_value=120), st.integers(min_value=2, max_value=300))
def test_no_one_second_window_holds_more_than_the_rate(rate: float, count: int) -> None:
    times = starts(rate, count)
    limit = max(1, int(rate))
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 1.0)
        assert in_window <= limit


def test_the_limiter_keeps_close_to_the_rate() -> None:
    times = starts(25, 251)
    assert 10.0 < times[-1] < 10.0 * 1.03  # 250 gaps at 25/s, 2% clear of the limit


def test_a_pause_holds_every_sender() -> None:
    times = starts(10, 5, pause_at=3)
    assert times[3] - times[2] >= 2.0


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


@pytest.mark.parametrize(
    "text",
    [
        "key sk_test_51Habcdefghijklmnop was rejected",
        "Invalid API Key provided: rk_live_abcdef123456",
        "Authorization: Bearer sk_live_zzzzzzzzzz",
    ],
)
def test_keys_are_redacted(text: str) -> None:
    out = redact(text)
    assert "sk_" not in out.replace("[redacted]", "")
    assert "rk_live_abc" not in out
    assert "[redacted]" in out


def test_log_records_are_redacted_whatever_logger_emits_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("stripe").info("request with %s", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")
        try:
            raise RuntimeError("boom sk_live_4eC39HqLyjWDarjtT1zdp7dc")
        except RuntimeError:
            logging.getLogger("x").exception("failed")
    assert "4eC39" not in caplog.text
    assert caplog.text.count("[redacted]") == 3


def test_the_config_never_shows_the_key() -> None:
    config = GatewayConfig("sk_test_secretsecret", "http://127.0.0.1:1")
    assert "secret" not in repr(config)
    assert is_live_key("sk_live_x")
    assert not is_live_key("sk_test_x")


def _error(status: int | None, code: str | None = None, kind: type = stripe.APIError) -> Exception:
    if kind is stripe.APIConnectionError:
        return stripe.APIConnectionError("connection refused")
    if kind is stripe.InvalidRequestError:
        return kind("message sk_test_abcdefghij", "customer", http_status=status, code=code)
    return kind("message sk_test_abcdefghij", http_status=status, code=code)


@pytest.mark.parametrize(
    ("status", "code", "kind", "expected"),
    [
        (None, None, stripe.APIConnectionError, TransientStripeError),
        (500, None, stripe.APIError, TransientStripeError),
        (503, None, stripe.APIError, TransientStripeError),
        (409, "idempotency_key_in_use", stripe.APIError, TransientStripeError),
        (429, "rate_limit", stripe.RateLimitError, TransientStripeError),
        (429, "lock_timeout", stripe.RateLimitError, TransientStripeError),
        (400, "resource_missing", stripe.InvalidRequestError, PermanentStripeError),
        (404, "resource_missing", stripe.InvalidRequestError, PermanentStripeError),
        (400, None, stripe.IdempotencyError, PermanentStripeError),
        (402, "card_declined", stripe.APIError, PermanentStripeError),
        (401, None, stripe.AuthenticationError, StripeKeyRejected),
        (403, None, stripe.PermissionError, StripeKeyRejected),
    ],
)
def test_errors_are_sorted_by_what_to_do(
    status: int | None, code: str | None, kind: type, expected: type
) -> None:
    exc = _error(status, code, kind)
    failure = classify(exc, "POST /v1/invoiceitems", "line 7")  # type: ignore[arg-type]
    assert type(failure) is expected
    assert "sk_test_abc" not in str(failure)
    assert failure.endpoint == "POST /v1/invoiceitems"
    if expected is StripeKeyRejected:
        assert str(failure) == KEY_REJECTED
    assert failure.exit_code == {TransientStripeError: 3, PermanentStripeError: 4}.get(expected, 5)


def test_retry_delays_grow_and_stay_capped() -> None:
    policy = RetryPolicy(attempts=6, base_s=0.5, cap_s=4.0)
    rng = random.Random(1)
    for attempt in range(1, 10):
        delay = policy.delay(attempt, rng)
        assert 0 <= delay <= min(4.0, 0.5 * 2**attempt)
