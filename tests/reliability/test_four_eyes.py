"""Four-eyes under concurrency, on both backends: two leads approving at once make one approval,
two workers applying it apply it once, two agents proposing on one line leave one open."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select

from billing_desk.domain.corrections import Kind, Refused, Status
from billing_desk.services import corrections as svc
from billing_desk.store.models import OutboxOperation
from billing_desk.store.models.corrections import Approval, Correction
from billing_desk.store.uow import UnitOfWork
from tests.integration.corrections_support import add_staff, line, proposal, seed

pytestmark = pytest.mark.slow


def race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at the same moment, each in its own thread and transaction."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def runner(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the loser's refusal is the result under test
            results[i] = exc

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def count(engine: Engine, model: type, **where: object) -> int:
    with UnitOfWork(engine) as uow:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(uow.session.scalar(query) or 0)


@pytest.fixture
def pending(engine: Engine) -> tuple[Engine, int, int]:
    (first, _) = seed(engine)
    add_staff(engine)
    with UnitOfWork(engine, write=True) as uow:
        decision = svc.propose(uow, "ann", proposal(Kind.ADJUST, line_id=first, amount=100))
    assert decision.status is Status.PENDING_APPROVAL
    return engine, decision.id, first


def test_two_leads_approving_at_once_make_one_approval(pending: tuple[Engine, int, int]) -> None:
    engine, cid, _ = pending

    def approve(lead: str) -> Callable[[], object]:
        def call() -> object:
            with UnitOfWork(engine, write=True) as uow:
                return svc.approve(uow, lead, cid)

        return call

    results = race(approve("lee"), approve("lou"))
    winners = [r for r in results if isinstance(r, svc.Decision)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], Refused), losers[0]
    assert count(engine, Approval, correction_id=cid) == 1


def test_two_workers_applying_one_approval_apply_it_once(pending: tuple[Engine, int, int]) -> None:
    engine, cid, first = pending
    with UnitOfWork(engine, write=True) as uow:
        svc.approve(uow, "lee", cid)

    def apply() -> object:
        with UnitOfWork(engine, write=True) as uow:
            return svc.apply_approved(uow, "lee")

    results = race(apply, apply)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(len(r) for r in results if isinstance(r, list)) == [0, 1]
    after = line(engine, first)
    assert (after.amount, after.version) == (100, 2)
    assert count(engine, OutboxOperation, line_id=first) == 1


def test_two_agents_proposing_on_one_line_leave_one_open(engine: Engine) -> None:
    (first, _) = seed(engine)
    add_staff(engine)

    def propose(agent: str) -> Callable[[], object]:
        def call() -> object:
            with UnitOfWork(engine, write=True) as uow:
                return svc.propose(uow, agent, proposal(Kind.VOID, line_id=first))

        return call

    results = race(propose("ann"), propose("bob"))
    assert sum(isinstance(r, svc.Decision) for r in results) == 1
    assert sum(isinstance(r, Refused) for r in results) == 1, results
    assert count(engine, Correction, status="pending_approval") == 1
