"""Invoice items: create, retrieve, update, delete, list; shared by the invoice line endpoints."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.currencies import SUPPORTED
from billing_desk.sandbox.errors import StripeError, invalid, missing, no_such
from billing_desk.sandbox.ordered import OrderedIds
from billing_desk.sandbox.resources.totals import adopt_currency, refresh_draft, require_draft
from billing_desk.sandbox.state import Obj, apply_metadata, at, created_filter

MAX_ITEMS_PER_INVOICE = 250
_MAX_PLACES = 12

# What a line or item update may change (Stripe recomputes the amount from them).
ITEM_FIELDS = frozenset(
    {
        "amount",
        "description",
        "discountable",
        "metadata",
        "period",
        "quantity",
        "quantity_decimal",
        "unit_amount_decimal",
    }
)


def dec_str(value: Decimal) -> str:
    """A decimal as Stripe writes it: plain digits, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _places(value: Decimal, param: str) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > _MAX_PLACES:
        raise invalid(f"Invalid {param}: at most {_MAX_PLACES} decimal places", param=param)
    return value


def pricing(
    fields: dict[str, Any],
    current: Obj | None,
    prefix: str = "",
) -> tuple[int, int, str, str]:
    """(amount, quantity, quantity_decimal, unit_amount_decimal) from create or update params.

    `amount` is the line total; `unit_amount_decimal` times the quantity (rounded half up to
    a whole minor unit) is the alternative. On update, what is not given is kept.
    """
    if "quantity" in fields and "quantity_decimal" in fields:
        raise StripeError(
            400,
            "You may only specify one of these parameters: quantity, quantity_decimal.",
            code="parameters_exclusive",
            param=at(prefix, "quantity"),
        )
    if "amount" in fields and "unit_amount_decimal" in fields:
        raise StripeError(
            400,
            "You may only specify one of these parameters: amount, unit_amount_decimal.",
            code="parameters_exclusive",
            param=at(prefix, "amount"),
        )
    if "quantity_decimal" in fields:
        quantity = _places(fields["quantity_decimal"], at(prefix, "quantity_decimal"))
    elif "quantity" in fields:
        quantity = Decimal(fields["quantity"])
    elif current is not None:
        quantity = Decimal(current["quantity_decimal"])
    else:
        quantity = Decimal(1)
    if quantity < 0:
        raise invalid(
            f"Invalid {at(prefix, 'quantity')}: must be a non-negative number",
            param=at(prefix, "quantity"),
        )
    if "unit_amount_decimal" in fields:
        unit = _places(fields["unit_amount_decimal"], at(prefix, "unit_amount_decimal"))
        amount = int((quantity * unit).to_integral_value(ROUND_HALF_UP))
    elif "amount" in fields:
        amount = fields["amount"]
        if quantity == 0 and amount != 0:
            raise invalid(
                f"Invalid {at(prefix, 'amount')}: a zero quantity can't carry an amount",
                param=at(prefix, "amount"),
            )
        unit = Decimal(amount) if quantity == 0 else Decimal(amount) / quantity
        unit = unit.quantize(Decimal(1).scaleb(-_MAX_PLACES), ROUND_HALF_UP)
    elif current is not None:
        unit = Decimal(current["pricing"]["unit_amount_decimal"])
        amount = int((quantity * unit).to_integral_value(ROUND_HALF_UP))
    else:
        raise missing(at(prefix, "amount"))
    whole = int(quantity.to_integral_value(ROUND_HALF_UP))
    return amount, whole, dec_str(quantity), dec_str(unit)


def _period(value: Any, now: int, param: str) -> Obj:
    if not value:
        return {"end": now, "start": now}
    if value["end"] < value["start"]:
        raise invalid(f"Invalid {param}: end must not be before start", param=f"{param}[end]")
    return {"end": value["end"], "start": value["start"]}


def build_item(
    call: Call, customer: Obj, currency: str, fields: dict[str, Any], prefix: str = ""
) -> Obj:
    """A new (not yet stored) invoice item for `customer` from create or add-line params."""
    amount, quantity, quantity_decimal, unit = pricing(fields, None, prefix)
    account = call.account
    return {
        "id": account.new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "date": call.now,
        "description": fields.get("description") or None,
        "discountable": fields.get("discountable", amount >= 0),
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": apply_metadata({}, fields.get("metadata", {}), at(prefix, "metadata")),
        "net_amount": amount,
        "parent": None,
        "period": _period(fields.get("period"), call.now, at(prefix, "period")),
        "pricing": {"type": "price_details", "unit_amount_decimal": unit},
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": quantity_decimal,
        "tax_rates": [],
        "test_clock": None,
        "_line": account.new_id("il"),
    }


def item_changes(item: Obj, fields: dict[str, Any], now: int, prefix: str = "") -> Obj:
    """What an update would change on an item, checked but not applied (so a request that
    fails on its third line leaves the first two untouched)."""
    changes: Obj = {}
    if fields.keys() & {"amount", "quantity", "quantity_decimal", "unit_amount_decimal"}:
        amount, quantity, quantity_decimal, unit = pricing(fields, item, prefix)
        changes.update(
            amount=amount,
            net_amount=amount,
            quantity=quantity,
            quantity_decimal=quantity_decimal,
            pricing={"type": "price_details", "unit_amount_decimal": unit},
        )
    if "description" in fields:
        changes["description"] = fields["description"] or None
    if "discountable" in fields:
        changes["discountable"] = fields["discountable"]
    if "metadata" in fields:
        changes["metadata"] = apply_metadata(
            item["metadata"], fields["metadata"], at(prefix, "metadata")
        )
    if "period" in fields:
        changes["period"] = _period(fields["period"], now, at(prefix, "period"))
    return changes


