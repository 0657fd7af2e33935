"""The only importer of `stripe`: client factory, rate limiter, error classification, mapping.

Use `open_gateway(GatewayConfig(key, base), RateLimiter(rate))` inside the worker's event loop;
every method returns the dataclasses of `types` and raises `errors.StripeFailure` subclasses.

The names below are imported on first use (stripe-python and aiohttp take a good part of a
second), so importing `stripe_gateway.types` or a module that only names these in annotations
costs nothing; `from billing_desk.stripe_gateway import X` imports X's module then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Eager (it is light), and it must be: `redact` is also its module's name, which the import
# system would otherwise leave bound here in place of the function.
from billing_desk.stripe_gateway.redact import install_log_redaction, redact

if TYPE_CHECKING:
    from billing_desk.stripe_gateway.client import (
        API_VERSION,
        CallObserver,
        GatewayConfig,
        RetryPolicy,
        StripeGateway,
        is_live_key,
        open_gateway,
    )
    from billing_desk.stripe_gateway.errors import (
        KEY_REJECTED,
        PermanentStripeError,
        StripeFailure,
        StripeKeyRejected,
        TransientStripeError,
    )
    from billing_desk.stripe_gateway.limiter import RateLimiter

# Each public name -> the submodule that defines it.
_HOME = {
    "API_VERSION": "client",
    "CallObserver": "client",
    "GatewayConfig": "client",
    "RetryPolicy": "client",
    "StripeGateway": "client",
    "is_live_key": "client",
    "open_gateway": "client",
    "KEY_REJECTED": "errors",
    "PermanentStripeError": "errors",
    "StripeFailure": "errors",
    "StripeKeyRejected": "errors",
    "TransientStripeError": "errors",
    "RateLimiter": "limiter",
}

__all__ = [
    "API_VERSION",
    "KEY_REJECTED",
    "CallObserver",
    "GatewayConfig",
    "PermanentStripeError",
    "RateLimiter",
    "RetryPolicy",
    "StripeFailure",
    "StripeGateway",
    "StripeKeyRejected",
    "TransientStripeError",
    "install_log_redaction",
    "is_live_key",
    "open_gateway",
    "redact",
]


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
