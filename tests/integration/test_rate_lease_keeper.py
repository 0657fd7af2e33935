"""Workers' limiters under store-granted leases, on real stores: whatever the workers do — join,
get killed, stall with the store out of reach, stop cleanly — the requests they start together
never put more than the budget into any sliding one-second window.

Each worker here is a limiter, its lease keeper (renewing every heartbeat, as the engine's does)
and a few senders that start requests as fast as the limiter lets them; all in one event loop,
so their start times are on one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from billing_desk.store.engine import create_store_engine
from billing_desk.stripe_gateway import RateLimiter
from billing_desk.sync.rate_lease import LeaseKeeper

BUDGET = 20.0
BEAT = timedelta(milliseconds=100)


def busiest_window(starts: list[float], width: float = 1.0) -> tuple[int, float]:
    """The most starts in any window (t - width, t], and where the busiest one begins."""
    starts = sorted(starts)
    best, at, first = 0, 0.0, 0
    for last, t in enumerate(starts):
        while starts[first] <= t - width:
            first += 1
        if last - first + 1 > best:
            best, at = last - first + 1, starts[first]
    return best, at


def test_busiest_window_counts_half_open_windows() -> None:
    assert busiest_window([0.0, 0.5, 0.999, 1.0, 1.2]) == (4, 0.5)
    assert busiest_window([0.0, 1.0, 2.0]) == (1, 0.0)
    assert busiest_window([]) == (0, 0.0)


async def until(condition: Callable[[], bool], within_s: float = 20.0) -> None:
    """Wait for `condition` (how soon depends on the machine's load, what happens does not)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.05)


class Worker:
    def __init__(self, store: Engine, name: str, starts: dict[str, list[float]]) -> None:
        self.name = name
        self.limiter = RateLimiter.leased()
        self.keeper = LeaseKeeper(store, self.limiter, name, budget=lambda: BUDGET, beat=BEAT)
        self.limiter.on_lease_needed = self.keeper.wanted
        self.starts = starts[name]
        self._tasks = [asyncio.create_task(self._heartbeat())]
        self._tasks += [asyncio.create_task(self._send()) for _ in range(3)]

    async def _heartbeat(self) -> None:
        while True:
            await self.keeper.renew()
            await asyncio.sleep(BEAT.total_seconds())

    async def _send(self) -> None:
        while True:
            self.starts.append(await self.limiter.acquire())

    async def kill(self) -> None:
        """SIGKILL: everything stops at once, nothing is released."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def cut_off(self, broken: Engine) -> float:
        """The store goes out of reach: no more renewals, but the senders keep trying."""
        cut = self.limiter.now()  # any lease in force was taken before this
        self.keeper.store = broken
        self._tasks[0].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tasks[0]
        return cut

    async def stop(self) -> None:
        await self.kill()
        await self.keeper.release()


def test_workers_joining_dying_stalling_and_stopping_never_exceed_the_budget(
    engine: Engine, tmp_path: Path
) -> None:
    starts: dict[str, list[float]] = defaultdict(list)
    broken = create_store_engine(f"sqlite:///{tmp_path / 'missing' / 'store.sqlite3'}")

    async def scenario() -> float:
        a, b = Worker(engine, "a", starts), Worker(engine, "b", starts)
        await until(lambda: bool(starts["a"] and starts["b"]))
        c = Worker(engine, "c", starts)
        await until(lambda: bool(starts["c"]))
        await asyncio.sleep(0.5)
        await b.kill()
        await asyncio.sleep(0.5)
        cut = await a.cut_off(broken)
        await asyncio.sleep(0.5)
        d = Worker(engine, "d", starts)
        await until(lambda: bool(starts["d"]))
        await asyncio.sleep(0.5)
        await c.stop()
        # With c stopped and a and b gone, d ends up with the whole budget.
        await until(lambda: d.limiter.rate == BUDGET)
        await asyncio.sleep(1.5)
        for worker in (a, d):
            await worker.kill()
        return cut

    cut = asyncio.run(scenario())
    broken.dispose()
    everything = [t for times in starts.values() for t in times]
    assert busiest_window(everything)[0] <= BUDGET
    # Cut off from the store, a stops sending on its own, within its last lease.
    assert max(starts["a"]) < cut + 5 * BEAT.total_seconds()


def test_a_cut_off_workers_share_passes_on_only_after_its_last_requests_left_the_window(
    engine: Engine, tmp_path: Path
) -> None:
    """a sends at the whole budget when the store goes out of its reach; b, waiting with
    nothing, gets the whole budget once a's lease has ended — never while a's last second of
    requests could still be in the same window as b's first."""
    starts: dict[str, list[float]] = defaultdict(list)
    broken = create_store_engine(f"sqlite:///{tmp_path / 'missing' / 'store.sqlite3'}")

    async def scenario() -> None:
        a = Worker(engine, "a", starts)
        await until(lambda: len(starts["a"]) >= BUDGET)
        b = Worker(engine, "b", starts)
        await asyncio.sleep(0.05)
        await a.cut_off(broken)
        await until(lambda: b.limiter.rate == BUDGET)
        await asyncio.sleep(1.0)
        for worker in (a, b):
            await worker.kill()

    asyncio.run(scenario())
    broken.dispose()
    assert busiest_window(starts["a"] + starts["b"])[0] <= BUDGET
    # However evenly or not each of them spaced its requests: a whole window apart.
    assert min(starts["b"]) - max(starts["a"]) >= 1.0
