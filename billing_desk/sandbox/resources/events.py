"""Events: newest first, filtered by `type` (with `*` wildcards), `types` and `created`.

Events older than 30 days of sandbox time are gone, as in Stripe; `prune` runs before every
request so moving the clock forward is enough to see it.
"""

from __future__ import annotations

import fnmatch

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.errors import invalid, no_such
from billing_desk.sandbox.state import EVENT_RETENTION_SECONDS, Account, Obj, created_filter


def prune(account: Account, now: int) -> None:
    events = account.ix.of("event")
    cutoff = now - EVENT_RETENTION_SECONDS
    while True:
        oldest = events.oldest()
        if oldest is None or account.objects[oldest]["created"] >= cutoff:
            return
        events.remove(oldest)
        del account.objects[oldest]


def retrieve(call: Call) -> Obj:
    call.supported(())
    event = call.account.get("event", call.path["id"])
    if event is None:
        raise no_such("event", call.path["id"])
    return call.respond(event)


def list_(call: Call) -> Obj:
    call.supported({"type", "types", "created", "delivery_success"})
    p = call.params
    if "type" in p and "types" in p:
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    if p.get("delivery_success") is not None:
        raise invalid(
            "The Billing Desk sandbox delivers no webhooks: delivery_success can't be used.",
            param="delivery_success",
        )
    wanted: list[str] | None = None
    if p.get("type"):
        wanted = [p["type"]]
    elif p.get("types"):
        wanted = list(p["types"])
        if len(wanted) > 20:
            raise invalid("types can list at most 20 event types.", param="types")
    created = created_filter(p.get("created"))

    def keep(event: Obj) -> bool:
        if created is not None and not created(event):
            return False
        return wanted is None or any(fnmatch.fnmatchcase(event["type"], w) for w in wanted)

    account = call.account
    objects, has_more = account.page(account.ix.of("event"), p, kind="event", keep=keep)
    return call.respond_list("/v1/events", objects, has_more)
