"""`db upgrade`: create or migrate the schema (its options are in `parser.py`)."""

from __future__ import annotations

import argparse

from billing_desk.cli.context import Context
from billing_desk.domain.errors import BillingDeskError, ConfigurationError
from billing_desk.store import migrate
from billing_desk.store.engine import create_store_engine


def run_upgrade(ctx: Context, _args: argparse.Namespace) -> int:
    url = ctx.options.db_url
    password = None if url.startswith("sqlite") else ctx.db_password()
    if url.startswith("sqlite"):
        from pathlib import Path

        from billing_desk.store.engine import parse_url

        database = parse_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_store_engine(url, password)
    try:
        ctx.identify(engine)  # on PostgreSQL, --as naming anyone but the login is refused
        before = migrate.schema_state(engine)
        migrate.upgrade(engine)
        head = migrate.head_revision()
    except BillingDeskError:
        raise
    except Exception as exc:
        raise ConfigurationError(migrate.describe_db_error(url, exc)) from None
    finally:
        engine.dispose()
    result = {"revision": head, "was": before.value}
    ctx.emit(result, f"schema at {head} (was {before.value})")
    return 0
