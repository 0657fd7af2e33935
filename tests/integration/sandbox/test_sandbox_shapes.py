"""Every object the sandbox serves has the fields of Stripe's official fixture for its resource
(`tests/data/stripe-fixtures3.json`, a copy of stripe/openapi's `fixtures3.json`, nested objects
too) and loads into stripe-python's typed resource class. A field may be null where the fixture
shows a value only if stripe-python types it `Optional` (Stripe returns null there for objects
like ours)."""

from __future__ import annotations

import json
import types
import typing
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe._stripe_object import StripeObject

from tests.conftest import StripeSandbox

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "stripe-fixtures3.json"

TYPED = {
    "customer": stripe.Customer,
    "invoiceitem": stripe.InvoiceItem,
    "invoice": stripe.Invoice,
    "line_item": stripe.InvoiceLineItem,
    "credit_note": stripe.CreditNote,
    "credit_note_line_item": stripe.CreditNoteLineItem,
    "customer_balance_transaction": stripe.CustomerBalanceTransaction,
    "event": stripe.Event,
}
SERVED = {*TYPED, "deleted_customer", "deleted_invoiceitem", "deleted_invoice"}
# Values that are free-form maps, not nested objects with a fixed shape.
MAPS = {"metadata", "previous_attributes"}


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def _nullable(cls: type | None, key: str) -> bool:
    if cls is None:
        return False
    for klass in cls.__mro__:
        annotation = getattr(klass, "__annotations__", {}).get(key)
        if annotation is not None:
            origin = typing.get_origin(annotation)
            return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(
                annotation
            )
    return False


def _inner(cls: type | None, key: str) -> type | None:
    if cls is None:
        return None
    inner: dict[str, type] = getattr(cls, "_inner_class_types", {})
    return inner.get(key)


def _kind(value: Any) -> str:
    """The JSON type of a value."""
    for kind, types_ in (("boolean", bool), ("number", int | float), ("string", str),
                         ("object", dict), ("array", list)):  # fmt: skip
        if isinstance(value, types_):
            return kind
    return "null"


def assert_shape(
    fixture: dict[str, Any], ours: dict[str, Any], cls: type | None, path: str, all_fx: Any
) -> None:
    kind = ours.get("object")
    if isinstance(kind, str) and kind in TYPED:
        cls = TYPED[kind]
    for key, expected in fixture.items():
        where = f"{path}.{key}"
        assert key in ours, f"{where} is missing"
        value = ours[key]
        if value is None:
            assert expected is None or _nullable(cls, key), f"{where} is null, not Optional"
            continue
        if expected is None or key in MAPS:
            continue
        embedded = _object_of(value)
        if embedded in all_fx and embedded != _object_of(expected):
            # An object of another resource (an event's data.object, an expanded id).
            assert_shape(all_fx[embedded], value, None, where, all_fx)
            continue
        assert _kind(value) == _kind(expected), f"{where}: {value!r} vs fixture {expected!r}"
        if isinstance(expected, dict):
            assert_shape(expected, value, _inner(cls, key), where, all_fx)
        elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
            for n, item in enumerate(value):
                template = all_fx.get(_object_of(item), expected[0])
                assert_shape(template, item, _inner(cls, key), f"{where}[{n}]", all_fx)


def _object_of(value: Any) -> str | None:
    """The resource name of an object (`"object": "invoice"`), else None."""
    kind = value.get("object") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def _walk(value: Any, found: dict[str, list[dict[str, Any]]]) -> None:
    """Collect every object in a response by its fixture name."""
    if isinstance(value, dict):
        kind = value.get("object")
        if isinstance(kind, str) and kind not in ("list", "search_result"):
            found[f"deleted_{kind}" if value.get("deleted") else kind].append(value)
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)


