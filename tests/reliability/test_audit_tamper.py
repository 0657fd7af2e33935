"""Tampering with the audit trail behind the application's back is caught by `audit verify`.

On SQLite someone with the file opens it with sqlite3, drops the append-only triggers and edits,
deletes or reorders rows; on PostgreSQL a superuser disables the triggers. Either way the chain
no longer holds and `audit verify` exits 4 saying what and where.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from billing_desk.cli import main
from billing_desk.services import audit as audit_svc
from billing_desk.store import audit_repo
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.store.uow import UnitOfWork

DROP_TRIGGERS = (
    "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; "
    "DROP TRIGGER audit_log_chain;"
)
# Rows 2 and 4 trade places in the table (their ids), content untouched.
SWAP_ROWS_2_AND_4 = (
    "UPDATE audit_log SET id = 100 WHERE seq = 2; UPDATE audit_log SET id = 2 WHERE seq = 4; "
    "UPDATE audit_log SET id = 4 WHERE id = 100;"
)


def fill(engine: Engine, n: int = 6) -> None:
    for i in range(n):
        with UnitOfWork(engine, write=True) as uow:
            audit_repo.append_audit(
                uow.session, "ann", "correction.applied", f"correction:{i}", None, {"amount": i}
            )
            uow.commit()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "store.sqlite3"
    engine = create_store_engine(f"sqlite:///{path}")
    upgrade(engine)
    fill(engine)
    engine.dispose()
    return f"sqlite:///{path}", path


def hand_edit(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(DROP_TRIGGERS + sql)


def verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["--db", url, "--as", "ann", "--json", "audit", "verify"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE audit_log SET after = '{\"amount\":300}' WHERE seq = 3;", "seq 3: edited"),
        ("UPDATE audit_log SET actor = 'lee' WHERE seq = 6;", "seq 6: edited"),
        ("DELETE FROM audit_log WHERE seq = 2;", "seq 3: deleted: seq 2 missing"),
        (
            SWAP_ROWS_2_AND_4,
            "reordered",
        ),
    ],
)
def test_a_hand_edit_of_the_sqlite_file_is_caught(
    sqlite_store: tuple[str, Path], capsys: pytest.CaptureFixture[str], sql: str, expected: str
) -> None:
    url, path = sqlite_store
    assert verify(url, capsys)[0] == 0
    hand_edit(path, sql)
    code, report = verify(url, capsys)
    assert code == 4
    assert report["ok"] is False
    assert any(expected in p for p in report["problems"])  # type: ignore[attr-defined]


def test_a_row_cut_off_the_end_is_caught_against_the_noted_head(
    sqlite_store: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, path = sqlite_store
    _, before = verify(url, capsys)
    hand_edit(path, "DELETE FROM audit_log WHERE seq = 6;")
    assert verify(url, capsys)[0] == 0  # the chain alone cannot see a cut end...
    code = main(
        ["--db", url, "--as", "ann", "audit", "verify", "--expect-head", str(before["head_hash"])]
    )
    assert code == 4  # ...the head noted earlier can
    assert "rows were cut off or replaced" in capsys.readouterr().out


def test_a_superuser_edit_on_postgres_is_caught(pg_server_url: str) -> None:
    from tests.conftest import reset_pg_schema

    reset_pg_schema(pg_server_url)
    engine = create_store_engine(pg_server_url)
    try:
        upgrade(engine)
        fill(engine)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(text("UPDATE audit_log SET actor = 'lee' WHERE seq = 2"))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        with UnitOfWork(engine) as uow:
            report = audit_svc.verify(uow)
        assert [(p.seq, p.kind) for p in report.problems] == [(2, "edited")]
    finally:
        engine.dispose()
