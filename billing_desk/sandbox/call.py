"""What an endpoint handler gets: the account, validated params, the time, and event emission."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from billing_desk.sandbox.errors import invalid
from billing_desk.sandbox.state import API_VERSION, Account, Obj, snapshot

_ALWAYS = frozenset({"expand", "limit", "starting_after", "ending_before"})


@dataclass
class Call:
    account: Account
    params: dict[str, Any]
    path: Mapping[str, str]
    now: int
    request_id: str | None
    idempotency_key: str | None
    base_url: str
    endpoint: str

    def respond(self, obj: Obj) -> Obj:
        """The rendered object with the request's `expand[]` applied."""
        rendered = self.account.render(obj)
        expand = self.params.get("expand")
        if expand:
            self.account.expand(rendered, expand)
        return rendered

    def respond_list(self, url: str, objects: list[Obj], has_more: bool) -> Obj:
        rendered: Obj = {
            "object": "list",
            "data": [self.account.render(o) for o in objects],
            "has_more": has_more,
            "url": url,
        }
        expand = self.params.get("expand")
        if expand:
            self.account.expand(rendered, expand)
        return rendered

    def supported(self, names: Iterable[str]) -> None:
        """Refuse, clearly, a parameter Stripe has but the sandbox does not model."""
        allowed = set(names) | _ALWAYS
        for name in self.params:
            if name not in allowed:
                raise invalid(
                    f"The Billing Desk sandbox does not support the parameter `{name}` on "
                    f"{self.endpoint}.",
                    param=name,
                )

    def before(self, obj: Obj) -> Obj:
        """A snapshot to diff against after an update (for `previous_attributes`)."""
        return snapshot(self.account.render(obj))

    def emit(self, event_type: str, obj: Obj, before: Obj | None = None) -> Obj:
        """Record one event: the object's state now and, for updates, what changed."""
        account = self.account
        current = snapshot(account.render(obj))
        data: Obj = {"object": current}
        if before is not None:
            data["previous_attributes"] = {
                key: value
                for key, value in before.items()
                if key != "lines" and current.get(key) != value
            }
        event: Obj = {
            "id": account.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": event_type,
            "_seq": account.next_seq(),
        }
        return account.add(event)

    def new(self, obj: Obj) -> Obj:
        """Store a freshly built object, stamped with its creation order."""
        obj["_seq"] = self.account.next_seq()
        return self.account.add(obj)