def _every_endpoint(client: stripe.StripeClient) -> list[StripeObject]:
    """One call to every endpoint the sandbox serves, in states that show every field."""
    v1 = client.v1
    out: list[StripeObject] = []
    cus = v1.customers.create(
        params={"name": "Shape Co", "email": "s@shape.test", "address": {"city": "Berlin"}}
    )
    out += [cus, v1.customers.update(cus.id, params={"phone": "+4930123"})]
    out += [v1.customers.retrieve(cus.id), v1.customers.list()]
    out.append(v1.customers.search(params={"query": "name~'Shape'"}))
    txn = v1.customers.balance_transactions.create(
        cus.id, params={"amount": -100, "currency": "usd"}
    )
    out += [txn, v1.customers.balance_transactions.retrieve(cus.id, txn.id)]
    out += [v1.customers.balance_transactions.update(cus.id, txn.id, params={"description": "d"})]
    out.append(v1.customers.balance_transactions.list(cus.id))
    item = v1.invoice_items.create(params={"customer": cus.id, "amount": 900, "currency": "usd"})
    out += [item, v1.invoice_items.update(item.id, params={"description": "Nine"})]
    out += [v1.invoice_items.retrieve(item.id), v1.invoice_items.list()]
    out.append(v1.invoices.create_preview(params={"customer": cus.id}))
    draft = v1.invoices.create(
        params={"customer": cus.id, "pending_invoice_items_behavior": "include"}
    )
    out += [draft, v1.invoices.update(draft.id, params={"description": "Shapes"})]
    added = v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 300}, {"amount": 50}]})
    lines = added.lines.data
    update: stripe.params.InvoiceUpdateLinesParams = {"lines": [{"id": lines[1].id, "amount": 60}]}
    out += [added, v1.invoices.update_lines(draft.id, params=update)]
    out.append(v1.invoices.line_items.update(draft.id, lines[1].id, params={"description": "x"}))
    remove: stripe.params.InvoiceRemoveLinesParams = {
        "lines": [{"id": lines[2].id, "behavior": "delete"}]
    }
    out.append(v1.invoices.remove_lines(draft.id, params=remove))
    out += [v1.invoices.line_items.list(draft.id), v1.invoices.finalize_invoice(draft.id)]
    out += [v1.invoices.retrieve(draft.id, params={"expand": ["customer"]}), v1.invoices.list()]
    out.append(v1.invoices.search(params={"query": "status:'open'"}))
    cn_params: stripe.params.CreditNoteCreateParams = {
        "invoice": draft.id,
        "lines": [
            {"type": "invoice_line_item", "invoice_line_item": lines[0].id, "amount": 100},
            {"type": "custom_line_item", "unit_amount": 20, "description": "Goodwill"},
        ],
    }
    out.append(v1.credit_notes.preview(params=cn_params))  # type: ignore[arg-type]
    out.append(v1.credit_notes.preview_lines.list(params=cn_params))  # type: ignore[arg-type]
    note = v1.credit_notes.create(params=cn_params)
    out += [note, v1.credit_notes.retrieve(note.id, params={"expand": ["invoice"]})]
    out += [v1.credit_notes.update(note.id, params={"memo": "m"}), v1.credit_notes.list()]
    out += [v1.credit_notes.line_items.list(note.id), v1.invoices.pay(draft.id)]
    paid_note = v1.credit_notes.create(
        params={"invoice": draft.id, "amount": 30, "credit_amount": 30}
    )
    out += [v1.credit_notes.void_credit_note(paid_note.id)]
    other = v1.invoices.create(params={"customer": cus.id})
    v1.invoice_items.create(params={"customer": cus.id, "amount": 700, "invoice": other.id})
    v1.invoices.finalize_invoice(other.id)
    out += [v1.invoices.mark_uncollectible(other.id), v1.invoices.void_invoice(other.id)]
    doomed = v1.invoices.create(params={"customer": cus.id})
    doomed_item = v1.invoice_items.create(params={"customer": cus.id, "amount": 5})
    out += [v1.invoice_items.delete(doomed_item.id), v1.invoices.delete(doomed.id)]
    events = v1.events.list(params={"limit": 100})
    out += [events, v1.events.retrieve(events.data[0].id)]
    gone = v1.customers.create(params={"name": "Gone"})
    out += [v1.customers.delete(gone.id), v1.customers.retrieve(gone.id)]
    return out


def test_every_served_object_has_the_fixture_shape_and_loads_typed(
    stripe_sandbox: StripeSandbox, fixtures: dict[str, Any]
) -> None:
    responses = _every_endpoint(stripe_sandbox.client())
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for response in responses:
        assert response.last_response is not None
        _walk(response.last_response.data, found)
    assert set(found) == SERVED, f"resources served: {sorted(found)}"
    for name, objects in found.items():
        for obj in objects:
            cls = TYPED.get(name)
            assert_shape(fixtures[name], obj, cls, f"{name} {obj.get('id')}", fixtures)
    # Each response loads as stripe-python's own typed resource.
    for response in responses:
        data = response.last_response.data if response.last_response else {}
        kind = data["object"]
        if kind in ("list", "search_result"):
            for item in getattr(response, "data", []):
                assert isinstance(item, TYPED[item.object])
        else:
            assert isinstance(response, TYPED[kind]), (kind, type(response))
    # Expanded references load typed too.
    expanded = [
        r.customer
        for r in responses
        if isinstance(r, stripe.Invoice) and not isinstance(getattr(r, "customer", ""), str)
    ]
    assert expanded
    assert all(isinstance(customer, stripe.Customer) for customer in expanded)
