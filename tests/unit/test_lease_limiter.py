"""The limiter in leased mode (the sync engine's): no start without a lease in force, none at or
after its end, and a lowered rate holds from the very next start."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.stripe_gateway import RateLimiter
from billing_desk.stripe_gateway.limiter import WINDOW
from tests.unit.fake_time import FakeTime


def test_nothing_starts_without_a_lease_and_the_sender_asks_for_one() -> None:
    fake = FakeTime()
    limiter = RateLimiter.leased(clock=fake.clock, sleep=fake.sleep)
    asked: list[float] = []

    async def renew() -> None:
        asked.append(fake.now)
        await fake.sleep(0.5)  # the store took its time
        if len(asked) == 2:
            limiter.grant(10, fake.now + 3)

    limiter.on_lease_needed = renew
    assert not limiter.can_send()
    started = asyncio.run(limiter.acquire())
    assert asked == [0.0, 0.5]
    assert started == 1.0


def test_no_start_at_or_after_the_lease_end() -> None:
    fake = FakeTime()
    limiter = RateLimiter.leased(clock=fake.clock, sleep=fake.sleep)
    limiter.grant(10, 1.0)
    ends: list[float] = []

    async def renew() -> None:
        ends.append(fake.now)
        limiter.grant(10, fake.now + 1.0)

    limiter.on_lease_needed = renew

    async def run() -> list[float]:
        return [await limiter.acquire() for _ in range(25)]

    times = asyncio.run(run())
    assert ends
    assert all(end >= 1.0 for end in ends)
    assert len(times) == 25
    # Every start was made under a lease that had not ended yet.
    assert all(not (1.0 <= t < ends[0]) for t in times)


def test_a_grant_wakes_a_sender_that_waits_without_a_renewer() -> None:
    limiter = RateLimiter.leased()

    async def run() -> float:
        sender = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.05)
        assert not sender.done()
        limiter.grant(5, limiter.now() + 10)
        return await sender

    assert asyncio.run(run()) >= 0


def test_a_granted_rate_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        RateLimiter.leased().grant(-1, math.inf)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=40),
            st.integers(min_value=1, max_value=60),
            st.sampled_from([WINDOW, 1.05]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_new_rate_holds_from_the_next_start(changes: list[tuple[int, int, float]]) -> None:
    """Whatever went before, no window (the one in force, a little over a second) that ends at
    a start holds more starts than the rate in force at that start (so lowering the rate first,
    then giving the difference up a window later, is safe)."""
    fake = FakeTime()
    limiter = RateLimiter.leased(clock=fake.clock, sleep=fake.sleep)
    starts: list[tuple[float, int, float]] = []

    async def run() -> None:
        for rate, count, window in changes:
            limiter.grant(rate, math.inf, window)
            for _ in range(count):
                starts.append((await limiter.acquire(), rate, window))

    asyncio.run(run())
    for i, (t, rate, window) in enumerate(starts):
        # (t - window, t]; a start a whole window before is out of it (to the float's precision).
        in_window = sum(1 for u, _, _ in starts[: i + 1] if u > t - window + 1e-9)
        assert in_window <= rate


def test_a_wider_window_keeps_a_steady_stream_at_its_pace() -> None:
    fake = FakeTime()
    limiter = RateLimiter.leased(clock=fake.clock, sleep=fake.sleep)
    limiter.grant(20, math.inf, 1.05)

    async def run() -> list[float]:
        return [await limiter.acquire() for _ in range(41)]

    times = asyncio.run(run())
    assert times[-1] == pytest.approx(2 * 1.05)  # 40 gaps, evenly spaced: no bursts and waits


@pytest.mark.parametrize("window", [0.9, 2.5])
def test_a_window_outside_what_the_limiter_remembers_is_refused(window: float) -> None:
    with pytest.raises(ValueError, match=r"a window must be 1 to 2\.0 seconds"):
        RateLimiter.leased().grant(10, math.inf, window)
