"""This worker's lease on its share of the Stripe budget: taken from the store, kept in the limiter.

    keeper = LeaseKeeper(store, limiter, worker_id, budget=lambda: 25.0, beat=timedelta(seconds=1))
    await keeper.renew()      # every heartbeat; also on demand, when a sender finds no lease
    await keeper.release()    # a clean stop

The guarantee (see `store/rate_lease_repo.py` for the store's half): the limiter only starts
requests while the lease is valid by this process's monotonic clock, judged conservatively —
its deadline counts from a moment taken *before* the grant's transaction began, and ends a
window and a margin before the store's `share_until`. So a worker that is killed, stalled or
cut off from the store stops sending on its own before anyone may be granted its share; no
liveness guess is involved. Growing: the store commits first, then the limiter speeds up.
Shrinking: the limiter slows down first, then the store is told, and keeps the old rate counted
for one more window.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from billing_desk.store import rate_lease_repo
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway.limiter import WINDOW, RateLimiter

log = logging.getLogger(__name__)

# Between a request's start (our clock) and its arrival at Stripe, and for the clocks' drift.
MARGIN_S = 0.25
# Several processes' requests bunch up on their way to Stripe each in their own way (their
# loops, the network): while the budget is shared, each share keeps 5% clear (the limiter's
# WINDOW keeps 2%, enough for one stream; a worker alone keeps its whole budget's pace).
SHARED_WINDOW = 1.05
# A lease outlives this many missed heartbeats before the worker stops sending.
BEATS_OF_SLACK = 5


class LeaseKeeper:
    def __init__(
        self,
        store: Engine,
        limiter: RateLimiter,
        worker: str,
        *,
        budget: Callable[[], float],
        beat: timedelta,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.worker = worker
        self._budget = budget
        self._beat_s = beat.total_seconds()
        usable_s = BEATS_OF_SLACK * self._beat_s
        # The store counts a share a window (the widest the limiter may use) and a margin past
        # the last moment the worker may start a request under it.
        self._hold = timedelta(seconds=max(WINDOW, SHARED_WINDOW) + MARGIN_S)
        self.ttl = self._hold + timedelta(seconds=usable_s)
        self._usable_s = usable_s
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._last_try = -math.inf
        # A grant's transaction, which runs on even if the renewal awaiting it is cancelled.
        self._inflight: asyncio.Future[rate_lease_repo.Share] | None = None

    def _serial(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _in_use(self) -> float:
        return self.limiter.rate if self.limiter.can_send() else 0.0

    async def renew(self) -> None:
        """Renew the lease (or take one), growing or shrinking toward the fair share."""
        async with self._serial():
            share = await self._take()
            if share.rate > share.fair:
                # Others want their share: slow down first, then let the store know (it keeps
                # what we gave up counted for a window, the time our past starts stay visible).
                self.limiter.grant(share.fair, self.limiter.until, SHARED_WINDOW)
                await self._take()

    async def _take(self) -> rate_lease_repo.Share:
        in_use = self._in_use()
        started = self.limiter.now()  # before the transaction: the deadline errs early
        self._last_try = started

        def take() -> rate_lease_repo.Share:
            budget = self._budget()  # may read the settings from the store: off the loop
            with UnitOfWork(self.store, write=True) as uow:
                share = rate_lease_repo.take_share(
                    uow.session, self.worker, budget, self.ttl, self._hold, in_use
                )
                uow.commit()
            return share

        self._inflight = asyncio.ensure_future(asyncio.to_thread(take))
        share = await asyncio.shield(self._inflight)
        # Committed: only now may the limiter use the (possibly larger) rate.
        window = WINDOW if share.wanting == 1 else SHARED_WINDOW
        self.limiter.grant(share.rate, started + self._usable_s, window)
        return share

    async def wanted(self) -> None:
        """A sender found no valid lease: renew, but no more often than once a heartbeat (the
        heartbeat loop renews too while a session runs; outside one, this is what does)."""
        wait = self._last_try + self._beat_s - self.limiter.now()
        await asyncio.sleep(max(wait, 0.01))
        if self.limiter.can_send():
            return
        async with self._serial():
            if self.limiter.now() - self._last_try < self._beat_s / 2 or self.limiter.can_send():
                return
        try:
            await self.renew()
        except SQLAlchemyError as exc:
            # A busy or unreachable store: keep waiting (the sender asks again a beat later).
            log.warning("could not renew the Stripe budget lease: %s", type(exc).__name__)

    async def release(self) -> None:
        """A clean stop: stop sending, then free the share (a window later, in the store)."""
        async with self._serial():
            self.limiter.grant(0.0, -math.inf)
            if self._inflight is not None and not self._inflight.done():
                # A renewal cancelled mid-way (the session ended) may still commit: after it.
                await asyncio.wait([self._inflight])

            def release() -> None:
                with UnitOfWork(self.store, write=True) as uow:
                    rate_lease_repo.release(uow.session, self.worker, self._hold)
                    uow.commit()

            await asyncio.to_thread(release)
