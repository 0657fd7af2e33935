"""Bad input gets a clear message naming what is wrong, and nothing is half-written.

Row kinds (CONTRACT.md "Usage increments" and `customers import`) go through the CLI's entry
point in-process; a store that cannot be used (corrupt, locked, unreachable, newer than the
app) goes through a real subprocess, which must print one line and exit 5, never a traceback.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from billing_desk.cli import main

GOOD = {
    "event_id": "ok-1",
    "customer": "c1",
    "item": "api.calls",
    "description": "API calls",
    "quantity": "2",
    "unit_amount": "0.5",
    "currency": "usd",
    "occurred_at": "2026-01-05T10:00:00Z",
}


def row(**changes: Any) -> str:
    return json.dumps({k: v for k, v in {**GOOD, **changes}.items() if v is not None})


# (line as written, words its reason must contain)
BAD_INCREMENTS: list[tuple[str, str]] = [
    (row(event_id="b1", colour="red"), "unknown field 'colour'"),
    (row(event_id="b2", quantity=1.5), "quantity: the JSON number 1.5 is a binary float"),
    (row(event_id="b3").replace('"0.5"', "0.5"), "unit_amount: the JSON number 0.5 is a binary"),
    (row(event_id="b4").replace('"2"', "NaN"), "quantity: NaN is not a number JSON allows"),
    (row(event_id="b5").replace('"2"', "-Infinity"), "quantity: -Infinity is not a number"),
    (row(event_id="b6").replace('"2"', "2e0"), "quantity: the JSON number 2e0 has an exponent"),
    (row(event_id="b7", quantity="2E3"), "quantity: '2E3' has an exponent"),
    ("", "empty line"),
    (row(event_id="b9", customer="ghost"), "customer: 'ghost' is not an imported customer"),
    (row(event_id="b10", currency="eur"), "currency: 'eur' differs from customer 'c1'"),
    (row(event_id="b11", item="API Calls"), "item: 'API Calls' is not an item code"),
    (row(event_id="b12", description="x" * 501), "description: is 501 characters; at most 500"),
    (row(event_id="b13", quantity="0.0000000000001"), "quantity: '0.0000000000001' has more"),
    (row(event_id="b14", quantity="-3"), "quantity: '-3' is negative; it must be >= 0"),
    (row(event_id="b15", quantity="1000000000001"), "quantity: 1000000000001 is more than"),
    (row(event_id="b16", occurred_at="2026-01-05T10:00:00"), "occurred_at: '2026-01-05T10:00:00'"),
    ("[1, 2]", "a row must be a JSON object, not an array"),
    (row(event_id=""), "event_id: missing or empty"),
    (row(event_id="b19", currency="USD"), "currency: 'USD' must be lower case"),
    (row(event_id="ok-0", quantity="3"), "event_id: conflicting duplicate: 'ok-0'"),
]
NOT_UTF8 = b'{"event_id": "b21", "description": "caf\xe9"}'


@pytest.fixture
def store_url(engine: Engine, db_url: str, tmp_path: Path) -> str:
    customers = tmp_path / "customers.jsonl"
    customers.write_text(
        json.dumps({"id": "c1", "name": "C One", "email": "c1@example.com", "currency": "usd"})
        + "\n"
    )
    assert main(["--db", db_url, "customers", "import", str(customers)]) == 0
    first = tmp_path / "first.jsonl"
    first.write_text(row(event_id="ok-0") + "\n")
    assert main(["--db", db_url, "ingest", str(first)]) == 0
    return db_url


def counts(url: str) -> tuple[int, int, int]:
    from billing_desk.store.engine import create_store_engine

    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT count(*) FROM increments")).scalar_one(),
                conn.execute(text("SELECT sum(version) FROM lines")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM ingest_batches")).scalar_one(),
            )
    finally:
        engine.dispose()


def test_every_malformed_increment_is_named_and_nothing_is_half_written(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = tmp_path / "usage.jsonl"
    body = b"".join(line.encode() + b"\n" for line, _ in BAD_INCREMENTS)
    usage.write_bytes(row(event_id="ok-2").encode() + b"\n" + body + NOT_UTF8 + b"\n")
    capsys.readouterr()
    before = counts(store_url)

    assert main(["--db", store_url, "--json", "ingest", str(usage)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["rejected"] == len(BAD_INCREMENTS) + 1
    messages = err.splitlines()
    for number, (_, words) in enumerate(BAD_INCREMENTS, 2):
        assert any(
            m.startswith(f"billing-desk: {usage}:{number}: ") and words in m for m in messages
        ), (
            number,
            words,
        )
    assert f"{usage}:{len(BAD_INCREMENTS) + 2}: line is not UTF-8 text" in err
    assert "nothing was written" in err
    assert counts(store_url) == before

    rejects = tmp_path / "rejects.jsonl"
    code = main(
        ["--db", store_url, "ingest", str(usage), "--skip-invalid", "--rejects", str(rejects)]
    )
    assert code == 1
    records = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in records] == list(range(2, len(BAD_INCREMENTS) + 3))
    assert all(r["file"] == str(usage) and r["reason"] for r in records)
    assert counts(store_url)[0] == before[0] + 1  # only ok-2


def test_every_malformed_customer_row_is_named(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"id": "c2", "name": "C Two", "email": "c2@example.com", "currency": "eur"}
    bad: list[tuple[dict[str, Any], str]] = [
        ({**good, "id": "c 3"}, "id: 'c 3' is not a customer id"),
        ({**good, "email": "c2.example.com"}, "email: 'c2.example.com' is not an email address"),
        ({**good, "currency": "EUR"}, "currency: 'EUR' must be lower case"),
        ({**good, "currency": "zzz"}, "currency: 'zzz' is not a currency Stripe supports"),
        ({**good, "stripe_customer_id": "cs_1"}, "stripe_customer_id: 'cs_1' is not a Stripe"),
        ({**good, "vip": True}, "unknown field 'vip'"),
        ({"id": "c1", "name": "C One", "email": "c1@example.com", "currency": "eur"}, "currency:"),
    ]
    path = tmp_path / "customers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [good, *(r for r, _ in bad)]))
    capsys.readouterr()
    assert main(["--db", store_url, "customers", "import", str(path)]) == 1
    err = capsys.readouterr().err
    for number, (_, words) in enumerate(bad, 2):
        assert f"{path}:{number}: {words}" in err
    assert "nothing was written" in err


# --- a store that cannot be used: one line, exit 5, never a traceback ---------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billing_desk", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("billing-desk: error: ")
    assert words in line


@pytest.fixture
def usage_file(tmp_path: Path) -> Path:
    path = tmp_path / "usage.jsonl"
    path.write_text(row() + "\n")
    return path


def test_a_corrupt_sqlite_file(tmp_path: Path, usage_file: Path) -> None:
    store = tmp_path / "store.sqlite3"
    store.write_bytes(b"definitely not SQLite " * 512)
    result = run_cli("--db", f"sqlite:///{store}", "ingest", str(usage_file))
    assert_one_clear_line(result, "is not a readable SQLite database")


@pytest.fixture
def locked_store(sqlite_engine: Engine) -> Iterator[str]:
    """A store another program holds an exclusive lock on."""
    path = sqlite_engine.url.database
    assert path is not None
    sqlite_engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO settings VALUES ('held', '1', 'x', 'x')")
    try:
        yield f"sqlite:///{path}"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_locked_sqlite_file(locked_store: str, usage_file: Path) -> None:
    result = run_cli("--db", locked_store, "ingest", str(usage_file))
    assert_one_clear_line(result, "is locked by another program")


def test_an_unreachable_postgresql(usage_file: Path) -> None:
    url = "postgresql+psycopg://billing:secret@127.0.0.1:9/nowhere"
    result = run_cli("--db", url, "ingest", str(usage_file))
    assert_one_clear_line(result, "cannot open the store")
    assert "secret" not in result.stderr


def test_a_schema_newer_than_the_app(engine: Engine, db_url: str, usage_file: Path) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    for args in (["ingest", str(usage_file)], ["lines", "--customer", "c1", "--period", "2026-01"]):
        result = run_cli("--db", db_url, *args)
        assert_one_clear_line(result, "newer than this version of Billing Desk")
