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
