"""`customers import` against the real store: upsert by id, the rules of each field, links to
Stripe customers that never move silently, atomicity."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from billing_desk.domain.errors import InvalidInput
from billing_desk.services.customers import ImportSummary, import_customers
from billing_desk.services.ingest import Reject, Source, ingest
from billing_desk.store.models import Customer
from billing_desk.store.uow import UnitOfWork


def customer(cid: str, **fields: Any) -> dict[str, Any]:
    row = {"id": cid, "name": f"Name {cid}", "email": f"{cid}@example.com", "currency": "usd"}
    row.update(fields)
    return row


def load(
    engine: Engine, name: str, data: bytes, *, skip_invalid: bool = False
) -> tuple[ImportSummary, list[Reject]]:
    rejects: list[Reject] = []
    with UnitOfWork(engine, write=True) as uow:
        summary = import_customers(
            uow,
            [Source(name, io.BytesIO(data))],
            skip_invalid=skip_invalid,
            on_reject=rejects.append,
        )
    return summary, rejects


def jsonl(*rows: dict[str, Any] | str) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def stored(engine: Engine) -> dict[str, tuple[str, str, str, str | None]]:
    with UnitOfWork(engine) as uow:
        return {
            c.id: (c.name, c.email, c.currency, c.stripe_customer_id)
            for c in uow.session.scalars(select(Customer))
        }


def test_upsert_by_id_from_jsonl_and_csv(engine: Engine) -> None:
    summary, _ = load(engine, "a.jsonl", jsonl(customer("c1"), customer("c2", currency="eur")))
    assert summary.to_json() == {"created": 2, "updated": 0, "rejected": 0, "unchanged": 0}
    csv = (
        "id,name,email,currency,stripe_customer_id\n"
        "c1,Ada Lovelace,ada@example.com,usd,cus_Ada1\n"
        'c2,"Name c2",c2@example.com,eur,\n'
        "c3,Grace Hopper,grace@example.org,jpy,cus_Grace\n"
    )
    summary, rejects = load(engine, "b.csv", csv.encode())
    assert (summary.created, summary.updated, summary.unchanged, rejects) == (1, 1, 1, [])
    assert stored(engine) == {
        "c1": ("Ada Lovelace", "ada@example.com", "usd", "cus_Ada1"),
        "c2": ("Name c2", "c2@example.com", "eur", None),
        "c3": ("Grace Hopper", "grace@example.org", "jpy", "cus_Grace"),
    }
    # A row without stripe_customer_id keeps the link; the same row twice in a file is
    # applied in order.
    again = jsonl(customer("c1", name="Ada"), customer("c1", name="Ada L."))
    summary, _ = load(engine, "c.jsonl", again)
    assert (summary.created, summary.updated) == (0, 2)
    assert stored(engine)["c1"] == ("Ada L.", "c1@example.com", "usd", "cus_Ada1")


BAD_ROWS: list[tuple[dict[str, Any] | str, str]] = [
    (customer("bad id"), "id: 'bad id' is not a customer id"),
    (customer("-c1"), "id: '-c1' is not a customer id"),
    (customer("c" * 256), "is not a customer id"),
    (customer("c1", email="not-an-email"), "email: 'not-an-email' is not an email address"),
    (customer("c1", email="a@b"), "email: 'a@b' is not an email address"),
    (customer("c1", currency="USD"), "currency: 'USD' must be lower case (write 'usd')"),
    (customer("c1", currency="xyz"), "currency: 'xyz' is not a currency Stripe supports"),
    (customer("c1", stripe_customer_id="cust_1"), "stripe_customer_id: 'cust_1' is not a"),
    (customer("c1", name="   "), "name: must not be blank"),
    (customer("c1", name="n" * 501), "name: is 501 characters; at most 500"),
    (customer("c1", name=7), "name: must be a string, not a number"),
    (customer("c1", colour="red"), "unknown field 'colour'"),
    ({"id": "c1", "name": "x", "currency": "usd"}, "email: missing or empty"),
    ("[1]", "a row must be a JSON object"),
    ("{", "not valid JSON"),
    ("", "empty line"),
]


def test_each_bad_field_is_named_and_nothing_is_written(engine: Engine) -> None:
    data = jsonl(customer("c0"), *(row for row, _ in BAD_ROWS))
    summary, rejects = load(engine, "c.jsonl", data)
    assert (summary.rejected, summary.written) == (len(BAD_ROWS), False)
    for number, (reject, (_, reason)) in enumerate(zip(rejects, BAD_ROWS, strict=True), 2):
        assert str(reject).startswith(f"c.jsonl:{number}: ")
        assert reason in str(reject)
    assert stored(engine) == {}  # atomic: the good row is not written either


def test_skip_invalid_writes_the_rest(engine: Engine) -> None:
    summary, rejects = load(
        engine,
        "c.jsonl",
        jsonl(customer("c1"), customer("c2", email="nope"), customer("c3")),
        skip_invalid=True,
    )
    assert (summary.created, summary.rejected, summary.written) == (2, 1, True)
    assert rejects[0].row == json.dumps(customer("c2", email="nope"))
    assert set(stored(engine)) == {"c1", "c3"}


def test_links_to_stripe_customers_do_not_move_silently(engine: Engine) -> None:
    load(engine, "a.jsonl", jsonl(customer("c1", stripe_customer_id="cus_A")))
    summary, rejects = load(
        engine,
        "b.jsonl",
        jsonl(
            customer("c1", stripe_customer_id="cus_B"),
            customer("c2", stripe_customer_id="cus_A"),
            customer("c3", stripe_customer_id="cus_C"),
            customer("c4", stripe_customer_id="cus_C"),
        ),
        skip_invalid=True,
    )
    assert summary.created == 1
    assert [str(r) for r in rejects] == [
        (
            "b.jsonl:1: stripe_customer_id: customer 'c1' is linked to 'cus_A'; refusing to "
            "relink it to 'cus_B'"
        ),
        "b.jsonl:2: stripe_customer_id: 'cus_A' already belongs to customer 'c1'",
        "b.jsonl:4: stripe_customer_id: 'cus_C' already belongs to customer 'c3'",
    ]


def test_currency_is_fixed_once_a_customer_has_usage(engine: Engine) -> None:
    load(engine, "a.jsonl", jsonl(customer("c1"), customer("c2")))
    usage = {
        "event_id": "e1",
        "customer": "c1",
        "item": "seats",
        "quantity": "1",
        "unit_amount": "100",
        "currency": "usd",
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    with UnitOfWork(engine, write=True) as uow:
        ingest(uow, [Source("u.jsonl", io.BytesIO(jsonl(usage)))], actor="t")
    summary, rejects = load(
        engine,
        "b.jsonl",
        jsonl(customer("c1", currency="eur"), customer("c2", currency="eur")),
        skip_invalid=True,
    )
    assert (summary.updated, summary.rejected) == (1, 1)
    assert "customer 'c1' already has usage in 'usd'; its currency cannot change" in str(rejects[0])
    assert stored(engine)["c2"][2] == "eur"


def test_csv_header_problems_refuse_the_file(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match=r"c\.csv:1: unknown column 'phone'"):
        load(engine, "c.csv", b"id,name,email,currency,phone\n")
    with pytest.raises(InvalidInput, match=r"c\.csv:1: missing column 'email'"):
        load(engine, "c.csv", b"id,name,currency\n")
    _, rejects = load(
        engine, "c.csv", b"id,name,email,currency\nc1,A,a@example.com\n\n", skip_invalid=True
    )
    assert [str(r) for r in rejects] == [
        "c.csv:2: has 3 fields; the header has 4",
        "c.csv:3: empty line",
    ]
