"""Outbox claims and leases on SQLite and PostgreSQL: whole customers, exclusive, expiring."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from billing_desk.services.close import close_period
from billing_desk.store import sync_repo
from billing_desk.store.models import Customer, OutboxOperation
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.sync_ops import CREATE_CUSTOMER, PUSH_LINE, SUPERSEDED
from billing_desk.store.uow import UnitOfWork
from tests.integration.sync_seed import NOW, bump, seed

LEASE = timedelta(seconds=30)
ALL = sync_repo.ClaimScope()


def claim(engine: Engine, worker: str, customers: int = 10, now=NOW, scope=ALL):
    with UnitOfWork(engine, write=True) as uow:
        ops = sync_repo.claim(uow.session, worker, now, LEASE, scope, customers)
        uow.commit()
    return ops


def test_claim_takes_whole_customers_and_queues_their_creation(engine: Engine) -> None:
    seeded = seed(engine, customers=3, lines_per_customer=4)
    ops = claim(engine, "w1", customers=2)
    by_customer: dict[str, list[str]] = {}
    for op in ops:
        by_customer.setdefault(op.customer_id, []).append(op.kind)
    assert sorted(by_customer) == seeded.customers[:2]
    for kinds in by_customer.values():
        assert sorted(kinds) == [CREATE_CUSTOMER] + [PUSH_LINE] * 4
    # The third customer is left for another worker; the first two are not offered again.
    other = claim(engine, "w2")
    assert {op.customer_id for op in other} == {seeded.customers[2]}


def test_a_held_customer_is_not_shared_even_with_new_operations(engine: Engine) -> None:
    seeded = seed(engine, customers=1, lines_per_customer=2)
    first = claim(engine, "w1")
    assert first
    bump(engine, seeded.lines[seeded.customers[0]][:1], extra=Decimal(5))
    assert claim(engine, "w2") == []


def test_an_expired_lease_passes_to_another_worker(engine: Engine) -> None:
    seed(engine, customers=1, lines_per_customer=2)
    first = claim(engine, "w1")
    assert claim(engine, "w2", now=NOW + LEASE - timedelta(seconds=1)) == []
    later = claim(engine, "w2", now=NOW + LEASE + timedelta(seconds=1))
    assert sorted(op.id for op in later) == sorted(op.id for op in first)
    # The first worker lost it: what it would record is refused.
    with UnitOfWork(engine, write=True) as uow:
        assert not sync_repo.begin_attempt(uow.session, first[0], "w1", NOW, None)
        assert sync_repo.begin_attempt(uow.session, first[0], "w2", NOW, {"action": "x"})
        uow.commit()
    with UnitOfWork(engine) as uow:
        row = uow.session.get(OutboxOperation, first[0].id)
        assert row is not None
        assert row.attempts == 1
        assert row.first_attempt_at == NOW
        assert row.payload["request"] == {"action": "x"}


def test_renewed_leases_do_not_expire(engine: Engine) -> None:
    seed(engine, customers=1, lines_per_customer=1)
    claim(engine, "w1")
    with UnitOfWork(engine, write=True) as uow:
        assert sync_repo.renew_leases(uow.session, "w1", NOW + LEASE, LEASE) == 2
        uow.commit()
    assert claim(engine, "w2", now=NOW + LEASE + timedelta(seconds=1)) == []


def test_interval_policy_waits_for_old_enough_changes(engine: Engine) -> None:
    seed(engine, customers=1, lines_per_customer=2)
    recent = sync_repo.ClaimScope(interval_cutoff=NOW - timedelta(hours=24))
    assert claim(engine, "w1", scope=recent) == []
    old_enough = sync_repo.ClaimScope(interval_cutoff=NOW + timedelta(seconds=1))
    assert len(claim(engine, "w1", scope=old_enough)) == 3


def test_released_unsent_push_yields_to_a_newer_one(engine: Engine) -> None:
    seeded = seed(engine, customers=1, lines_per_customer=1)
    line_id = seeded.lines[seeded.customers[0]][0]
    ops = claim(engine, "w1")
    push = next(op for op in ops if op.kind == PUSH_LINE)
    bump(engine, [line_id], Decimal(1))  # ingest queues a second row while ours is claimed
    with UnitOfWork(engine, write=True) as uow:
        assert sync_repo.finish(uow.session, push.id, "w1", NOW, state="pending")
        uow.commit()
    with UnitOfWork(engine) as uow:
        rows = uow.session.scalars(
            select(OutboxOperation).where(OutboxOperation.line_id == line_id)
        ).all()
        states = sorted((r.target_version, r.state) for r in rows)
    assert states == [(1, SUPERSEDED), (2, "pending")]


def test_concurrent_claimers_never_share_an_operation(engine: Engine) -> None:
    seed(engine, customers=40, lines_per_customer=2)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            mine: list[int] = []
            while True:
                ops = claim(engine, worker, customers=3)
                if not ops:
                    break
                mine += [op.id for op in ops]
                with UnitOfWork(engine, write=True) as uow:
                    for op in ops:
                        sync_repo.settle_done(uow.session, op.id, worker, NOW, None)
                    uow.commit()
            taken[worker] = mine
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    all_ids = [i for ids in taken.values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == 40 * 3


def test_close_is_idempotent_and_queues_creation_and_finalization(engine: Engine) -> None:
    seed(engine, customers=3, lines_per_customer=2)
    for _ in range(2):
        with UnitOfWork(engine, write=True) as uow:
            result = close_period(uow, "2026-10", NOW, timedelta(hours=24))
    assert result.customers == 3
    assert result.newly_closed == 0
    with UnitOfWork(engine) as uow:
        due = [i.due_at for i in uow.session.scalars(select(PeriodInvoice))]
        kinds = uow.session.scalars(
            select(OutboxOperation.kind).where(OutboxOperation.kind != PUSH_LINE)
        ).all()
        assert uow.session.scalar(select(Customer.stripe_customer_id)) is None
    assert due == [NOW + timedelta(hours=24)] * 3
    assert sorted(kinds) == ["create_invoice"] * 3 + ["finalize_invoice"] * 3
