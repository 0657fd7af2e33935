"""One Stripe account's objects: storage, indexes, ids, events, rendering and `expand[]`.

Every distinct API key is its own account. Objects are kept in Stripe's wire shape (plain
JSON-able dicts) in one map by id; keys starting with `_` are the sandbox's own bookkeeping and
are never rendered. Secondary indexes (`OrderedIds` per customer, per invoice, per email) keep
every retrieve/update O(1) and every filtered list proportional to what it returns.
"""

from __future__ import annotations

import heapq
import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from billing_desk.sandbox.errors import invalid, no_such
from billing_desk.sandbox.ordered import OrderedIds

API_VERSION = "2026-10-28.endive"
EVENT_RETENTION_SECONDS = 30 * 86400
EMBEDDED_LINES = 10  # Stripe embeds the first ten lines of an invoice or credit note
_ALPHABET = string.ascii_letters + string.digits
# Random bytes mapped onto the alphabet in one `bytes.translate` (ids are hot: one or more
# per write); the slight bias of `% 62` does not matter for ids.
_ID_TABLE = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))

Obj = dict[str, Any]

# Which fields of which object may be replaced by the object they name (`expand[]`).
EXPANDABLE: dict[str, frozenset[str]] = {
    "invoice": frozenset({"customer"}),
    "invoiceitem": frozenset({"customer", "invoice"}),
    "line_item": frozenset({"invoice"}),
    "credit_note": frozenset({"customer", "invoice", "customer_balance_transaction"}),
    "customer_balance_transaction": frozenset({"customer", "invoice", "credit_note"}),
}
_MAX_EXPAND_DEPTH = 4


def snapshot(value: Obj) -> Obj:
    """A deep, independent copy of a rendered object (for event payloads)."""
    copied: Obj = _copy(value)
    return copied


def _copy(value: Any) -> Any:
    # JSON data only holds dicts, lists and immutable scalars: much cheaper than a JSON
    # round trip or copy.deepcopy.
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return value


