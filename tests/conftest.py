"""Shared fixtures: a fresh store per test on SQLite and, with BILLING_DESK_TEST_PG, PostgreSQL.

PostgreSQL tests run in a database of their own, created for the session and dropped after it;
each test starts from an empty, freshly migrated schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Never reach a real OS keyring or a screen from the test suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import upgrade

PG_ENV = "BILLING_DESK_TEST_PG"
BACKENDS = ["sqlite", "pg"]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A scratch database on the server named by BILLING_DESK_TEST_PG, dropped after the run."""
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    name = f"billing_desk_test_{uuid.uuid4().hex[:8]}"
    admin = create_store_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def reset_pg_schema(url: str) -> None:
    engine = create_store_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty store URL (not migrated) on the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("pg_server_url")
    reset_pg_schema(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A freshly migrated store."""
    eng = create_store_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


# === Stripe sandbox fixtures (issue 3; owned by the sandbox) ================================
"""Stripe sandbox fixtures for every test that talks to "Stripe".

- `sandbox_server` (session): one in-process `billing_desk.sandbox.SandboxServer` on a free
  loopback port, shared by the whole run. Accounts keep tests apart: each API key is its own
  Stripe account with its own objects, faults, clock, log and counts.
- `stripe_sandbox` (function): a fresh, empty account for one test — `.url` (the API base),
  `.api_key` (a random `sk_test_…`), `.admin` (a `SandboxAdmin` scoped to that account:
  `configure(fail_rate=…)`, `advance_clock(s)`, `requests()`, `counts()`, …) and
  `.client(**kw)` (a stripe-python `StripeClient` on the sandbox, `max_network_retries=0`
  unless given). The account is forgotten after the test.
The server and stripe-python are imported only when a test asks for these fixtures.
"""

from dataclasses import dataclass  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from billing_desk.sandbox.testing import SandboxAdmin, new_test_key  # noqa: E402

if TYPE_CHECKING:
    from billing_desk.sandbox.server import SandboxServer


@dataclass(frozen=True)
class StripeSandbox:
    url: str
    api_key: str
    admin: SandboxAdmin

    def client(self, **kwargs: Any) -> Any:
        import stripe

        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, **kwargs)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    from billing_desk.sandbox.server import SandboxServer

    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture
def stripe_sandbox(sandbox_server: SandboxServer) -> Iterator[StripeSandbox]:
    key = new_test_key()
    admin = SandboxAdmin(sandbox_server.url, key)
    yield StripeSandbox(sandbox_server.url, key, admin)
    admin.reset()
