"""Idempotency as Stripe documents it for API v1.

The first response for a key (errors included) is stored once the endpoint starts executing
and replayed for the same key with `Idempotent-Replayed: true`. The same key with other
parameters (method, path, query and body as sent: stripe-python encodes the same parameters
the same way) is a 400 `idempotency_error`; while the first request is still running it is a
409 `idempotency_key_in_use`. Requests refused before execution (auth, rate limit, invalid
parameters, an injected 500) store nothing, so retrying them is safe. Keys expire after 24
hours of sandbox time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from billing_desk.sandbox.errors import StripeError

KEY_LIFETIME_SECONDS = 24 * 3600


@dataclass
class Stored:
    fingerprint: str
    created: float
    status: int | None = None  # None while the first request is still running
    body: bytes = b""
    request_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "created": self.created,
            "status": self.status,
            "body": self.body.decode(),
            "request_id": self.request_id,
        }


class IdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[str, Stored] = {}
        self._order: deque[tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def prune(self, now: float) -> None:
        cutoff = now - KEY_LIFETIME_SECONDS
        order = self._entries
        while self._order and self._order[0][0] <= cutoff:
            created, key = self._order.popleft()
            entry = order.get(key)
            if entry is not None and entry.created == created and entry.status is not None:
                del order[key]

    def begin(self, key: str, fingerprint: str, now: float) -> Stored | None:
        """The stored answer to replay, or None after reserving the key for this request."""
        entry = self._entries.get(key)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{key}' if you meant to execute a different request.",
                    type="idempotency_error",
                )
            if entry.status is None:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this idempotent "
                    "key (that probably means you submitted twice, and the other request is "
                    "still going through). Please retry this request later.",
                    code="idempotency_key_in_use",
                )
            return entry
        self._entries[key] = Stored(fingerprint, now)
        self._order.append((now, key))
        return None

    def abandon(self, key: str) -> None:
        """Release a reserved key whose request stopped before the endpoint ran."""
        entry = self._entries.get(key)
        if entry is not None and entry.status is None:
            del self._entries[key]

    def finish(self, key: str, status: int, body: bytes, request_id: str) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.status, entry.body, entry.request_id = status, body, request_id

    def to_json(self) -> dict[str, Any]:
        return {k: e.to_json() for k, e in self._entries.items() if e.status is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdempotencyStore:
        store = cls()
        entries = sorted(data.items(), key=lambda kv: kv[1]["created"])
        for key, raw in entries:
            store._entries[key] = Stored(
                raw["fingerprint"], raw["created"], raw["status"], raw["body"].encode(),
                raw["request_id"],
            )  # fmt: skip
            store._order.append((raw["created"], key))
        return store
