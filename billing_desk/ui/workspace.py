"""What one window works on: the open store, who is acting, where Stripe is, the secrets, and
for the demo workspace the resources to release on close."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from billing_desk.config import Secrets, stripe_api_key
from billing_desk.services.customer_view import Mode
from billing_desk.ui.sync_worker import WorkerOptions

if TYPE_CHECKING:  # the gateway loads the stripe library: only once the worker starts
    from billing_desk.stripe_gateway import GatewayConfig

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


@dataclass
class Workspace:
    engine: Engine
    store_url: str  # never holds a password
    user: str
    stripe_base: str
    secrets: Secrets
    # Shown as a banner across the window (the demo workspace says it is one).
    banner: str | None = None
    # A customer to open at start (the demo opens one; --customer on the command line).
    start_customer: str | None = None
    worker_options: WorkerOptions = field(default_factory=WorkerOptions)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def stripe_key(self) -> str | None:
        return stripe_api_key(self.secrets)

    @property
    def mode(self) -> Mode:
        """Which Dashboard the links open: test-mode pages for test keys."""
        key = self.stripe_key()
        return "live" if key is not None and key.startswith(LIVE_KEY_PREFIXES) else "test"

    def gateway_config(self) -> GatewayConfig | None:
        from billing_desk.stripe_gateway import GatewayConfig

        key = self.stripe_key()
        return None if key is None else GatewayConfig(key, self.stripe_base)

    def close(self) -> None:
        self.engine.dispose()
        while self.on_close:
            self.on_close.pop()()
