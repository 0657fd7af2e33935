"""PostgreSQL enforces four-eyes itself: SQL sent straight from an agent's or a lead's own login.

Each test creates real logins (cluster-wide, unique names, dropped afterwards) through
`staff add` as the DBA, connects as them (trust authentication) and shows what the database
refuses, whatever the application would have done.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from billing_desk.cli import main
from billing_desk.domain.corrections import Kind, Status
from billing_desk.domain.errors import PermissionDenied
from billing_desk.domain.money import line_amount
from billing_desk.domain.policy import Role, limit_minor
from billing_desk.domain.settings import Settings
from billing_desk.services import corrections as svc
from billing_desk.services import staff
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade
from billing_desk.store.uow import UnitOfWork
from tests.conftest import reset_pg_schema
from tests.integration.corrections_support import proposal, seed, set_invoice

pytestmark = pytest.mark.pg


@dataclass
class Desk:
    dba: Engine
    url: str
    agent: str
    lead: str
    lead2: str
    engines: dict[str, Engine]

    def login(self, name: str) -> Engine:
        if name not in self.engines:
            url = make_url(self.url).set(username=name).render_as_string(hide_password=False)
            self.engines[name] = create_store_engine(url)
        return self.engines[name]

    def url_of(self, name: str) -> str:
        return make_url(self.url).set(username=name).render_as_string(hide_password=False)


@pytest.fixture
def desk(pg_server_url: str) -> Iterator[Desk]:
    reset_pg_schema(pg_server_url)
    dba = create_store_engine(pg_server_url)
    upgrade(dba)
    seed(dba)
    tag = uuid.uuid4().hex[:8]
    names = {"agent": f"bdt_agent_{tag}", "lead": f"bdt_lead_{tag}", "lead2": f"bdt_lead2_{tag}"}
    with UnitOfWork(dba, write=True) as uow:
        who = staff.identity(uow, None, "postgres")
    for key, login in names.items():
        with UnitOfWork(dba, write=True) as uow:
            staff.add(uow, who, login, "agent" if key == "agent" else "lead")
    d = Desk(dba, pg_server_url, names["agent"], names["lead"], names["lead2"], {})
    try:
        yield d
    finally:
        for eng in d.engines.values():
            eng.dispose()
        reset_pg_schema(pg_server_url)
        with dba.begin() as conn:
            for login in names.values():
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}"')
        dba.dispose()


def run_sql(engine: Engine, sql: str, **params: object) -> object:
    with engine.begin() as conn:
        result = conn.execute(text(sql), params)
        return result.scalar() if result.returns_rows else None


def refused(engine: Engine, sql: str, **params: object) -> str:
    with pytest.raises(DBAPIError) as info:
        run_sql(engine, sql, **params)
    return str(info.value.orig)


def propose_as(desk: Desk, login: str, amount: int) -> svc.Decision:
    with UnitOfWork(desk.login(login), write=True) as uow:
        return svc.propose(uow, login, proposal(Kind.CREDIT, amount=amount))


def test_an_agent_login_proposes_within_and_above_its_limit(desk: Desk) -> None:
    assert propose_as(desk, desk.agent, 1_000).status is Status.APPLIED
    assert propose_as(desk, desk.agent, 10_000).status is Status.PENDING_APPROVAL


def test_an_agent_login_cannot_approve_at_all(desk: Desk) -> None:
    pending = propose_as(desk, desk.agent, 10_000)
    agent = desk.login(desk.agent)
    message = refused(
        agent,
        "SELECT billing_decide(:id, 'approve', 'x', NULL, NULL, :me)",
        id=pending.id,
        me=desk.lead,
    )
    assert "only a lead or an admin decides" in message
    assert "permission denied" in refused(
        agent,
        "INSERT INTO approvals (correction_id, approver, approved_at, binding_hash, state) "
        "VALUES (:id, :lead, now(), 'x', 'active')",
        id=pending.id,
        lead=desk.lead,
    )


def test_an_agent_login_cannot_change_a_status_directly(desk: Desk) -> None:
    pending = propose_as(desk, desk.agent, 10_000)
    agent = desk.login(desk.agent)
    assert "permission denied" in refused(
        agent, "UPDATE corrections SET status = 'approved' WHERE id = :id", id=pending.id
    )
    message = refused(
        agent, "SELECT billing_transition(:id, 'applied', NULL, NULL, '{}')", id=pending.id
    )
    assert "cannot become applied" in message


def test_an_agent_login_cannot_insert_an_applied_correction_above_its_limit(desk: Desk) -> None:
    agent = desk.login(desk.agent)
    insert = (
        "INSERT INTO corrections (customer_id, period, kind, target_key, amount, reason, "
        "currency, invoice_status, impact, total_before, total_after, requested_by, "
        "requested_at, status, status_at, status_by) VALUES ('c1', '2026-01', 'credit', "
        ":key, :amount, 'goodwill', 'usd', 'none', 0, 0, 0, :who, now(), :status, now(), :who)"
    )
    message = refused(agent, insert, key="k1", amount=1_000_000, who=desk.agent, status="applied")
    assert "needs a lead's approval" in message
    # Claiming to be someone else does not stick: the row is the login's own.
    run_sql(agent, insert, key="k2", amount=5, who=desk.lead, status="pending_approval")
    assert run_sql(desk.dba, "SELECT requested_by FROM corrections WHERE target_key = 'k2'") == (
        desk.agent
    )


def test_a_lead_login_cannot_approve_its_own_correction(desk: Desk) -> None:
    set_invoice(desk.dba, "open", total=42_000)
    with UnitOfWork(desk.login(desk.lead), write=True) as uow:
        pending = svc.propose(uow, desk.lead, proposal(Kind.VOID_INVOICE))
    assert pending.status is Status.PENDING_APPROVAL
    lead = desk.login(desk.lead)
    message = refused(
        lead, "SELECT billing_decide(:id, 'approve', 'x', NULL, NULL, NULL)", id=pending.id
    )
    assert "four-eyes" in message
    other = desk.login(desk.lead2)
    assert run_sql(
        other, "SELECT billing_decide(:id, 'approve', 'x', NULL, NULL, NULL)", id=pending.id
    ) == ("approved")
    # Naming someone else as the approver does not work either: the login is the approver.
    assert run_sql(desk.dba, "SELECT approver FROM approvals") == desk.lead2


def test_the_audit_trail_is_out_of_reach(desk: Desk) -> None:
    propose_as(desk, desk.agent, 1_000)
    agent = desk.login(desk.agent)
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        assert "permission denied" in refused(agent, sql)
    assert "written as the login itself" in refused(
        agent,
        "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash) "
        "SELECT max(seq) + 1, now(), :lead, 'x', 'y', max(hash), 'z' FROM audit_log",
        lead=desk.lead,
    )
    # Even the owner cannot edit or remove a row: the triggers refuse.
    assert "append-only" in refused(desk.dba, "UPDATE audit_log SET actor = 'x'")
    assert "append-only" in refused(desk.dba, "DELETE FROM audit_log")
    assert "append-only" in refused(desk.dba, "TRUNCATE audit_log")


def test_an_agent_login_cannot_raise_its_limit_or_make_staff(desk: Desk) -> None:
    agent = desk.login(desk.agent)
    assert "permission denied" in refused(
        agent,
        "INSERT INTO settings (key, value, updated_at, updated_by) VALUES "
        "('limits', '{\"agent\": {\"*\": \"1000000\"}}', now(), 'x')",
    )
    assert "permission denied" in refused(
        agent, "SELECT billing_staff_set(:me, 'admin', NULL)", me=desk.agent
    )
    with (
        UnitOfWork(agent, write=True) as uow,
        pytest.raises(PermissionDenied, match="only an admin"),
    ):
        staff.add(uow, desk.agent, desk.agent, "admin")


def test_on_postgres_the_cli_acts_as_the_login(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    url = desk.url_of(desk.agent)
    code = main(["--db", url, "--as", desk.lead, "corrections", "list"])
    assert code == 1
    assert "--as" in capsys.readouterr().err
    assert (
        main(
            [
                "--db",
                url,
                "--json",
                "corrections",
                "propose",
                "--customer",
                "c1",
                "--period",
                "2026-01",
                "--kind",
                "credit",
                "--amount",
                "100.00",
                "--reason",
                "goodwill",
            ]
        )
        == 0
    )
    proposed = json.loads(capsys.readouterr().out)
    assert proposed["status"] == "pending_approval"
    code = main(["--db", url, "corrections", "approve", str(proposed["id"])])
    assert code == 1
    assert "only a lead or an admin" in capsys.readouterr().err


def test_grants_are_only_what_the_roles_need(desk: Desk) -> None:
    rows = run_sql(
        desk.dba,
        "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) "
        "FROM information_schema.role_table_grants "
        "WHERE grantee = 'billing_agent' AND table_name = 'audit_log'",
    )
    assert rows == "INSERT,SELECT"
    with pytest.raises(ProgrammingError):
        run_sql(desk.login(desk.agent), "DELETE FROM approvals")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    code=st.sampled_from(["usd", "jpy", "kwd", "isk", "eur", "bif"]),
    quantity=st.decimals(min_value=0, max_value=10**6, places=3),
    unit=st.decimals(min_value=0, max_value=10**4, places=4),
)
def test_the_database_prices_a_quantity_as_the_domain_does(
    desk: Desk, code: str, quantity: Decimal, unit: Decimal
) -> None:
    # The trigger that vets an agent's adjust by quantity must see the same amount the app does.
    sql = "SELECT billing_line_amount(CAST(:q AS numeric), CAST(:u AS numeric), :c)"
    assert run_sql(desk.dba, sql, q=str(quantity), u=str(unit), c=code) == line_amount(
        quantity, unit, code
    )
    assert run_sql(desk.dba, "SELECT billing_limit_minor('agent', :c)", c=code) == limit_minor(
        Settings(), Role.AGENT, code
    )
