"""The request budget every Stripe call of this process spends, shared by all its tasks.

Requests start on a schedule of evenly spaced slots, a little more than 1/rate seconds apart,
so Stripe sees a steady stream rather than bursts; and however the schedule is kept, no window
of one second ever holds more than `floor(rate)` starts (for a rate of at least 1). The rate can
be changed at any time — the engine sets this process's share of the account's budget — and a
429 pauses every sender at once.
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
# the one-second window below.
CATCH_UP = 0.25
WINDOW = 1.0


def spacing(rate: float) -> float:
    """Seconds between two request starts at `rate` requests per second."""
    per_second = math.floor(rate) if rate >= 1 else rate
    return MARGIN / per_second


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = self._checked(rate)
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._recent: deque[float] = deque()  # starts within the last WINDOW seconds
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.sent = 0

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

    def pause(self, seconds: float) -> None:
        """Hold every sender for `seconds` (Stripe said we went too fast)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self) -> None:
        """Wait until one more request may start, and count it as started."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            # An asyncio lock belongs to one loop; the limiter outlives them (one per pass).
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:  # first come, first served
            while True:
                now = self._clock()
                while self._recent and self._recent[0] <= now - WINDOW:
                    self._recent.popleft()
                wait = max(self._next_start, self._paused_until) - now
                if len(self._recent) >= max(1, math.floor(self._rate)):
                    wait = max(wait, self._recent[0] + WINDOW - now)
                if wait <= 0:
                    gap = spacing(self._rate)
                    # Keep to the schedule: a sender that woke late (a busy loop, a stalled
                    # thread) may catch up on the slots it missed, up to CATCH_UP seconds'
                    # worth, so stalls do not cost the rate. Longer gaps mean we were idle:
                    # the schedule starts afresh, and unused slots are not banked.
                    late = now - self._next_start
                    base = self._next_start if late < CATCH_UP else now
                    self._next_start = base + gap
                    self._recent.append(now)
                    self.sent += 1
                    return
                await self._sleep(wait)
