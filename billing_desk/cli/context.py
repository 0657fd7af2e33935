"""What every command handler gets: resolved options, the store, who is acting, secrets, and
output helpers.

Who is acting is decided here, once, when a command first opens the store (`identify`): every
command that touches the store acts as the same person, and on PostgreSQL an `--as` naming
anyone but the database login is refused before the command does anything.

Imported by every command, `--help` included: the store (SQLAlchemy) is imported only when a
command first opens it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from billing_desk.config import (
    KeyringSecrets,
    RuntimeOptions,
    Secrets,
    db_password_entry,
)
from billing_desk.domain.errors import BillingDeskError, ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Context:
    def __init__(
        self,
        options: RuntimeOptions,
        secrets: Secrets | None = None,
        *,
        named_user: str | None = None,
    ) -> None:
        self.options = options
        self.secrets: Secrets = secrets or KeyringSecrets()
        # The user named by --as or BILLING_DESK_USER; None: nobody was named.
        self.named_user = named_user
        self._engine: Engine | None = None
        self._actor: str | None = None

    @property
    def actor(self) -> str:
        """Who is acting (opens the store if no command step has yet): see `identify`."""
        self.engine()
        assert self._actor is not None
        return self._actor

    @property
    def json_output(self) -> bool:
        return self.options.json_output

    def db_password(self) -> str | None:
        return self.secrets.get(db_password_entry(self.options.db_url)) or os.environ.get(
            "PGPASSWORD"
        )

    def engine(self, *, auto_upgrade: bool = True) -> Engine:
        """The store, opened (and, for SQLite, upgraded) on first use."""
        if self._engine is None:
            from billing_desk.store.migrate import open_store

            password = None if self.options.db_url.startswith("sqlite") else self.db_password()
            engine = open_store(self.options.db_url, password, auto_upgrade=auto_upgrade)
            try:
                self.identify(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    def identify(self, engine: Engine) -> str:
        """The acting user of this run, decided on its first store: on SQLite the named user
        (or the OS login); on PostgreSQL the database login, naming anyone else is refused
        (`PermissionDenied`). Commands that open a store of their own call this first."""
        if self._actor is None:
            from billing_desk.services.staff import identity
            from billing_desk.store.uow import UnitOfWork

            with UnitOfWork(engine) as uow:
                self._actor = identity(uow, self.named_user, self.options.user)
        return self._actor

    @contextlib.contextmanager
    def store_errors(self) -> Iterator[None]:
        """A store that fails mid-command (locked, gone, corrupt) is one line and exit 5."""
        from sqlalchemy.exc import InterfaceError, OperationalError

        from billing_desk.store.migrate import describe_db_error

        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            raise ConfigurationError(describe_db_error(self.options.db_url, exc)) from None

    def emit(self, value: Any, human: str | None = None) -> None:
        """The command's result: one JSON value with --json, else `human` (or indented JSON)."""
        if self.json_output or human is None:
            json.dump(value, sys.stdout, indent=None if self.json_output else 2, default=str)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(human if human.endswith("\n") else human + "\n")
        sys.stdout.flush()

    def warn(self, message: str) -> None:
        sys.stderr.write(f"billing-desk: {message}\n")

    def fail(self, exc: BillingDeskError) -> None:
        self.warn(f"error: {exc}")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
