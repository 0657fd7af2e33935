"""A small client for the `/_sandbox/` admin endpoints (tests, benchmarks, the demo).

Given an API key, every call is about that key's account only (its own faults, clock, log,
counts); without one, about the whole server.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any


def new_test_key() -> str:
    """A fresh random test key, hence a fresh, empty sandbox account."""
    return "sk_test_" + secrets.token_hex(16)


class SandboxAdminError(RuntimeError):
    pass


class SandboxAdmin:
    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not a sandbox URL: {url!r}")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        # The URL's scheme was checked to be http(s) in __init__.
        request = urllib.request.Request(f"{self.url}/_sandbox/{path}", data=data, method=method)  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SandboxAdminError(f"{method} /_sandbox/{path}: {exc.code} {detail}") from None

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "health")
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "config")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Set faults: rate_limit, latency_ms, latency_jitter_ms, fail_rate,
        drop_after_commit_rate, outage."""
        result: dict[str, Any] = self._call("POST", "config", changes)
        return result

    def now(self) -> int:
        return int(self._call("GET", "clock")["now"])

    def advance_clock(self, seconds: float) -> int:
        return int(self._call("POST", "clock/advance", {"seconds": seconds})["now"])

    def requests(self, limit: int = 100) -> list[dict[str, Any]]:
        """The request log, newest first."""
        data: list[dict[str, Any]] = self._call("GET", f"requests?limit={limit}")["data"]
        return data

    def counts(self) -> dict[str, int]:
        """Requests per endpoint, e.g. {"POST /v1/invoiceitems": 3}."""
        counts: dict[str, int] = self._call("GET", "counts")["counts"]
        return counts

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def snapshot(self, path: str | None = None) -> str:
        return str(self._call("POST", "snapshot", {"path": path} if path else {})["saved"])

    def restore(self, path: str | None = None) -> str:
        return str(self._call("POST", "restore", {"path": path} if path else {})["restored"])
