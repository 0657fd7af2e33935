"""The audit trail in the database: append-only on both backends, one chain under concurrent
writers, settings changes recorded, pages newest first."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from billing_desk.domain.audit import verify_chain
from billing_desk.domain.errors import PermissionDenied
from billing_desk.services import audit as audit_svc
from billing_desk.store import audit_repo
from billing_desk.store.settings_repo import load_settings
from billing_desk.store.uow import UnitOfWork
from tests.integration.corrections_support import add_staff


def append(engine: Engine, n: int, actor: str = "ann") -> None:
    for i in range(n):
        with UnitOfWork(engine, write=True) as uow:
            audit_repo.append_audit(uow.session, actor, "test.step", f"thing:{i}", None, {"i": i})
            uow.commit()


def report(engine: Engine) -> object:
    with UnitOfWork(engine) as uow:
        return verify_chain(audit_repo.iter_chain(uow.session))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
        "UPDATE audit_log SET reason = 'tidy' ",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ],
)
def test_update_and_delete_are_refused_by_the_database(engine: Engine, statement: str) -> None:
    append(engine, 3)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert report(engine).ok  # type: ignore[attr-defined]
    assert report(engine).rows == 3  # type: ignore[attr-defined]


def test_a_row_that_does_not_extend_the_head_is_refused(engine: Engine) -> None:
    append(engine, 2)
    with pytest.raises(DBAPIError, match="chain"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash) "
                "VALUES (7, '2026-01-01T00:00:00.000000Z', 'x', 'x', 'x', 'abc', 'def')"
            )
        )


def test_appending_needs_a_write_transaction_on_sqlite(sqlite_engine: Engine) -> None:
    with UnitOfWork(sqlite_engine) as uow, pytest.raises(RuntimeError, match="write=True"):
        audit_repo.append_audit(uow.session, "ann", "x", "y")


def test_concurrent_writers_extend_one_chain(engine: Engine) -> None:
    threads = [threading.Thread(target=append, args=(engine, 15, f"user{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = report(engine)
    assert result.ok, result.problems  # type: ignore[attr-defined]
    assert result.rows == 60  # type: ignore[attr-defined]


def test_setting_changes_are_audited_and_for_admins(engine: Engine) -> None:
    add_staff(engine)
    limits = {"agent": {"*": "50.00"}, "lead": {"*": "5000"}, "admin": {"*": "1000000"}}
    with UnitOfWork(engine, write=True) as uow, pytest.raises(PermissionDenied):
        audit_svc.change_setting(uow, "lee", "limits", limits)
    with UnitOfWork(engine, write=True) as uow:
        audit_svc.change_setting(uow, "ada", "limits", limits)
    with UnitOfWork(engine, write=True) as uow:
        audit_svc.change_setting(uow, "ada", "rate_limit_test", 12.5)
    with UnitOfWork(engine) as uow:
        assert load_settings(uow.session).limit_for("agent", "usd") == Decimal("50.00")
        page = audit_svc.page(uow, limit=10)
    assert [(r.entry.action, r.entry.subject, r.entry.actor) for r in page.rows] == [
        ("setting.changed", "setting:rate_limit_test", "ada"),
        ("setting.changed", "setting:limits", "ada"),
    ]
    assert page.rows[0].entry.after == '{"value":"12.5"}'
    assert page.rows[1].entry.before == '{"value":null}'


def test_pages_are_newest_first_and_keyset(engine: Engine) -> None:
    append(engine, 7)
    with UnitOfWork(engine) as uow:
        first = audit_repo.page(uow.session, limit=3)
        assert [r.seq for r in first.rows] == [7, 6, 5]
        second = audit_repo.page(uow.session, limit=3, before_seq=first.next_before_seq)
        assert [r.seq for r in second.rows] == [4, 3, 2]
        last = audit_repo.page(uow.session, limit=3, before_seq=second.next_before_seq)
        assert ([r.seq for r in last.rows], last.next_before_seq) == ([1], None)
        only = audit_repo.page(uow.session, subject="thing:3")
        assert [r.seq for r in only.rows] == [4]