@dataclass
class Indexes:
    """Orders and secondary indexes, all rebuildable from the objects (see `Account.reindex`)."""

    order: dict[str, OrderedIds] = field(default_factory=dict)
    by_customer: dict[tuple[str, str], OrderedIds] = field(default_factory=dict)
    by_email: dict[str, OrderedIds] = field(default_factory=dict)
    invoice_items: dict[str, OrderedIds] = field(default_factory=dict)
    credit_notes_of: dict[str, OrderedIds] = field(default_factory=dict)
    line_to_item: dict[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> OrderedIds:
        found = self.order.get(kind)
        if found is None:
            found = self.order[kind] = OrderedIds()
        return found

    def customer(self, kind: str, customer_id: str) -> OrderedIds:
        key = (kind, customer_id)
        found = self.by_customer.get(key)
        if found is None:
            found = self.by_customer[key] = OrderedIds()
        return found


class Account:
    """The state of one sandbox account (one API key)."""

    def __init__(self, account_id: str, seed: int) -> None:
        self.id = account_id
        self.seed = seed
        self.rng = random.Random(seed)
        self.objects: dict[str, Obj] = {}
        self.ix = Indexes()
        self.seq = 0  # creation counter: `_seq` on every object keeps creation order
        # What Stripe does on its own when the clock passes a moment: (when, what, invoice id)
        # with what = "finalize" (automatically_finalizes_at) or "overdue" (due_date).
        self.timers: list[tuple[int, str, str]] = []

    # ids ---------------------------------------------------------------------------------
    def new_id(self, prefix: str, length: int = 24) -> str:
        while True:
            object_id = f"{prefix}_" + self.rng.randbytes(length).translate(_ID_TABLE).decode()
            if object_id not in self.objects:
                return object_id

    # storage -----------------------------------------------------------------------------
    def get(self, kind: str, object_id: str) -> Obj | None:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != kind or obj.get("deleted"):
            return None
        return obj

    def require(self, kind: str, object_id: str, *, param: str = "id", status: int = 404) -> Obj:
        obj = self.get(kind, object_id)
        if obj is None:
            raise no_such(_KIND_NAMES.get(kind, kind), object_id, param=param, status=status)
        return obj

    def add(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        self._index(obj)
        return obj

    def _index(self, obj: Obj) -> None:
        kind = obj["object"]
        object_id = obj["id"]
        self.ix.of(kind).add(object_id)
        if kind in ("invoiceitem", "invoice", "credit_note", "customer_balance_transaction"):
            self.ix.customer(kind, obj["customer"]).add(object_id)
        if kind == "customer" and obj.get("email"):
            self.index_email(object_id, None, obj["email"])
        if kind == "invoiceitem":
            self.ix.line_to_item[obj["_line"]] = object_id
            if obj.get("invoice"):
                self.items_of(obj["invoice"]).add(object_id)
        if kind == "credit_note":
            self.credit_notes_of(obj["invoice"]).add(object_id)
        if kind == "invoice":
            if obj.get("_finalize_at") is not None:
                heapq.heappush(self.timers, (obj["_finalize_at"], "finalize", object_id))
            if obj["status"] == "open" and obj["due_date"] and not obj.get("_overdue"):
                heapq.heappush(self.timers, (obj["due_date"], "overdue", object_id))

    def forget(self, obj: Obj) -> None:
        """Drop an object from every index (deleting it; the caller keeps what Stripe keeps)."""
        kind = obj["object"]
        object_id = obj["id"]
        self.ix.of(kind).remove(object_id)
        if kind in ("invoiceitem", "invoice", "credit_note", "customer_balance_transaction"):
            self.ix.customer(kind, obj["customer"]).remove(object_id)
        if kind == "customer" and obj.get("email"):
            self.index_email(object_id, obj["email"], None)
        if kind == "invoiceitem":
            self.ix.line_to_item.pop(obj["_line"], None)
            if obj.get("invoice"):
                self.items_of(obj["invoice"]).remove(object_id)
        if kind == "invoice":
            self.ix.invoice_items.pop(object_id, None)

    def index_email(self, customer_id: str, old: str | None, new: str | None) -> None:
        if old:
            ids = self.ix.by_email.get(old)
            if ids is not None:
                ids.remove(customer_id)
                if not len(ids):
                    del self.ix.by_email[old]
        if new:
            self.ix.by_email.setdefault(new, OrderedIds()).add(customer_id)

    def items_of(self, invoice_id: str) -> OrderedIds:
        found = self.ix.invoice_items.get(invoice_id)
        if found is None:
            found = self.ix.invoice_items[invoice_id] = OrderedIds()
        return found

    def credit_notes_of(self, invoice_id: str) -> OrderedIds:
        found = self.ix.credit_notes_of.get(invoice_id)
        if found is None:
            found = self.ix.credit_notes_of[invoice_id] = OrderedIds()
        return found

    def reindex(self) -> None:
        """Rebuild every index from the objects (after a restore), in creation order."""
        self.ix = Indexes()
        self.timers = []
        live = sorted(
            (o for o in self.objects.values() if not o.get("deleted")), key=lambda o: o["_seq"]
        )
        for obj in live:
            self._index(obj)
        # An invoice's lines keep the order items were attached in, not their creation order.
        self.ix.invoice_items = {}
        items = [o for o in live if o["object"] == "invoiceitem" and o.get("invoice")]
        for item in sorted(items, key=lambda o: o["_attached"]):
            self.items_of(item["invoice"]).add(item["id"])
        self.seq = max((o["_seq"] for o in self.objects.values()), default=0)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # lines -------------------------------------------------------------------------------
    def line_of_item(self, item: Obj, invoice_id: str | None) -> Obj:
        """The invoice line an invoice item appears as (derived, so it never drifts)."""
        pricing = item["pricing"]
        return {
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": item["discountable"],
            "discounts": [],
            "id": item["_line"],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": item["metadata"],
            "object": "line_item",
            "parent": {
                "invoice_item_details": {
                    "invoice_item": item["id"],
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": None,
                },
                "subscription_item_details": None,
                "type": "invoice_item_details",
            },
            "period": dict(item["period"]),
            "pretax_credit_amounts": [],
            "pricing": {
                "type": "price_details",
                "unit_amount_decimal": pricing["unit_amount_decimal"],
            },
            "quantity": item["quantity"],
            "quantity_decimal": item["quantity_decimal"],
            "subscription": None,
            "subtotal": item["amount"],
            "taxes": [],
        }

    # rendering ---------------------------------------------------------------------------
    def render(self, obj: Obj) -> Obj:
        """The wire form of a stored object: bookkeeping stripped, embedded lists added."""
        out = {k: v for k, v in obj.items() if k[0] != "_"}
        kind = obj["object"]
        if kind == "invoice" and not obj.get("deleted"):
            if "_preview_lines" in obj:
                lines = obj["_preview_lines"]
                ids = None
            else:
                ids = self.items_of(obj["id"])
                lines = None
            out["lines"] = self.lines_list(obj, ids, lines)
        elif kind == "credit_note":
            all_lines = obj["_lines"]
            out["lines"] = {
                "object": "list",
                "data": all_lines[:EMBEDDED_LINES],
                "has_more": len(all_lines) > EMBEDDED_LINES,
                "url": f"/v1/credit_notes/{obj['id']}/lines",
                "total_count": len(all_lines),
            }
        return out

    def lines_list(self, invoice: Obj, ids: OrderedIds | None, lines: list[Obj] | None) -> Obj:
        invoice_id = invoice["id"]
        if ids is not None:
            page, has_more = ids.page(EMBEDDED_LINES, newest_first=False)
            data = [self.line_of_item(self.objects[i], invoice_id) for i in page]
            total = len(ids)
        else:
            assert lines is not None
            data, has_more, total = lines[:EMBEDDED_LINES], len(lines) > EMBEDDED_LINES, len(lines)
        url = f"/v1/invoices/{invoice_id}/lines" if invoice_id else "/v1/invoices/upcoming/lines"
        return {
            "object": "list",
            "data": data,
            "has_more": has_more,
            "total_count": total,
            "url": url,
        }

    def expand(self, rendered: Obj, paths: Iterable[str]) -> Obj:
        """Apply `expand[]` paths (`customer`, `data.invoice`, `invoice.customer`, …)."""
        for path in paths:
            parts = path.split(".")
            if len(parts) > _MAX_EXPAND_DEPTH:
                raise invalid(
                    f"You cannot expand more than {_MAX_EXPAND_DEPTH} levels of a property. "
                    f"Property: {path}",
                    param="expand",
                )
            self._expand(rendered, parts, path)
        return rendered

    def _expand(self, node: Obj, parts: list[str], path: str) -> None:
        head, rest = parts[0], parts[1:]
        value = node.get(head)
        kind = node.get("object")
        if kind in ("list", "search_result") and head == "data" and rest:
            node["data"] = items = [dict(item) for item in node["data"]]
            for item in items:
                self._expand(item, rest, path)
            return
        if head in EXPANDABLE.get(str(kind), frozenset()):
            if isinstance(value, str):
                found = self.objects.get(value)
                if found is None:
                    return
                node[head] = value = self.render(found)
            if rest and isinstance(value, dict):
                self._expand(value, rest, path)
            return
        if rest and isinstance(value, dict):
            node[head] = value = dict(value)
            self._expand(value, rest, path)
            return
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")

    # pagination --------------------------------------------------------------------------
    def page(
        self,
        ids: OrderedIds,
        params: dict[str, Any],
        *,
        kind: str,
        keep: Callable[[Obj], bool] | None = None,
        newest_first: bool = True,
    ) -> tuple[list[Obj], bool]:
        limit = params.get("limit", 10)
        if not 1 <= limit <= 100:
            raise invalid("Invalid limit: must be between 1 and 100", param="limit")
        after = params.get("starting_after") or None
        before = params.get("ending_before") or None
        if after and before:
            raise invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="starting_after",
            )
        for name, cursor in (("starting_after", after), ("ending_before", before)):
            if cursor is not None and cursor not in ids:
                raise no_such(_KIND_NAMES.get(kind, kind), cursor, param=name, status=400)
        objects = self.objects
        predicate = None if keep is None else (lambda object_id: keep(objects[object_id]))
        found, has_more = ids.page(
            limit,
            starting_after=after,
            ending_before=before,
            keep=predicate,
            newest_first=newest_first,
        )
        return [objects[i] for i in found], has_more


def at(prefix: str, *names: str) -> str:
    """A parameter's name as Stripe reports it: `at("lines[0]", "price_data", "currency")` is
    `lines[0][price_data][currency]`; with no prefix, `at("", "amount")` is `amount`."""
    if not prefix:
        prefix, names = names[0], names[1:]
    return prefix + "".join(f"[{n}]" for n in names)


def created_filter(spec: Any) -> Callable[[Obj], bool] | None:
    """Stripe's `created` list filter: an exact timestamp or `gt`/`gte`/`lt`/`lte` bounds."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, int):
        return lambda obj: bool(obj["created"] == spec)
    bounds = dict(spec)

    def keep(obj: Obj) -> bool:
        created = obj["created"]
        return (
            ("gt" not in bounds or created > bounds["gt"])
            and ("gte" not in bounds or created >= bounds["gte"])
            and ("lt" not in bounds or created < bounds["lt"])
            and ("lte" not in bounds or created <= bounds["lte"])
        )

    return keep


def list_object(url: str, data: list[Obj], has_more: bool) -> Obj:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


METADATA_MAX_KEYS = 50


def apply_metadata(current: dict[str, str], update: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata semantics: `''` clears all, `key=''` clears a key, else merge."""
    if update == "":
        return {}
    merged = dict(current)
    for key, value in update.items():
        if len(key) > 40:
            raise invalid(
                f"Invalid {param}: metadata keys can be at most 40 characters ({key!r}).",
                param=f"{param}[{key}]",
            )
        if len(value) > 500:
            raise invalid(
                f"Invalid {param}: metadata values can be at most 500 characters (key {key!r}).",
                param=f"{param}[{key}]",
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise invalid(
            f"Invalid {param}: an object can have at most {METADATA_MAX_KEYS} metadata keys.",
            param=param,
        )
    return merged


_KIND_NAMES = {
    "invoiceitem": "invoiceitem",
    "customer_balance_transaction": "customer balance transaction",
    "credit_note": "credit note",
    "line_item": "invoice line item",
}
