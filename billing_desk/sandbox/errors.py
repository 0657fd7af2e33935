"""Stripe's error shape: `{"error": {"type", "code", "message", "param"}}` with its status code."""

from __future__ import annotations

from collections.abc import Mapping


class StripeError(Exception):
    """An error the sandbox answers in Stripe's shape (raised anywhere inside a request)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self, request_id: str | None = None) -> dict[str, object]:
        error: dict[str, object] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if request_id is not None:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 invalid_request_error."""
    return StripeError(400, message, param=param, code=code)


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's `resource_missing` (404 for the path's object, 400 for a referenced one)."""
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )
