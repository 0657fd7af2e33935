"""Ingest against the real store (SQLite and PostgreSQL): compiled lines, idempotency, atomicity,
rejects, the outbox, the batch record."""

from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.money import line_amount
from billing_desk.services.customers import import_customers
from billing_desk.services.ingest import IngestSummary, Reject, Source, ingest
from billing_desk.store.models import Increment, IngestBatch, Line, OutboxOperation
from billing_desk.store.uow import UnitOfWork

CUSTOMERS = [("c1", "usd"), ("c2", "usd"), ("c3", "jpy"), ("c4", "kwd")]


@pytest.fixture
def store(engine: Engine) -> Engine:
    rows = "\n".join(
        json.dumps({"id": cid, "name": f"Customer {cid}", "email": f"{cid}@example.com",
                    "currency": cur})
        for cid, cur in CUSTOMERS
    )  # fmt: skip
    with UnitOfWork(engine, write=True) as uow:
        import_customers(uow, [Source("customers.jsonl", io.BytesIO(rows.encode()))])
    return engine


def inc(event: str, customer: str = "c1", **fields: Any) -> dict[str, Any]:
    row = {
        "event_id": event,
        "customer": customer,
        "item": "api.calls",
        "quantity": "1",
        "unit_amount": "0.5",
        "currency": dict(CUSTOMERS).get(customer, "usd"),
        "occurred_at": "2026-01-15T10:00:00Z",
    }
    row.update(fields)
    return row


def jsonl(rows: list[dict[str, Any]] | list[str]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def run(
    engine: Engine,
    *files: tuple[str, bytes],
    skip_invalid: bool = False,
    line_flush: int = 100_000,
) -> tuple[IngestSummary, list[Reject]]:
    rejects: list[Reject] = []
    with UnitOfWork(engine, write=True) as uow:
        summary = ingest(
            uow,
            [Source(name, io.BytesIO(data)) for name, data in files],
            actor="tester",
            skip_invalid=skip_invalid,
            on_reject=rejects.append,
            line_flush=line_flush,
        )
    return summary, rejects


def lines(engine: Engine) -> dict[tuple[str, str, str, Decimal], Line]:
    with UnitOfWork(engine) as uow:
        found = uow.session.scalars(select(Line)).all()
        uow.session.expunge_all()
    return {(x.customer_id, x.period, x.item, x.unit_amount): x for x in found}


def outbox(engine: Engine) -> list[OutboxOperation]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.scalars(select(OutboxOperation).order_by(OutboxOperation.id)).all()
        uow.session.expunge_all()
    return list(rows)


def count(engine: Engine, model: Any) -> int:
    with UnitOfWork(engine) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_lines_are_exact_sums_of_their_increments(store: Engine) -> None:
    rng = random.Random(7)
    rows = []
    for n in range(400):
        customer = rng.choice(["c1", "c2", "c3", "c4"])
        rows.append(
            inc(
                f"e{n}",
                customer,
                item=rng.choice(["api.calls", "storage.gb-hours", "seats"]),
                quantity=rng.choice(["0.000000000001", "1", "2.5", "1000000", "0.333333333333"]),
                unit_amount=rng.choice(["0.05", "1", "4.2", "0.0125"]),
                occurred_at=rng.choice(
                    ["2026-01-31T23:59:59Z", "2026-02-01T00:30:00+01:00", "2026-02-01T00:00:00Z"]
                ),
            )
        )
    # A tiny flush size makes every line be written several times within the call.
    summary, rejects = run(store, ("usage.jsonl", jsonl(rows)), line_flush=3)
    assert (summary.accepted, summary.duplicates, summary.rejected, rejects) == (400, 0, 0, [])
    expected: dict[tuple[str, str, str, Decimal], list[Decimal]] = defaultdict(list)
    for row in rows:
        utc = {"2026-02-01T00:30:00+01:00": "2026-01"}.get(row["occurred_at"])
        period = utc or row["occurred_at"][:7]
        key = (row["customer"], period, row["item"], Decimal(row["unit_amount"]))
        expected[key].append(Decimal(row["quantity"]))
    stored = lines(store)
    assert set(stored) == set(expected)
    for key, quantities in expected.items():
        line = stored[key]
        assert line.quantity == sum(quantities)
        assert line.increment_count == len(quantities)
        amount = line_amount(sum(quantities), key[3], line.currency)
        assert (line.compiled_amount, line.amount) == (amount, amount)
        assert line.version == 1  # one call: one version, however many flushes
        assert line.sync_state == "pending"
        assert line.dirty_since is not None
    pushes = outbox(store)
    assert sorted(p.line_id for p in pushes) == sorted(x.id for x in stored.values())
    assert {p.idempotency_key for p in pushes} == {f"bd:{x.id}:1" for x in stored.values()}
    assert all(p.kind == "push_line" and p.state == "pending" for p in pushes)


def test_new_usage_bumps_a_line_once_per_call_and_its_waiting_push_follows(store: Engine) -> None:
    run(store, ("a.jsonl", jsonl([inc("e1")])))
    (line,) = lines(store).values()
    assert (line.version, line.quantity, line.amount) == (1, 1, 1)  # 0.5 rounds away from zero
    first_dirty = line.dirty_since
    run(store, ("b.jsonl", jsonl([inc("e2"), inc("e3"), inc("e4")])), line_flush=1)
    (line,) = lines(store).values()
    assert (line.version, line.quantity, line.amount, line.increment_count) == (2, 4, 2, 4)
    assert line.dirty_since == first_dirty  # the oldest unpushed change
    (push,) = outbox(store)
    assert (push.target_version, push.idempotency_key) == (2, f"bd:{line.id}:2")
    # Once the engine has tried a push, its key is frozen: a newer version queues a new row.
    with UnitOfWork(store, write=True) as uow:
        uow.session.execute(update(OutboxOperation).values(attempts=1))
        uow.commit()
    run(store, ("c.jsonl", jsonl([inc("e5")])))
    old, new = outbox(store)
    assert (old.target_version, old.idempotency_key) == (2, f"bd:{line.id}:2")
    assert (new.target_version, new.idempotency_key, new.attempts) == (3, f"bd:{line.id}:3", 0)


def test_the_same_file_again_is_all_duplicates_and_changes_nothing(store: Engine) -> None:
    data = jsonl([inc(f"e{n}", quantity=str(n)) for n in range(50)])
    first, _ = run(store, ("usage.jsonl", data))
    before = {k: (v.version, v.quantity) for k, v in lines(store).items()}
    again, rejects = run(store, ("usage.jsonl", data))
    assert (first.accepted, again.accepted, again.duplicates, again.rejected) == (50, 0, 50, 0)
    assert rejects == []
    assert {k: (v.version, v.quantity) for k, v in lines(store).items()} == before
    assert count(store, Increment) == 50
    assert [p.target_version for p in outbox(store)] == [1]


def test_a_repeated_event_with_other_content_is_a_conflicting_duplicate(store: Engine) -> None:
    run(store, ("a.jsonl", jsonl([inc("e1")])))
    same_in_file = [inc("e2"), inc("e2"), inc("e3"), inc("e3", quantity="2")]
    summary, rejects = run(
        store, ("b.jsonl", jsonl([inc("e1", quantity="9"), *same_in_file])), skip_invalid=True
    )
    assert (summary.accepted, summary.duplicates, summary.rejected) == (2, 1, 2)
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(1, "event_id"), (5, "event_id")]
    by_line = {r.line: r.reason for r in rejects}
    assert "conflicting duplicate: 'e1' was ingested before" in by_line[1]
    assert "quantity '1' then '9'" in by_line[1]
    assert "'e3' was given earlier in this call" in by_line[5]
    # The same instant written with another offset is the same content.
    offset = inc("e1", occurred_at="2026-01-15T11:00:00+01:00")
    summary, _ = run(store, ("c.jsonl", jsonl([offset])))
    assert (summary.duplicates, summary.rejected) == (1, 0)


def test_atomic_by_default_one_bad_row_writes_nothing(store: Engine) -> None:
    rows = [inc(f"e{n}") for n in range(20)]
    rows[13]["quantity"] = 1.5
    summary, rejects = run(store, ("usage.jsonl", jsonl(rows)))
    assert (summary.accepted, summary.rejected, summary.written) == (0, 1, False)
    (reject,) = rejects
    assert str(reject).startswith("usage.jsonl:14: quantity: the JSON number 1.5 is a binary float")
    assert reject.row == json.dumps(rows[13])
    for model in (Increment, Line, OutboxOperation, IngestBatch):
        assert count(store, model) == 0


def test_skip_invalid_writes_the_valid_rows_and_names_each_bad_one(store: Engine) -> None:
    rows: list[Any] = [inc(f"e{n}") for n in range(10)]
    rows[2] = inc("e2", customer="nobody", currency="usd")
    rows[5] = inc("e5", customer="c3")  # c3 bills in jpy
    rows[5]["currency"] = "usd"
    rows[7] = ""
    summary, rejects = run(store, ("u.jsonl", jsonl(rows)), skip_invalid=True)
    assert (summary.accepted, summary.rejected, summary.written) == (7, 3, True)
    assert sorted(str(r) for r in rejects) == [
        "u.jsonl:3: customer: 'nobody' is not an imported customer",
        "u.jsonl:6: currency: 'usd' differs from customer 'c3''s currency 'jpy'",
        "u.jsonl:8: empty line",
    ]
    assert count(store, Increment) == 7
    assert lines(store)[("c1", "2026-01", "api.calls", Decimal("0.5"))].quantity == 7


