"""The request budget every Stripe call of this process spends, shared by all its tasks.

Requests start on a schedule of evenly spaced slots, a little more than 1/rate seconds apart,
so Stripe sees a steady stream rather than bursts; and however the schedule is kept, no window
of WINDOW seconds (a little over one, so that requests the network bunches up a little still
reach Stripe within the rate) ever holds more than `floor(rate)` starts, for a rate of at
least 1. A 429 pauses every sender at once.

Two modes:
- fixed: `RateLimiter(rate)`; `rate` may be changed at any time.
- leased (`RateLimiter.leased()`, the sync engine's): requests start only under a lease —
  `grant(rate, until, window)`: this rate (per `window`, WINDOW unless a wider one keeps more
  clear), and no start at or after `until` (this limiter's clock). The
  engine obtains leases from the store, where several workers split one account's budget; a
  lease that is not renewed in time simply stops this process sending. With no valid lease a
  sender calls `on_lease_needed` (the engine renews at its own pace), else waits for a grant.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

# Our clock is not Stripe's and the network can bunch requests up between the two: keep 2% clear.
MARGIN = 1.02
# How far behind schedule a sender may catch up (slots missed while the loop was busy), within
# the window below.
CATCH_UP = 0.25
# Stripe counts requests per second; we count starts per WINDOW. As long as the time our
# requests take to reach it varies by less than the difference, no second of Stripe's holds
# more than the rate. At a steady rate the spacing (MARGIN / rate) fills exactly this window,
# so keeping it costs nothing; it only trims bursts (catching up after a stall).
WINDOW = 1.0 * MARGIN
# Starts are remembered this long whatever the window in force, so that a window widened by a new
# lease still counts the starts a narrower one had already let go of.
MAX_WINDOW = 2.0


def spacing(rate: float, window: float = WINDOW) -> float:
    """Seconds between two request starts at `rate` requests per second, `window` counted as a
    second (so that a steady stream fills the window exactly)."""
    per_second = math.floor(rate) if rate >= 1 else rate
    return window / per_second


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = self._checked(rate)
        self._until = math.inf  # fixed mode: never runs out
        self._window = WINDOW
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._recent: deque[float] = deque()  # starts within the last MAX_WINDOW
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None
        self._granted: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sent = 0
        # Leased mode: awaited by a sender that finds no valid lease (see the module docstring).
        self.on_lease_needed: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def leased(
        cls,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> RateLimiter:
        """A limiter that sends nothing until it is granted a lease."""
        limiter = cls(1.0, clock=clock, sleep=sleep)
        limiter.grant(0.0, -math.inf)
        return limiter

    @staticmethod
    def _checked(rate: float) -> float:
        if not rate > 0:
            raise ValueError(f"a rate limit must be positive, got {rate!r}")
        return float(rate)

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        self._rate = self._checked(value)

    @property
    def until(self) -> float:
        """When the current lease runs out (this limiter's clock); infinite in fixed mode."""
        return self._until

    @property
    def window(self) -> float:
        return self._window

    def now(self) -> float:
        return self._clock()

    def can_send(self) -> bool:
        """A lease is in force: a request may start (once the rate allows)."""
        return self._rate > 0 and self._clock() < self._until

    def grant(self, rate: float, until: float, window: float = WINDOW) -> None:
        """Lease: at most `rate` starts per `window` (0: none), and none at or after `until`.

        Lowering the rate takes effect for the very next start: the record of recent starts is
        kept, so the new rate holds from here on, whatever was sent before.
        """
        if rate < 0 or math.isnan(rate):
            raise ValueError(f"a granted rate cannot be negative, got {rate!r}")
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"a window must be 1 to {MAX_WINDOW} seconds, got {window!r}")
        self._rate, self._until, self._window = float(rate), until, window
        if self._granted is not None and self.can_send():
            self._granted.set()

    def pause(self, seconds: float) -> None:
        """Hold every sender for `seconds` (Stripe said we went too fast)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _bind(self) -> tuple[asyncio.Lock, asyncio.Event]:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._granted is None or self._loop is not loop:
            # asyncio primitives belong to one loop; the limiter outlives them (one per pass).
            self._lock, self._granted, self._loop = asyncio.Lock(), asyncio.Event(), loop
        return self._lock, self._granted

    async def acquire(self) -> float:
        """Wait until one more request may start, and count it as started; returns when (this
        limiter's clock)."""
        lock, granted = self._bind()
        async with lock:  # first come, first served
            while True:
                now = self._clock()
                if not self.can_send():
                    granted.clear()
                    if self.on_lease_needed is not None:
                        await self.on_lease_needed()
                    else:
                        await granted.wait()
                    continue
                # `start + window` against `now` in both places, so that rounding can never
                # leave a start in the window yet call the wait over.
                window = self._window
                while self._recent and self._recent[0] + MAX_WINDOW <= now:
                    self._recent.popleft()
                wait = max(self._next_start, self._paused_until) - now
                cap = max(1, math.floor(self._rate))
                # Starts are in time order: the window holds `cap` of them if the cap-th latest
                # is still in it. After a lowered rate (or a widened window) it may hold more:
                # wait until enough of them have left it.
                if len(self._recent) >= cap and self._recent[-cap] + window > now:
                    wait = max(wait, self._recent[-cap] + window - now)
                if wait <= 0:
                    gap = spacing(self._rate, window)
                    # Keep to the schedule: a sender that woke late (a busy loop, a stalled
                    # thread) may catch up on the slots it missed, up to CATCH_UP seconds'
                    # worth, so stalls do not cost the rate. Longer gaps mean we were idle:
                    # the schedule starts afresh, and unused slots are not banked.
                    late = now - self._next_start
                    base = self._next_start if late < CATCH_UP else now
                    self._next_start = base + gap
                    self._recent.append(now)
                    self.sent += 1
                    return now
                await self._sleep(wait)
