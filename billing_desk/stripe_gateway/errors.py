"""Stripe's failures, sorted into what the sync engine does about them.

- `TransientStripeError`: connection errors, 5xx, 409 and 429 (`rate_limit`, `lock_timeout`):
  retried with backoff under the same idempotency key.
- `PermanentStripeError`: any other 4xx, and 402: the operation "needs attention", with
  Stripe's message and the object it was about.
- `StripeKeyRejected`: 401/403: the worker stops with one clear alert.
Messages are redacted: a key echoed back by an error never reaches a log or a screen.
"""

from __future__ import annotations

import stripe

from billing_desk.domain.errors import BillingDeskError
from billing_desk.stripe_gateway.redact import redact

KEY_REJECTED = "Stripe rejected the API key"


class StripeFailure(BillingDeskError):
    """A Stripe request that did not succeed; `endpoint` names it (`POST /v1/invoiceitems`)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        http_status: int | None = None,
        code: str | None = None,
        stripe_object: str | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.message = redact(message)
        self.endpoint = endpoint
        self.http_status = http_status
        self.code = code
        self.stripe_object = stripe_object


class TransientStripeError(StripeFailure):
    exit_code = 3

    @property
    def rate_limited(self) -> bool:
        return self.http_status == 429


class PermanentStripeError(StripeFailure):
    exit_code = 4


class StripeKeyRejected(StripeFailure):
    exit_code = 5


def classify(
    exc: stripe.StripeError, endpoint: str, stripe_object: str | None = None
) -> StripeFailure:
    """The failure class for an error the stripe library raised."""
    status = exc.http_status
    code = exc.code
    message = exc.user_message or str(exc) or type(exc).__name__

    def make(cls: type[StripeFailure], text: str) -> StripeFailure:
        return cls(
            text, endpoint=endpoint, http_status=status, code=code, stripe_object=stripe_object
        )

    if isinstance(exc, stripe.APIConnectionError) or status is None:
        return make(TransientStripeError, f"Stripe could not be reached ({message})")
    if status in (401, 403):
        return make(StripeKeyRejected, KEY_REJECTED)
    if status >= 500 or status in (409, 429):
        return make(TransientStripeError, f"Stripe answered {status}: {message}")
    return make(PermanentStripeError, message)
