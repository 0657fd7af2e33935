"""`queue_line_pushes`, which every writer of lines calls (ingest, corrections, the sync engine):
one waiting push per line that follows the line's latest version until it is attempted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, select, update

from billing_desk.store.models import Customer, Line, OutboxOperation
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.uow import UnitOfWork

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def make_lines(engine: Engine, count: int) -> list[int]:
    with UnitOfWork(engine, write=True) as uow:
        uow.session.add(
            Customer(
                id="c1",
                name="C",
                email="c@example.com",
                currency="usd",
                balance=0,
                flags={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        lines = [
            Line(
                customer_id="c1",
                period="2026-01",
                kind="usage",
                item=f"item{n}",
                description="d",
                unit_amount=Decimal(1),
                currency="usd",
                quantity=Decimal(1),
                increment_count=1,
                compiled_amount=1,
                amount=1,
                voided=False,
                version=1,
                sync_state="pending",
                updated_at=NOW,
            )
            for n in range(count)
        ]
        uow.session.add_all(lines)
        uow.session.flush()
        ids = [line.id for line in lines]
        uow.commit()
    return ids


def pushes(engine: Engine) -> list[tuple[int | None, int | None, str, int]]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.scalars(select(OutboxOperation).order_by(OutboxOperation.id))
        return [(r.line_id, r.target_version, r.idempotency_key, r.attempts) for r in rows]


def test_one_waiting_push_per_line_follows_its_latest_version(engine: Engine) -> None:
    a, b = make_lines(engine, 2)
    with UnitOfWork(engine, write=True) as uow:
        queued = queue_line_pushes(
            uow.session,
            [LineChange(a, "c1", 1), LineChange(b, "c1", 1), LineChange(a, "c1", 3)],
            NOW,
        )
        uow.commit()
    assert queued == 2  # two changes of line a collapse to its latest
    assert pushes(engine) == [(a, 3, f"bd:{a}:3", 0), (b, 1, f"bd:{b}:1", 0)]

    # An older version never moves a waiting push back; the same call twice changes nothing.
    with UnitOfWork(engine, write=True) as uow:
        conn = uow.session.connection()  # a Connection works as well as a Session
        queue_line_pushes(conn, [LineChange(a, "c1", 2), LineChange(b, "c1", 2)], NOW)
        queue_line_pushes(conn, [LineChange(b, "c1", 2)], NOW)
        uow.commit()
    assert pushes(engine) == [(a, 3, f"bd:{a}:3", 0), (b, 2, f"bd:{b}:2", 0)]

    # Once attempted, a push keeps its key; a newer version queues a row of its own.
    with UnitOfWork(engine, write=True) as uow:
        uow.session.execute(
            update(OutboxOperation).where(OutboxOperation.line_id == a).values(attempts=1)
        )
        queue_line_pushes(uow.session, [LineChange(a, "c1", 4)], NOW)
        uow.commit()
    assert pushes(engine) == [
        (a, 3, f"bd:{a}:3", 1),
        (b, 2, f"bd:{b}:2", 0),
        (a, 4, f"bd:{a}:4", 0),
    ]
    with engine.connect() as conn:
        assert queue_line_pushes(conn, [], NOW) == 0


def test_queueing_is_part_of_the_callers_transaction(engine: Engine) -> None:
    (a,) = make_lines(engine, 1)
    with UnitOfWork(engine, write=True) as uow:
        queue_line_pushes(uow.session, [LineChange(a, "c1", 2)], NOW)
        # no commit: rolled back with the change that needed it
    assert pushes(engine) == []
