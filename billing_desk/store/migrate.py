"""Schema versions: create or upgrade with Alembic, back up SQLite first, refuse newer schemas."""

from __future__ import annotations

import enum
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from billing_desk.domain.errors import ConfigurationError
from billing_desk.store.engine import create_store_engine, parse_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration this app ships (a test checks it against Alembic's own head). Knowing it
# lets every start of the app confirm a current store without importing Alembic (0.2-0.4 s).
HEAD_REVISION = "0006"


class SchemaState(enum.Enum):
    EMPTY = "empty"
    BEHIND = "behind"
    CURRENT = "current"
    NEWER = "newer"


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def head_revision() -> str:
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        version: str | None = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return version


def schema_state(engine: Engine) -> SchemaState:
    revision = current_revision(engine)
    if revision is None:
        return SchemaState.EMPTY
    if revision == HEAD_REVISION:
        return SchemaState.CURRENT
    return SchemaState.BEHIND if revision in known_revisions() else SchemaState.NEWER


def newer_schema_error(engine: Engine) -> ConfigurationError:
    return ConfigurationError(
        f"the store's schema ({current_revision(engine)}) is newer than this version of "
        "Billing Desk; upgrade the app"
    )


def backup_sqlite(engine: Engine, label: str) -> Path | None:
    """Copy a SQLite store aside (consistently, with SQLite's backup API) before migrating it."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    source = Path(database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = source.with_name(f"{source.name}.{label}-{stamp}.bak")
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def upgrade(engine: Engine, revision: str = "head") -> SchemaState:
    """Create or migrate the schema (to head by default). Idempotent; returns the state before."""
    state = schema_state(engine)
    if state is SchemaState.NEWER:
        raise newer_schema_error(engine)
    if state is SchemaState.CURRENT:
        return state
    if state is SchemaState.BEHIND:
        backup_sqlite(engine, f"before-{head_revision()}")
    from alembic import command

    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return state


def describe_db_error(url: str, exc: BaseException) -> str:
    """One plain line for a store that cannot be opened; never includes a password."""
    shown = parse_url(url).render_as_string(hide_password=True)
    detail = str(getattr(exc, "orig", exc)).strip()
    text = detail.splitlines()[0] if detail else type(exc).__name__
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return f"the store {shown} is not a readable SQLite database (corrupt or not a store)"
    if "locked" in lowered:
        return f"the store {shown} is locked by another program; close it and try again"
    if "unable to open" in lowered:
        return f"cannot open the store {shown}: the file or its folder is not accessible"
    return f"cannot open the store {shown}: {text}"


def open_store(url: str, password: str | None = None, *, auto_upgrade: bool = True) -> Engine:
    """Open the store for the app: SQLite is upgraded by itself (after a backup); PostgreSQL,
    shared by a team, must be upgraded deliberately with `billing-desk db upgrade`."""
    parsed = parse_url(url)
    if parsed.drivername == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_store_engine(url, password)
    try:
        state = schema_state(engine)
        if state is SchemaState.NEWER:
            raise newer_schema_error(engine)
        if state is not SchemaState.CURRENT:
            if parsed.drivername == "sqlite" and auto_upgrade:
                upgrade(engine)
            elif state is SchemaState.EMPTY:
                raise ConfigurationError(
                    "the store has no schema yet: run `billing-desk db upgrade` first"
                )
            else:
                raise ConfigurationError(
                    "the store's schema is older than this app: run `billing-desk db upgrade`"
                )
    except (DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        raise ConfigurationError(describe_db_error(url, exc)) from None
    except ConfigurationError:
        engine.dispose()
        raise
    return engine
