"""Who is acting is decided once for every command (`Context.identify`), not per command.

On PostgreSQL the identity is the database login: `--as` (or BILLING_DESK_USER) naming anyone
else is refused by every command that touches the store, before it reads or writes anything.
On SQLite the named user is who acts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from billing_desk.cli import main
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from tests.conftest import reset_pg_schema

CUSTOMER = {"id": "c1", "name": "Acme Ltd", "email": "a@acme.test", "currency": "usd"}
USAGE = {
    "event_id": "e1",
    "customer": "c1",
    "item": "api.calls",
    "quantity": "3",
    "unit_amount": "10",
    "currency": "usd",
    "occurred_at": "2026-01-05T10:00:00Z",
}


def write_jsonl(path: Path, row: dict[str, str]) -> str:
    path.write_text(json.dumps(row) + "\n")
    return str(path)


def counts(url: str) -> tuple[int, ...]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(
                int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("customers", "increments", "audit_log")
            )
    finally:
        engine.dispose()


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    reset_pg_schema(pg_server_url)
    engine = create_store_engine(pg_server_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return pg_server_url


@pytest.mark.pg
def test_on_postgres_every_command_refuses_as_naming_another_login(
    pg_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login = make_url(pg_url).username
    assert login is not None
    customers = write_jsonl(tmp_path / "customers.jsonl", CUSTOMER)
    usage = write_jsonl(tmp_path / "usage.jsonl", USAGE)
    assert main(["--db", pg_url, "customers", "import", customers]) == 0
    before = counts(pg_url)
    capsys.readouterr()

    # The worker's commands would reach Stripe next: a key, and a base nothing listens on.
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_identity")
    exported = tmp_path / "audit.csv"
    commands = [
        ["lines", "--customer", "c1", "--period", "2026-01"],
        ["customers", "search", "acme"],
        ["customers", "import", customers],
        ["ingest", usage],
        ["corrections", "list"],
        ["corrections", "queue"],
        ["audit", "verify"],
        ["audit", "list"],
        ["audit", "export", "--out", str(exported)],
        ["staff", "list"],
        ["db", "upgrade"],
        ["sync", "--once"],
        ["close", "--period", "2026-01", "--grace", "0"],
    ]
    for argv in commands:
        code = main(
            ["--db", pg_url, "--as", "mallory", "--stripe-base", "http://127.0.0.1:9", *argv]
        )
        out, err = capsys.readouterr()
        assert code == 1, (argv, err)
        assert "--as mallory is refused" in err, argv
        assert out == "", argv
    assert counts(pg_url) == before
    assert not exported.exists()

    # BILLING_DESK_USER is the same option: refused alike.
    monkeypatch.setenv("BILLING_DESK_USER", "mallory")
    assert main(["--db", pg_url, "lines", "--customer", "c1", "--period", "2026-01"]) == 1
    assert "--as mallory is refused" in capsys.readouterr().err

    # Naming the login itself is no impersonation.
    monkeypatch.delenv("BILLING_DESK_USER")
    code = main(["--db", pg_url, "--as", login, "lines", "--customer", "c1", "--period", "2026-01"])
    assert code == 0
    assert counts(pg_url) == before


def test_on_sqlite_the_named_user_acts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    customers = write_jsonl(tmp_path / "customers.jsonl", CUSTOMER)
    assert main(["--db", url, "--as", "ann", "customers", "import", customers]) == 0
    # The first to act on a new store becomes its admin: the named user, not the OS login.
    capsys.readouterr()
    assert main(["--db", url, "--as", "ann", "--json", "staff", "list"]) == 0
    staff = json.loads(capsys.readouterr().out)
    assert [(m["login"], m["role"]) for m in staff] == [("ann", "admin")]
    assert main(["--db", url, "--as", "bob", "staff", "list"]) == 1
    assert "admin" in capsys.readouterr().err