def test_several_files_jsonl_and_csv_in_one_call_with_its_batch_record(store: Engine) -> None:
    csv = (
        b"event_id,customer,item,quantity,unit_amount,currency,occurred_at,description\r\n"
        b"e10,c3,seats,2,1200,jpy,2026-01-02T00:00:00Z,\r\n"
        b'"e11",c3,seats,"1.5",1200,jpy,2026-01-03T00:00:00+09:00,"Seats, monthly"\r\n'
    )
    summary, rejects = run(store, ("a.jsonl", jsonl([inc("e1")])), ("b.csv", csv))
    assert (summary.accepted, rejects) == (3, [])
    seats = lines(store)[("c3", "2026-01", "seats", Decimal(1200))]
    assert (seats.quantity, seats.amount, seats.description) == (Decimal("3.5"), 4200, "seats")
    with UnitOfWork(store) as uow:
        (batch,) = uow.session.scalars(select(IngestBatch)).all()
        assert (batch.actor, batch.files, batch.accepted) == ("tester", ["a.jsonl", "b.csv"], 3)
        assert batch.finished_at is not None
        assert batch.finished_at >= batch.started_at


def test_csv_rules(store: Engine) -> None:
    header = "event_id,customer,item,quantity,unit_amount,currency,occurred_at\n"
    with pytest.raises(InvalidInput, match=r"b\.csv:1: unknown column 'colour'"):
        run(store, ("b.csv", (header.strip() + ",colour\n").encode()))
    with pytest.raises(InvalidInput, match=r"b\.csv:1: missing column 'quantity'"):
        run(store, ("b.csv", b"event_id,customer,item,unit_amount,currency,occurred_at\n"))
    body = header + "e1,c1,api.calls,1,0.5,usd\n" + "\n" + "e2,c1,api.calls,1e3,0.5,usd,x\n"
    summary, rejects = run(store, ("b.csv", body.encode()), skip_invalid=True)
    assert summary.rejected == 3
    assert [str(r) for r in rejects] == [
        "b.csv:2: has 6 fields; the header has 7",
        "b.csv:3: empty line",
        "b.csv:4: quantity: '1e3' has an exponent; write it as a plain decimal",
    ]


def test_a_voided_line_keeps_billing_nothing_and_corrections_stay_on_top(store: Engine) -> None:
    run(store, ("a.jsonl", jsonl([inc("e1", customer="c2"), inc("e2", customer="c1")])))
    with UnitOfWork(store, write=True) as uow:
        uow.session.execute(
            update(Line).where(Line.customer_id == "c2").values(voided=True, amount=0)
        )
        uow.session.execute(update(Line).where(Line.customer_id == "c1").values(amount=100))
        uow.commit()
    run(store, ("b.jsonl", jsonl([inc("e3", customer="c2"), inc("e4", customer="c1")])))
    found = lines(store)
    voided = found[("c2", "2026-01", "api.calls", Decimal("0.5"))]
    adjusted = found[("c1", "2026-01", "api.calls", Decimal("0.5"))]
    assert (voided.compiled_amount, voided.amount) == (1, 0)
    assert (adjusted.compiled_amount, adjusted.amount) == (1, 100)  # +99 correction kept


def test_non_utf8_and_overlong_lines_are_rejected_by_number(store: Engine) -> None:
    huge = b"x" * (3 * 2**20)  # longer than a read block: dropped as it streams by
    data = b"\n".join(
        [jsonl([inc("e1")]).strip(), b"\xff\xfe not text", b"y" * 70_000, huge, b"", b""]
    ) + jsonl([inc("e2")])
    summary, rejects = run(store, ("u.jsonl", data), skip_invalid=True)
    assert (summary.accepted, summary.rejected) == (2, 4)
    assert [str(r) for r in rejects] == [
        "u.jsonl:2: line is not UTF-8 text",
        "u.jsonl:3: line is longer than 65536 bytes",
        "u.jsonl:4: line is longer than 65536 bytes",
        "u.jsonl:5: empty line",
    ]


def test_values_that_need_escaping_are_stored_as_given(store: Engine) -> None:
    odd = 'Tab\there, back\\slash, "quoted", new\nline, \\N, ünïcödé'
    rows = [inc("e1", description=odd), inc("e\t2", description="plain")]
    summary, rejects = run(store, ("u.jsonl", jsonl(rows)))
    assert (summary.accepted, rejects) == (2, [])
    with UnitOfWork(store) as uow:
        stored = dict(uow.session.execute(select(Increment.event_id, Increment.description)).all())
    assert stored == {"e1": odd, "e\t2": "plain"}
    assert next(iter(lines(store).values())).description == odd


def test_a_reject_from_a_clean_block_shows_its_line(store: Engine) -> None:
    rows = [inc("e1"), inc("e2", customer="ghost"), inc("e3")]
    summary, rejects = run(store, ("u.jsonl", jsonl(rows)), skip_invalid=True)
    assert (summary.accepted, summary.rejected) == (2, 1)
    assert (rejects[0].line, rejects[0].row) == (2, json.dumps(rows[1]))
