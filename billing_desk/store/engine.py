"""Engines for SQLite (one desk) and PostgreSQL (a team), with the settings each needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from billing_desk.domain.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_PAGE_SIZE = 8192
# Execution option that makes a SQLite transaction begin IMMEDIATE (take the write lock at once),
# so two writers never deadlock upgrading a read lock. Read-only units of work leave it off.
WRITE = "billing_desk_write"


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError(f"not a database URL: {url!r}") from None
    if parsed.drivername == "sqlite":
        return parsed
    if parsed.drivername in ("postgresql+psycopg", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigurationError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST:PORT/DB"
    )


def create_store_engine(url: str, password: str | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`; a PostgreSQL password comes from the caller (keyring/PGPASSWORD)."""
    parsed = parse_url(url)
    if parsed.drivername == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if password and parsed.password is None:
        parsed = parsed.set(password=password)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "application_name": "billing-desk"})
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    is_memory = url.database in (None, "", ":memory:")
    # Pooled connections (one thread at a time each) keep a search keystroke from paying ~2 ms to
    # connect, set pragmas and parse the schema again.
    kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not is_memory:
                # Only a new, empty file takes it (before WAL is on); an existing store keeps its
                # size. 8 KiB pages made ingest's B-tree inserts a fifth cheaper than 4 KiB.
                cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock when they begin."""
    return engine.execution_options(**{WRITE: True})
