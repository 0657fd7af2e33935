"""Budget shares by lease, on real stores (SQLite and PostgreSQL): the store's half of the
guarantee that workers sharing a Stripe account never together exceed its budget.

Leases here are short (a fraction of a second) so that their expiry can be waited for; the
store's clock judges it, so sleeping past a lease's end makes it end, whatever the load.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from billing_desk.store import rate_lease_repo
from billing_desk.store.models.sync import SyncRateLease
from billing_desk.store.uow import UnitOfWork

BUDGET = 60.0
TTL = timedelta(milliseconds=600)
WINDOW = timedelta(milliseconds=300)


def take(
    engine: Engine, worker: str, in_use: float, budget: float = BUDGET
) -> rate_lease_repo.Share:
    with UnitOfWork(engine, write=True) as uow:
        share = rate_lease_repo.take_share(uow.session, worker, budget, TTL, WINDOW, in_use)
        uow.commit()
    return share


def release(engine: Engine, worker: str) -> None:
    with UnitOfWork(engine, write=True) as uow:
        rate_lease_repo.release(uow.session, worker, WINDOW)
        uow.commit()


def counted_now(engine: Engine) -> float:
    """What every lease counts against the budget at this instant (read under the grant lock)."""
    with UnitOfWork(engine, write=True) as uow:
        now = rate_lease_repo.store_now(uow.session)
        return rate_lease_repo.counted_total(uow.session, now)


def test_a_lone_worker_takes_the_whole_budget(engine: Engine) -> None:
    share = take(engine, "a", 0)
    assert (share.rate, share.fair, share.wanting) == (60, 60, 1)
    assert take(engine, "b", 0, budget=25.5).rate == 0  # a holds it all, even of a smaller one


def test_a_newcomer_gets_what_is_free_and_all_converge_on_the_fair_share(engine: Engine) -> None:
    assert take(engine, "a", 0).rate == 60
    b = take(engine, "b", 0)
    assert (b.rate, b.fair) == (0, 30)  # nothing free: b waits, but counts as wanting
    a = take(engine, "a", 60)
    assert (a.rate, a.fair) == (60, 30)  # never below the rate a may be sending at...
    a = take(engine, "a", 30)  # ...so a lowers its rate first, then renews
    assert a.rate == 30
    # What a gave up stays counted for a window: the last second still holds its old starts.
    assert take(engine, "b", 0).rate == 0
    assert counted_now(engine) == 60
    time.sleep(WINDOW.total_seconds())
    assert take(engine, "b", 0).rate == 30
    assert take(engine, "a", 30).rate == 30
    c = take(engine, "c", 0)
    assert (c.rate, c.fair, c.wanting) == (0, 20, 3)


def test_a_killed_workers_share_frees_when_its_lease_ends(engine: Engine) -> None:
    assert [take(engine, "a", 0).rate, take(engine, "b", 0).rate] == [60, 0]
    take(engine, "a", 30)
    time.sleep(WINDOW.total_seconds())
    assert take(engine, "b", 0).rate == 30
    # b is killed: it renews no more. Until its lease ends, its 30 stay out of reach.
    assert take(engine, "a", 30).rate == 30
    time.sleep(TTL.total_seconds())
    a = take(engine, "a", 30)
    assert (a.rate, a.fair, a.wanting) == (60, 60, 1)
    with UnitOfWork(engine) as uow:  # and its row is gone
        assert uow.session.scalars(select(SyncRateLease.worker_id)).all() == ["a"]


def test_a_clean_stop_frees_the_share_a_window_later(engine: Engine) -> None:
    take(engine, "a", 0)
    release(engine, "a")
    assert take(engine, "b", 0).rate == 0
    time.sleep(WINDOW.total_seconds())
    assert take(engine, "b", 0).rate == 60


def test_a_budget_below_one_request_per_second_goes_to_one_worker_at_a_time(
    engine: Engine,
) -> None:
    assert take(engine, "a", 0, budget=0.5).rate == 0.5
    assert take(engine, "b", 0, budget=0.5).rate == 0


def test_a_share_is_granted_only_in_a_write_transaction(sqlite_engine: Engine) -> None:
    with UnitOfWork(sqlite_engine) as uow, pytest.raises(RuntimeError, match="write"):
        rate_lease_repo.take_share(uow.session, "a", BUDGET, TTL, WINDOW, 0)


def test_concurrent_grants_never_exceed_the_budget(engine: Engine) -> None:
    """Six workers renew, shrink, stop and die at random, each from its own thread; a checker
    reads, under the same lock as a grant, what the leases count at that instant."""
    stop = threading.Event()
    errors: list[BaseException] = []
    peaks: list[float] = []

    def worker(name: str, seed: int) -> None:
        rng = random.Random(seed)
        in_use = 0.0
        try:
            while not stop.is_set():
                share = take(engine, name, in_use)
                in_use = share.rate
                if share.rate > share.fair:
                    in_use = share.fair  # lower first, then tell the store
                    in_use = take(engine, name, in_use).rate
                roll = rng.random()
                if roll < 0.05:
                    release(engine, name)
                    in_use = 0.0
                elif roll < 0.1:
                    time.sleep(TTL.total_seconds())  # stalled past its lease: it stops sending
                    in_use = 0.0
                else:
                    time.sleep(rng.uniform(0, 0.05))
        except BaseException as exc:
            errors.append(exc)

    def checker() -> None:
        try:
            while not stop.is_set():
                peaks.append(counted_now(engine))
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}", i)) for i in range(6)]
    threads.append(threading.Thread(target=checker))
    for thread in threads:
        thread.start()
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(peaks) > 10
    assert max(peaks) <= BUDGET
    assert max(peaks) == BUDGET  # and the budget is used, not merely respected