def resolve_currency(customer: Obj, requested: str | None, param: str = "currency") -> str:
    """The currency of a new item: as asked or the customer's; one currency per customer."""
    if requested is not None:
        currency = requested.lower()
        if currency not in SUPPORTED:
            raise invalid(f"Invalid currency: {requested}", param=param)
    elif customer["currency"]:
        currency = customer["currency"]
    else:
        raise missing(param)
    if customer["currency"] and customer["currency"] != currency:
        raise invalid(
            "You cannot combine currencies on a single customer. This customer has had an "
            f"invoice item or balance in {customer['currency']}, not {currency}.",
            param=param,
        )
    return currency


def check_room(call: Call, invoice: Obj, adding: int) -> None:
    count = len(call.account.items_of(invoice["id"]))
    if count + adding > MAX_ITEMS_PER_INVOICE:
        raise invalid(
            f"An invoice can have at most {MAX_ITEMS_PER_INVOICE} invoice items; "
            f"{invoice['id']} has {count} and this would add {adding}.",
            param="invoice",
        )


def attach(call: Call, item: Obj, invoice: Obj) -> None:
    """Put a stored item on a draft invoice (the caller checked state, room and currency)."""
    item["invoice"] = invoice["id"]
    item["_attached"] = call.account.next_seq()
    call.account.items_of(invoice["id"]).add(item["id"])


def detach(call: Call, item: Obj) -> None:
    if item["invoice"]:
        call.account.items_of(item["invoice"]).remove(item["id"])
    item["invoice"] = None
    item.pop("_attached", None)


def _customer_of(call: Call, customer_id: str) -> Obj:
    return call.account.require("customer", customer_id, param="customer", status=400)


def create(call: Call) -> Obj:
    call.supported(ITEM_FIELDS | {"customer", "currency", "invoice"})
    p = call.params
    if not p.get("customer"):
        raise missing("customer")
    customer = _customer_of(call, p["customer"])
    invoice = None
    if p.get("invoice"):
        invoice = call.account.require("invoice", p["invoice"], param="invoice", status=400)
        if invoice["customer"] != customer["id"]:
            raise invalid(
                f"The invoice {invoice['id']} belongs to another customer.", param="invoice"
            )
        require_draft(invoice, "add invoice items to")
        check_room(call, invoice, 1)
    currency = resolve_currency(customer, p.get("currency"))
    if invoice is not None and invoice["currency"] != currency:
        raise invalid(
            f"The invoice item's currency ({currency}) must match the invoice's "
            f"({invoice['currency']}).",
            param="currency",
        )
    item = build_item(call, customer, currency, p)
    invoice_before = call.before(invoice) if invoice is not None else None
    adopt_currency(call, customer, currency)
    call.new(item)
    if invoice is not None:
        attach(call, item, invoice)
    call.emit("invoiceitem.created", item)
    if invoice is not None:
        refresh_draft(call.account, invoice)
        call.emit("invoice.updated", invoice, invoice_before)
    return call.respond(item)


def _item(call: Call) -> Obj:
    return call.account.require("invoiceitem", call.path["invoiceitem"])


def retrieve(call: Call) -> Obj:
    call.supported(())
    return call.respond(_item(call))


def _editable_invoice(call: Call, item: Obj, action: str) -> Obj | None:
    if not item["invoice"]:
        return None
    invoice = call.account.objects[item["invoice"]]
    require_draft(invoice, action)
    return invoice


def update(call: Call) -> Obj:
    call.supported(ITEM_FIELDS)
    item = _item(call)
    invoice = _editable_invoice(call, item, "update invoice items on")
    invoice_before = call.before(invoice) if invoice is not None else None
    item.update(item_changes(item, call.params, call.now))
    if invoice is not None:
        refresh_draft(call.account, invoice)
        call.emit("invoice.updated", invoice, invoice_before)
    return call.respond(item)


def delete(call: Call) -> Obj:
    call.supported(())
    item = _item(call)
    invoice = _editable_invoice(call, item, "delete invoice items from")
    invoice_before = call.before(invoice) if invoice is not None else None
    remove_item(call, item)
    if invoice is not None:
        refresh_draft(call.account, invoice)
        call.emit("invoice.updated", invoice, invoice_before)
    return {"id": item["id"], "object": "invoiceitem", "deleted": True}


def remove_item(call: Call, item: Obj) -> None:
    call.emit("invoiceitem.deleted", item)
    call.account.forget(item)
    del call.account.objects[item["id"]]


def list_(call: Call) -> Obj:
    call.supported({"customer", "invoice", "pending", "created"})
    p = call.params
    account = call.account
    if p.get("invoice"):
        # Stripe lists by creation time, newest first, whatever the invoice's line order;
        # an invoice holds at most 250 items, so sorting them here stays cheap.
        ids = OrderedIds()
        attached = account.items_of(p["invoice"]).ascending()
        for item_id in sorted(attached, key=lambda i: account.objects[i]["_seq"]):
            ids.add(item_id)
    elif p.get("customer"):
        ids = account.ix.customer("invoiceitem", p["customer"])
    else:
        ids = account.ix.of("invoiceitem")
    created = created_filter(p.get("created"))
    pending = p.get("pending")
    customer = p.get("customer")

    def keep(obj: Obj) -> bool:
        return (
            (customer is None or obj["customer"] == customer)
            and (pending is None or (obj["invoice"] is None) == pending)
            and (created is None or created(obj))
        )

    objects, has_more = account.page(ids, p, kind="invoiceitem", keep=keep)
    return call.respond_list("/v1/invoiceitems", objects, has_more)


def not_found_line(line_id: str, param: str) -> StripeError:
    return no_such("invoice line item", line_id, param=param, status=400)
