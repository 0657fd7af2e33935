"""Customers: create, retrieve, update, delete, list, search; and their balance transactions."""

from __future__ import annotations

from typing import Any

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.currencies import SUPPORTED
from billing_desk.sandbox.errors import invalid, no_such
from billing_desk.sandbox.search import search_response
from billing_desk.sandbox.state import Obj, apply_metadata, created_filter

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_FIELDS = frozenset(
    {
        "address",
        "balance",
        "description",
        "email",
        "invoice_prefix",
        "invoice_settings",
        "metadata",
        "name",
        "next_invoice_sequence",
        "phone",
        "preferred_locales",
        "shipping",
        "tax_exempt",
    }
)


def _address(value: Any) -> Obj | None:
    if not value:
        return None
    return {key: value.get(key) or None for key in _ADDRESS_KEYS}


def _shipping(value: Any) -> Obj | None:
    if not value:
        return None
    return {
        "address": _address(value.get("address")),
        "name": value.get("name"),
        "phone": value.get("phone") or None,
    }


def _invoice_prefix(call: Call, value: Any) -> str:
    if value is None:
        return "".join(call.account.rng.choices("0123456789ABCDEF", k=8))
    if not (3 <= len(value) <= 12 and value.isalnum() and value.upper() == value):
        raise invalid(
            "Invalid invoice_prefix: must be 3–12 upper-case letters or digits.",
            param="invoice_prefix",
        )
    return str(value)


def _changes(customer: Obj, params: dict[str, Any]) -> Obj:
    """The fields create/update params set, all checked before anything is applied."""
    changes: Obj = {}
    for name in ("name", "description", "phone", "email"):
        if name in params:
            changes[name] = params[name] or None
    if "metadata" in params:
        changes["metadata"] = apply_metadata(customer["metadata"], params["metadata"])
    if "address" in params:
        changes["address"] = _address(params["address"])
    if "shipping" in params:
        changes["shipping"] = _shipping(params["shipping"])
    if "preferred_locales" in params:
        changes["preferred_locales"] = list(params["preferred_locales"] or [])
    if "tax_exempt" in params:
        changes["tax_exempt"] = params["tax_exempt"] or "none"
    if "next_invoice_sequence" in params:
        if params["next_invoice_sequence"] < 1:
            raise invalid(
                "Invalid next_invoice_sequence: must be at least 1", param="next_invoice_sequence"
            )
        changes["next_invoice_sequence"] = params["next_invoice_sequence"]
    if "invoice_settings" in params:
        settings = params["invoice_settings"]
        unknown = set(settings) - {"footer"}
        if unknown:
            raise invalid(
                f"The Billing Desk sandbox does not support invoice_settings[{min(unknown)}].",
                param=f"invoice_settings[{min(unknown)}]",
            )
        changes["invoice_settings"] = {
            **customer["invoice_settings"],
            "footer": settings.get("footer") or None,
        }
    return changes


