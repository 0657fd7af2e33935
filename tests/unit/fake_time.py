"""A clock for the limiter tests that only moves when the code under test sleeps, so pacing is
measured exactly, not against the machine's load."""

from __future__ import annotations


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
