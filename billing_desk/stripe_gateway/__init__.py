"""The only importer of `stripe`: client factory, rate limiter, error classification, mapping.

Use `open_gateway(GatewayConfig(key, base), RateLimiter(rate))` inside the worker's event loop;
every method returns the dataclasses of `types` and raises `errors.StripeFailure` subclasses.
"""

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
from billing_desk.stripe_gateway.redact import install_log_redaction, redact

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
