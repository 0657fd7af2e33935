"""Where settings come from: command-line options, the environment, the OS keyring, platformdirs.

Secrets (the Stripe key, DB passwords) are only ever read from the environment or the OS
keyring, through the small `Secrets` interface so tests can inject an in-memory store.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from billing_desk.domain.errors import ConfigurationError

APP_NAME = "billing-desk"
KEYRING_SERVICE = "billing-desk"
STRIPE_KEY_ENTRY = "stripe-api-key"
STRIPE_DEFAULT_BASE = "https://api.stripe.com"

ENV_DB = "BILLING_DESK_DB"
ENV_USER = "BILLING_DESK_USER"
ENV_STRIPE_BASE = "BILLING_DESK_STRIPE_BASE"
ENV_STRIPE_KEY = "STRIPE_API_KEY"


class Secrets(Protocol):
    """The few secrets the app keeps, behind an interface so tests never touch the OS keyring."""

    def get(self, entry: str) -> str | None: ...

    def set(self, entry: str, value: str) -> None: ...

    def delete(self, entry: str) -> None: ...


class KeyringUnavailable(ConfigurationError):
    pass


class KeyringSecrets:
    """The OS keyring (service `billing-desk`). Refuses to work rather than fall back to a file."""

    def _backend(self) -> object:
        import keyring
        from keyring.backends import fail, null

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring | null.Keyring):
            raise KeyringUnavailable(
                "no OS keyring is available to keep the secret; set STRIPE_API_KEY in the "
                "environment instead (nothing is written to a file)"
            )
        return backend

    def get(self, entry: str) -> str | None:
        import keyring
        import keyring.errors

        try:
            self._backend()
            value: str | None = keyring.get_password(KEYRING_SERVICE, entry)
        except KeyringUnavailable:
            return None
        except keyring.errors.KeyringError:
            return None
        return value

    def set(self, entry: str, value: str) -> None:
        import keyring
        import keyring.errors

        self._backend()
        try:
            keyring.set_password(KEYRING_SERVICE, entry, value)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                f"the OS keyring refused to store the secret ({type(exc).__name__}); "
                "nothing was written anywhere else"
            ) from None

    def delete(self, entry: str) -> None:
        import keyring
        import keyring.errors

        with contextlib.suppress(keyring.errors.KeyringError):
            keyring.delete_password(KEYRING_SERVICE, entry)


class MemorySecrets:
    """An in-memory keyring for tests and the demo workspace."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def get(self, entry: str) -> str | None:
        return self._values.get(entry)

    def set(self, entry: str, value: str) -> None:
        self._values[entry] = value

    def delete(self, entry: str) -> None:
        self._values.pop(entry, None)


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / 'billing-desk.sqlite3'}"


def strip_password(url: str) -> str:
    """The URL as it may be shown, logged or used as a keyring entry name."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}@{host}" if user else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def db_password_entry(url: str) -> str:
    return f"db-password:{strip_password(url)}"


def stripe_api_key(secrets: Secrets) -> str | None:
    """STRIPE_API_KEY, else the keyring entry `stripe-api-key`."""
    return os.environ.get(ENV_STRIPE_KEY) or secrets.get(STRIPE_KEY_ENTRY)


def current_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER", "unknown")


@dataclass(frozen=True)
class RuntimeOptions:
    """The global options of CONTRACT.md, resolved from arguments and the environment."""

    db_url: str
    user: str
    stripe_base: str
    json_output: bool

    @classmethod
    def resolve(
        cls,
        db: str | None = None,
        as_user: str | None = None,
        stripe_base: str | None = None,
        json_output: bool = False,
    ) -> RuntimeOptions:
        return cls(
            db_url=db or os.environ.get(ENV_DB) or default_db_url(),
            user=as_user or os.environ.get(ENV_USER) or current_login(),
            stripe_base=(stripe_base or os.environ.get(ENV_STRIPE_BASE) or STRIPE_DEFAULT_BASE),
            json_output=json_output,
        )
