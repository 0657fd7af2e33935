"""What every command handler gets: resolved options, the store, secrets, and output helpers."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from sqlalchemy import Engine

from billing_desk.config import (
    KeyringSecrets,
    RuntimeOptions,
    Secrets,
    db_password_entry,
)
from billing_desk.domain.errors import BillingDeskError
from billing_desk.store.migrate import open_store


class Context:
    def __init__(self, options: RuntimeOptions, secrets: Secrets | None = None) -> None:
        self.options = options
        self.secrets: Secrets = secrets or KeyringSecrets()
        self._engine: Engine | None = None

    @property
    def user(self) -> str:
        return self.options.user

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
            password = None if self.options.db_url.startswith("sqlite") else self.db_password()
            self._engine = open_store(self.options.db_url, password, auto_upgrade=auto_upgrade)
        return self._engine

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
