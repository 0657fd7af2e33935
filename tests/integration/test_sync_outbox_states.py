"""The outbox's lease state machine, driven by Hypothesis on a real SQLite store: workers claim,
send, settle, die and come back while ingest keeps changing lines. Whatever the interleaving, an
operation is never held by two live leases, a line never has two unsent pushes, and settling
needs the lease."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from billing_desk.store import sync_repo
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.store.models import OutboxOperation
from billing_desk.store.uow import UnitOfWork
from tests.integration.sync_seed import NOW, bump, seed

LEASE = timedelta(seconds=30)
WORKERS = ("w1", "w2", "w3")


class OutboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.engine = create_store_engine(f"sqlite:///{Path(self.dir.name) / 's.sqlite3'}")
        upgrade(self.engine)
        self.seeded = seed(self.engine, customers=3, lines_per_customer=2)
        self.lines = [ln for ids in self.seeded.lines.values() for ln in ids]
        self.now = NOW
        self.held: dict[str, list[sync_repo.ClaimedOp]] = {w: [] for w in WORKERS}

    def teardown(self) -> None:
        self.engine.dispose()
        self.dir.cleanup()

    @rule(worker=st.sampled_from(WORKERS), customers=st.integers(1, 3))
    def claim(self, worker: str, customers: int) -> None:
        with UnitOfWork(self.engine, write=True) as uow:
            ops = sync_repo.claim(
                uow.session, worker, self.now, LEASE, sync_repo.ClaimScope(), customers
            )
            uow.commit()
        self.held[worker] = [*self.held[worker], *ops]

    @rule(worker=st.sampled_from(WORKERS), ok=st.booleans())
    def send_and_settle(self, worker: str, ok: bool) -> None:
        if not self.held[worker]:
            return
        op = self.held[worker].pop(0)
        with UnitOfWork(self.engine, write=True) as uow:
            began = sync_repo.begin_attempt(uow.session, op, worker, self.now, {"action": "x"})
            if began and ok:
                assert sync_repo.settle_done(uow.session, op.id, worker, self.now, "ii_1")
            elif began:
                assert sync_repo.finish(
                    uow.session, op.id, worker, self.now, state="pending", error="503",
                    next_attempt_at=self.now + timedelta(seconds=5),
                )  # fmt: skip
            uow.commit()

    @rule(worker=st.sampled_from(WORKERS))
    def die(self, worker: str) -> None:
        self.held[worker] = []  # its leases stay in the store until they expire

    @rule(seconds=st.integers(1, 40))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(index=st.integers(0, 5))
    def usage_arrives(self, index: int) -> None:
        bump(self.engine, [self.lines[index]], Decimal(1), self.now)

    @invariant()
    def one_live_lease_per_customer_and_one_unsent_push_per_line(self) -> None:
        with UnitOfWork(self.engine) as uow:
            s = uow.session
            op = OutboxOperation
            owners = s.execute(
                select(op.customer_id, func.count(func.distinct(op.lease_owner)))
                .where(op.state == "claimed", op.lease_expires_at >= self.now)
                .group_by(op.customer_id)
            ).all()
            assert all(count == 1 for _, count in owners), owners
            unsent = s.execute(
                select(op.line_id, func.count())
                .where(op.state == "pending", op.attempts == 0)
                .group_by(op.line_id)
            ).all()
            assert all(count == 1 for _, count in unsent), unsent
            orphan = s.scalar(
                select(func.count())
                .select_from(OutboxOperation)
                .where(OutboxOperation.state == "claimed", OutboxOperation.lease_owner.is_(None))
            )
            assert orphan == 0


TestOutboxStates = OutboxMachine.TestCase
TestOutboxStates.settings = settings(max_examples=20, stateful_step_count=25, deadline=None)
