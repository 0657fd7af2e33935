"""The store opens, migrates, backs up and refuses what it must, on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from billing_desk.domain.errors import ConfigurationError
from billing_desk.store.engine import SQLITE_PAGE_SIZE, create_store_engine
from billing_desk.store.migrate import (
    SchemaState,
    head_revision,
    open_store,
    schema_state,
    upgrade,
)


def test_the_app_knows_its_head_revision_without_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from billing_desk.store.migrate import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == head_revision()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert schema_state(engine) is SchemaState.CURRENT
    assert upgrade(engine) is SchemaState.CURRENT


def test_newer_schema_is_refused(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigurationError, match="newer than this version"):
        open_store(db_url)


def test_sqlite_pragmas(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_a_new_sqlite_store_takes_8k_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    for path, expected in ((tmp_path / "new.sqlite3", SQLITE_PAGE_SIZE), (old, 4096)):
        engine = create_store_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
            with engine.connect() as c:
                assert c.exec_driver_sql("PRAGMA page_size").scalar_one() == expected
                assert c.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        finally:
            engine.dispose()


def test_sqlite_store_behind_is_backed_up_then_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    eng = create_store_engine(url)
    upgrade(eng, "0001")  # a store left by an older version of the app
    eng.dispose()
    opened = open_store(url)
    try:
        assert schema_state(opened) is SchemaState.CURRENT
    finally:
        opened.dispose()
    backups = list(tmp_path.glob("store.sqlite3.before-*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    assert head_revision() != "0001"


def test_corrupt_sqlite_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigurationError, match="not a readable SQLite database"):
        open_store(f"sqlite:///{path}")


def test_unreachable_postgres_is_one_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot open the store") as info:
        open_store("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value)


def test_decimals_survive_the_store_exactly(engine: Engine) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from billing_desk.store.models import Customer, Line
    from billing_desk.store.uow import UnitOfWork

    # 34 significant digits: more than Decimal's default 28-digit context would keep.
    quantity = Decimal("1234567890123456789012.123456789012")
    now = datetime.now(UTC)
    with UnitOfWork(engine, write=True) as uow:
        uow.session.add(
            Customer(
                id="c1",
                name="A",
                email="a@example.com",
                currency="usd",
                balance=0,
                flags={},
                created_at=now,
                updated_at=now,
            )
        )
        uow.session.add(
            Line(
                customer_id="c1",
                period="2026-10",
                kind="usage",
                item="cpu",
                description="cpu",
                unit_amount=Decimal("0.000000000001"),
                currency="usd",
                quantity=quantity,
                increment_count=1,
                compiled_amount=0,
                amount=0,
                voided=False,
                version=1,
                sync_state="pending",
                updated_at=now,
            )
        )
        uow.commit()
    with UnitOfWork(engine) as uow:
        line = uow.session.query(Line).one()
        assert line.quantity == quantity
        assert line.unit_amount == Decimal("0.000000000001")
