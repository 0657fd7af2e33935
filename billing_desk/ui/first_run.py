"""First run without widgets: check the Stripe key against Stripe, open the chosen store, keep
the secrets in the OS keyring (never a file), and say plainly when no keyring works.

Each step is a plain function the welcome screen runs off the UI thread, so tests can drive the
same logic without a window.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine

from billing_desk.config import (
    STRIPE_KEY_ENTRY,
    KeyringUnavailable,
    Secrets,
    db_password_entry,
    strip_password,
)
from billing_desk.domain.errors import InvalidInput
from billing_desk.store.migrate import open_store

KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
NO_KEYRING = (
    "No OS keyring is available on this computer, so the secret cannot be kept between runs. "
    "Billing Desk never writes it to a file. Install or unlock a keyring service (GNOME "
    "Keyring, KWallet, macOS Keychain, Windows Credential Locker) and try again, or set "
    "STRIPE_API_KEY in the environment."
)


def mask_key(key: str) -> str:
    """The key as it may be shown once saved: its kind and last four characters."""
    prefix = next((p for p in KEY_PREFIXES if key.startswith(p)), "")
    return f"{prefix}{'•' * 8}{key[-4:]}"


def checked_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise InvalidInput("enter the Stripe secret key (it starts with sk_test_ or sk_live_)")
    if not key.startswith(KEY_PREFIXES):
        raise InvalidInput(
            "that is not a Stripe secret key: it starts with sk_test_, sk_live_ or a "
            "restricted rk_ prefix (copy it from the Dashboard's API keys page)"
        )
    if len(key) < 20 or any(c.isspace() for c in key):
        raise InvalidInput("the Stripe key looks cut short or has spaces in it: copy it again")
    return key


@dataclass(frozen=True)
class StoreChoice:
    """Where the ledger lives: `url` never holds a password; `password` goes to the keyring."""

    url: str
    password: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


def sqlite_store(path: str) -> StoreChoice:
    path = path.strip()
    if not path:
        raise InvalidInput("choose a file for the SQLite store")
    return StoreChoice(f"sqlite:///{Path(path).expanduser()}")


def postgres_store(url: str, password: str = "") -> StoreChoice:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgresql+psycopg") or not parts.hostname:
        raise InvalidInput(
            "the PostgreSQL URL must look like postgresql+psycopg://USER@HOST:PORT/DB"
        )
    if not parts.path.strip("/"):
        raise InvalidInput("the PostgreSQL URL must name a database: …@HOST:PORT/DB")
    inline = parts.password
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return StoreChoice(strip_password(url), password or inline or None)


async def _check_key(key: str, base: str) -> None:
    # Imported here: the gateway brings the stripe library, which a start-up need not load.
    from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, RetryPolicy, open_gateway

    # One cheap authenticated read: a rejected key fails with 401, a dead network as transient.
    config = GatewayConfig(key, base, timeout_s=10.0, retry=RetryPolicy(attempts=1))
    async with open_gateway(config, RateLimiter(5.0)) as gateway:
        await gateway.list_events(types=["customer.created"], limit=1)


def verify_stripe_key(key: str, base: str) -> None:
    """Raises `StripeKeyRejected` / `TransientStripeError` (plain messages) unless Stripe
    accepts `key`. Runs its own event loop: call it off the UI thread."""
    asyncio.run(_check_key(checked_key(key), base))


def open_chosen_store(choice: StoreChoice) -> Engine:
    """Open (and for SQLite create or upgrade) the store; `ConfigurationError` says why not."""
    return open_store(choice.url, choice.password)


def save_secrets(secrets: Secrets, key: str, store: StoreChoice) -> None:
    """Keep the key (and a PostgreSQL password) in the keyring; `KeyringUnavailable` when no
    keyring works, with nothing written anywhere else."""
    try:
        secrets.set(STRIPE_KEY_ENTRY, checked_key(key))
        if store.password:
            secrets.set(db_password_entry(store.url), store.password)
    except KeyringUnavailable:
        raise KeyringUnavailable(NO_KEYRING) from None