def create(call: Call) -> Obj:
    call.supported(_FIELDS)
    p = call.params
    account = call.account
    customer: Obj = {
        "id": account.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": call.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": _invoice_prefix(call, p.get("invoice_prefix")),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    customer.update(_changes(customer, p))
    call.new(customer)
    call.emit("customer.created", customer)
    balance = p.get("balance", 0)
    if balance:
        # Stripe records a starting balance as the customer's first ("initial") transaction.
        record_transaction(call, customer, balance, "initial", currency=None)
    return call.respond(customer)


def retrieve(call: Call) -> Obj:
    call.supported(())
    customer_id = call.path["customer"]
    obj = call.account.objects.get(customer_id)
    if obj is None or obj.get("object") != "customer":
        raise no_such("customer", customer_id)
    if obj.get("deleted"):
        return {k: v for k, v in obj.items() if k[0] != "_"}
    return call.respond(obj)


def update(call: Call) -> Obj:
    call.supported(_FIELDS)
    customer = call.account.require("customer", call.path["customer"])
    before = call.before(customer)
    p = call.params
    changes = _changes(customer, p)
    if "invoice_prefix" in p:
        changes["invoice_prefix"] = _invoice_prefix(call, p["invoice_prefix"])
    if "email" in changes:
        call.account.index_email(customer["id"], customer["email"], changes["email"])
    customer.update(changes)
    if "balance" in p and p["balance"] != customer["balance"]:
        # Setting the balance directly is recorded as an adjustment, as Stripe does.
        delta = p["balance"] - customer["balance"]
        record_transaction(call, customer, delta, "adjustment", currency=None, emit=False)
    call.emit("customer.updated", customer, before)
    return call.respond(customer)


def delete(call: Call) -> Obj:
    call.supported(())
    account = call.account
    customer = account.require("customer", call.path["customer"])
    account.forget(customer)
    stub = {"id": customer["id"], "object": "customer", "deleted": True, "_seq": customer["_seq"]}
    account.objects[customer["id"]] = stub
    call.emit("customer.deleted", customer)
    return {k: v for k, v in stub.items() if k[0] != "_"}


def list_(call: Call) -> Obj:
    call.supported({"email", "created"})
    p = call.params
    account = call.account
    email = p.get("email")
    if email:
        ids = account.ix.by_email.get(email)
        if ids is None:
            return call.respond_list("/v1/customers", [], False)
    else:
        ids = account.ix.of("customer")
    objects, has_more = account.page(ids, p, kind="customer", keep=created_filter(p.get("created")))
    return call.respond_list("/v1/customers", objects, has_more)


def search(call: Call) -> Obj:
    call.supported({"query", "page"})
    return search_response(call, "customer", "/v1/customers/search")


# Balance transactions ---------------------------------------------------------------------


def record_transaction(
    call: Call,
    customer: Obj,
    amount: int,
    kind: str,
    *,
    currency: str | None,
    invoice: str | None = None,
    credit_note: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    emit: bool = True,
) -> Obj:
    """Move the customer's balance by `amount` and record it (negative = credit to them)."""
    currency = currency or customer["currency"] or "usd"
    before = call.before(customer) if emit else None
    if customer["currency"] is None:
        customer["currency"] = currency
    customer["balance"] += amount
    txn: Obj = {
        "id": call.account.new_id("cbtxn"),
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": call.now,
        "credit_note": credit_note,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "description": description,
        "ending_balance": customer["balance"],
        "invoice": invoice,
        "livemode": False,
        "metadata": metadata or {},
        "type": kind,
    }
    call.new(txn)
    if before is not None:
        call.emit("customer.updated", customer, before)
    return txn


def create_transaction(call: Call) -> Obj:
    call.supported({"amount", "currency", "description", "metadata"})
    p = call.params
    customer = call.account.require("customer", call.path["customer"])
    currency = p["currency"].lower()
    if currency not in SUPPORTED:
        raise invalid(f"Invalid currency: {p['currency']}", param="currency")
    if customer["currency"] and customer["currency"] != currency:
        raise invalid(
            f"The currency {currency} doesn't match the customer's currency "
            f"{customer['currency']}.",
            param="currency",
        )
    if p["amount"] == 0:
        raise invalid("Invalid amount: a balance transaction can't be zero.", param="amount")
    txn = record_transaction(
        call,
        customer,
        p["amount"],
        "adjustment",
        currency=currency,
        description=p.get("description") or None,
        metadata=apply_metadata({}, p.get("metadata", {})),
    )
    return call.respond(txn)


def _transaction(call: Call) -> Obj:
    customer = call.account.require("customer", call.path["customer"])
    txn = call.account.get("customer_balance_transaction", call.path["transaction"])
    if txn is None or txn["customer"] != customer["id"]:
        raise no_such("customer balance transaction", call.path["transaction"])
    return txn


def retrieve_transaction(call: Call) -> Obj:
    call.supported(())
    return call.respond(_transaction(call))


def update_transaction(call: Call) -> Obj:
    call.supported({"description", "metadata"})
    txn = _transaction(call)
    if "metadata" in call.params:
        txn["metadata"] = apply_metadata(txn["metadata"] or {}, call.params["metadata"])
    if "description" in call.params:
        txn["description"] = call.params["description"] or None
    return call.respond(txn)


def list_transactions(call: Call) -> Obj:
    call.supported({"created", "invoice"})
    customer = call.account.require("customer", call.path["customer"])
    ids = call.account.ix.customer("customer_balance_transaction", customer["id"])
    created = created_filter(call.params.get("created"))
    invoice = call.params.get("invoice")

    def keep(txn: Obj) -> bool:
        return (created is None or created(txn)) and (invoice is None or txn["invoice"] == invoice)

    objects, has_more = call.account.page(
        ids, call.params, kind="customer_balance_transaction", keep=keep
    )
    return call.respond_list(
        f"/v1/customers/{customer['id']}/balance_transactions", objects, has_more
    )
