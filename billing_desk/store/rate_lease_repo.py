"""Shares of one Stripe account's request budget, leased to the sync workers of a store.

The invariant: at every instant of the store's clock, the rates counted by the lease rows sum to
at most the budget. A row counts `share` until `share_until`, and `held` (a rate its worker
gave up, which it may have used within the last window) until `held_until`; a worker's count
is the larger of the two. Rows change only in `take_share`/`release`, serialized across every
worker of the store — on SQLite by the caller's write transaction (BEGIN IMMEDIATE), on
PostgreSQL by an EXCLUSIVE lock on the table (plain reads, such as a status panel's, still
pass) — so each grant is judged against every other grant in force.

Time is the store's: PostgreSQL's `clock_timestamp()`, so workers on hosts whose clocks disagree
still agree on when a lease ends; on SQLite (one host) the host's clock. The worker takes its
own (monotonic) time *before* the transaction and stops sending `ttl - window - margin` after
it: the store's `share_until` (now + ttl, now read later) always ends at least a window and a
margin after the worker's last start, so whatever it sent has left every one-second window
before anyone else is granted that rate.

Shares are whole requests per second (the limiter's one-second windows count whole requests),
fair shares `floor(budget / wanting workers)`, where a worker wants a share while it holds a
lease (of any size, even 0: it waits for the others to shrink).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, text
from sqlalchemy.orm import Session

from billing_desk.store.engine import WRITE
from billing_desk.store.models.sync import SyncRateLease

# Rounding slack when flooring a free rate that is a whole number computed in floats.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Share:
    """What a worker was granted: `rate` until `until` (the store's clock), and the fair share
    it should shrink to (`fair` < `rate`: others want their share) or may grow to."""

    rate: float
    fair: float
    until: datetime
    wanting: int


def store_now(session: Session) -> datetime:
    """The store's clock, taking the lock that serializes grants on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE sync_rate_leases IN EXCLUSIVE MODE"))
        now: datetime = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return now.astimezone(UTC)
    connection = session.connection()  # SQLite: begins the transaction, IMMEDIATE if a writer's
    if not connection.get_execution_options().get(WRITE, False):
        raise RuntimeError("budget shares are granted only in a write unit of work")
    return datetime.now(UTC)


def fair_share(budget: float, wanting: int) -> float:
    if budget < 1:
        return budget  # too small to split into whole requests: one worker at a time
    return float(max(1, math.floor(budget / max(1, wanting))))


def counted(row: SyncRateLease, now: datetime) -> float:
    """The rate `row` holds against the budget at `now`."""
    share = row.share if row.share_until > now else 0.0
    held = row.held if row.held_until is not None and row.held_until > now else 0.0
    return max(share, held)


def take_share(
    session: Session,
    worker: str,
    budget: float,
    ttl: timedelta,
    window: timedelta,
    in_use: float,
) -> Share:
    """Renew (or take) `worker`'s lease: up to its fair share, within what others leave free.

    `in_use` is the rate the worker's limiter may be starting requests at now (0 if its lease
    has run out locally). The grant never drops below it while the worker's lease is still in
    force here; a worker shrinks by lowering its local rate first and then calling this, which
    keeps the rate it gave up counted for one more `window`. Run in a write unit of work and
    commit at once.
    """
    now = store_now(session)
    rows = {row.worker_id: row for row in session.scalars(select(SyncRateLease))}
    mine = rows.pop(worker, None)
    wanting = 1 + sum(1 for row in rows.values() if row.share_until > now)
    fair = fair_share(budget, wanting)
    free = budget - sum(counted(row, now) for row in rows.values())
    if budget >= 1:
        free = math.floor(free + _EPSILON)
    had = mine.share if mine is not None and mine.share_until > now else 0.0
    keep = min(in_use, had)  # a rate it may still be using is not taken away under it
    rate = max(keep, min(fair, free), 0.0)
    if mine is None:
        mine = SyncRateLease(worker_id=worker, share=0.0, held=0.0, held_until=None)
        session.add(mine)
    _give_up(mine, now, had, rate, window)
    mine.share, mine.share_until = rate, now + ttl
    _forget_expired(session, now)
    session.flush()
    return Share(rate, fair, mine.share_until, wanting)


def release(session: Session, worker: str, window: timedelta) -> None:
    """A clean stop, after the worker's limiter has stopped: its share is free a window later."""
    now = store_now(session)
    mine = session.get(SyncRateLease, worker)
    if mine is None:
        return
    had = mine.share if mine.share_until > now else 0.0
    _give_up(mine, now, had, 0.0, window)
    mine.share, mine.share_until = 0.0, now
    session.flush()


def _give_up(row: SyncRateLease, now: datetime, had: float, rate: float, window: timedelta) -> None:
    """Going down from `had` to `rate`: the difference stays counted for one more window."""
    if rate >= had:
        return
    still = row.held if row.held_until is not None and row.held_until > now else 0.0
    row.held, row.held_until = max(had, still), now + window


def _forget_expired(session: Session, now: datetime) -> None:
    """Rows that count for nothing any more (a worker stopped or killed) need not be read again."""
    session.flush()
    session.execute(
        delete(SyncRateLease)
        .where(
            SyncRateLease.share_until <= now,
            or_(SyncRateLease.held_until.is_(None), SyncRateLease.held_until <= now),
        )
        .execution_options(synchronize_session=False)
    )


def counted_total(session: Session, now: datetime) -> float:
    """The rate counted against the budget at `now` (the store's clock), over every worker."""
    return sum(counted(row, now) for row in session.scalars(select(SyncRateLease)))
