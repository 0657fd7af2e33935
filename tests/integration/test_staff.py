"""Staff on both backends: who acts, the first admin of a SQLite store, admins only, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from billing_desk.domain.errors import InvalidInput, PermissionDenied
from billing_desk.domain.policy import Role
from billing_desk.services import staff
from billing_desk.store.models.corrections import AuditRow
from billing_desk.store.uow import UnitOfWork
from tests.integration.corrections_support import add_staff


def test_the_first_login_on_a_new_sqlite_store_is_its_admin(sqlite_engine: Engine) -> None:
    with UnitOfWork(sqlite_engine, write=True) as uow:
        assert staff.identity(uow, None, "osuser") == "osuser"
        assert staff.identity(uow, "ada", "osuser") == "ada"
        change = staff.add(uow, "ada", "ann", "agent")
    assert (change.login, change.role, change.previous) == ("ann", Role.AGENT, None)
    with UnitOfWork(sqlite_engine, write=True) as uow:
        assert [(m.login, m.role) for m in staff.members(uow, "ada")] == [
            ("ada", "admin"),
            ("ann", "agent"),
        ]
        actions = list(uow.session.scalars(select(AuditRow.action).order_by(AuditRow.seq)))
    assert actions == ["staff.bootstrapped", "staff.role_set"]


def test_only_admins_change_staff_and_bad_names_are_refused(engine: Engine) -> None:
    add_staff(engine)
    with (
        UnitOfWork(engine, write=True) as uow,
        pytest.raises(PermissionDenied, match="lee is a lead"),
    ):
        staff.add(uow, "lee", "lee", "admin")
    with UnitOfWork(engine, write=True) as uow, pytest.raises(InvalidInput, match="role 'boss'"):
        staff.add(uow, "ada", "ann", "boss")
    with UnitOfWork(engine, write=True) as uow, pytest.raises(InvalidInput, match="login"):
        staff.add(uow, "ada", "ann smith", "agent")
    with UnitOfWork(engine, write=True) as uow, pytest.raises(PermissionDenied):
        staff.members(uow, "ann")


def test_on_postgres_the_identity_is_the_database_login(pg_server_url: str) -> None:
    from billing_desk.store.engine import create_store_engine
    from billing_desk.store.migrate import upgrade
    from tests.conftest import reset_pg_schema

    reset_pg_schema(pg_server_url)
    dba = make_url(pg_server_url).username
    engine = create_store_engine(pg_server_url)
    try:
        upgrade(engine)
        with UnitOfWork(engine, write=True) as uow:
            assert staff.identity(uow, None, "whoever") == dba
            assert staff.identity(uow, dba, "whoever") == dba
            with pytest.raises(PermissionDenied, match="--as ann is refused"):
                staff.identity(uow, "ann", "whoever")
            # The DBA is the store's admin without being on the register.
            assert staff.acting_role(uow, dba) is Role.ADMIN
    finally:
        engine.dispose()
