"""Invoices: Stripe's status machine draft → open → paid | void | uncollectible, and lines.

- Drafts are fully editable; finalizing assigns the number (`PREFIX-0001` from the
  customer's `invoice_prefix` and `next_invoice_sequence`), applies the customer's balance
  (`starting_balance`/`ending_balance`), sets `hosted_invoice_url` to the sandbox's page, and
  marks the invoice paid at once when nothing is due — or when what is due is below Stripe's
  minimum charge, which is then carried to the customer's balance (`invoice_too_small`).
- `auto_advance=true` drafts finalize on their own at `automatically_finalizes_at` (one hour
  after creation unless given), and an open invoice passing its `due_date` sends
  `invoice.overdue` and makes its customer `delinquent` — both on the sandbox clock.
- Paying is always successful here: without `paid_out_of_band` the sandbox acts as if the
  customer had a card on file. Stripe's own collection attempts are not simulated
  (`next_payment_attempt` is shown; nothing charges by itself). Voiding returns any applied
  balance to the customer.
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import Any

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.currencies import SUPPORTED
from billing_desk.sandbox.errors import StripeError, invalid, missing
from billing_desk.sandbox.resources import invoice_items as items
from billing_desk.sandbox.resources.customers import record_transaction
from billing_desk.sandbox.resources.totals import (
    apply_balance,
    refresh_draft,
    require_draft,
    set_totals,
)
from billing_desk.sandbox.search import search_response
from billing_desk.sandbox.state import Obj, apply_metadata, at, created_filter, list_object

AUTO_FINALIZE_DELAY = 3600
# Stripe's minimum charge per currency (minor units); smaller amounts due are carried over.
MINIMUM_CHARGE = {
    "usd": 50, "aud": 50, "brl": 50, "cad": 50, "chf": 50, "eur": 50, "inr": 50, "nzd": 50,
    "sgd": 50, "gbp": 30, "jpy": 50, "aed": 200, "bgn": 100, "czk": 1500, "dkk": 250,
    "hkd": 400, "huf": 17500, "mxn": 1000, "myr": 200, "nok": 300, "pln": 200, "ron": 200,
    "sek": 300, "thb": 1000,
}  # fmt: skip

# Fields a finalized (open or uncollectible) invoice still accepts; money is frozen.
_FINALIZED_EDITABLE = frozenset(
    {"auto_advance", "custom_fields", "description", "due_date", "footer", "metadata",
     "rendering", "statement_descriptor"}
)  # fmt: skip
_EDIT_FIELDS = frozenset(
    {"auto_advance", "automatically_finalizes_at", "collection_method", "custom_fields",
     "days_until_due", "description", "due_date", "effective_at", "footer", "metadata",
     "number", "rendering", "statement_descriptor", "automatic_tax"}
)  # fmt: skip
_CREATE_FIELDS = _EDIT_FIELDS | {"customer", "currency", "pending_invoice_items_behavior"}


def _invoice(call: Call) -> Obj:
    return call.account.require("invoice", call.path["invoice"])


def _customer(call: Call, customer_id: str) -> Obj:
    return call.account.require("customer", customer_id, param="customer", status=400)


# create / edit -----------------------------------------------------------------------------


def _apply_fields(call: Call, invoice: Obj, p: dict[str, Any]) -> None:
    """Set create/update params on `invoice` (replacing nested values, never editing them)."""
    for name in ("description", "footer", "statement_descriptor"):
        if name in p:
            invoice[name] = p[name] or None
    if "metadata" in p:
        invoice["metadata"] = apply_metadata(invoice["metadata"], p["metadata"])
    if "custom_fields" in p:
        fields = p["custom_fields"]
        invoice["custom_fields"] = [dict(f) for f in fields] if fields else None
    if "automatic_tax" in p and p["automatic_tax"].get("enabled"):
        raise invalid(
            "The Billing Desk sandbox does not compute tax: automatic_tax[enabled] must be false.",
            param="automatic_tax[enabled]",
        )
    if "rendering" in p:
        rendering = p["rendering"] or {}
        invoice["rendering"] = {
            "amount_tax_display": rendering.get("amount_tax_display") or None,
            "pdf": {"page_size": (rendering.get("pdf") or {}).get("page_size") or "auto"},
            "template": rendering.get("template") or None,
            "template_version": rendering.get("template_version") or None,
        }
    if "number" in p:
        invoice["number"] = p["number"] or None
    if "effective_at" in p:
        invoice["_effective_at"] = p["effective_at"] or None
    if "collection_method" in p:
        invoice["collection_method"] = p["collection_method"]
    if "days_until_due" in p:
        invoice["_days_until_due"] = p["days_until_due"] or None
    if "due_date" in p:
        invoice["due_date"] = p["due_date"] or None
    _check_collection(invoice)
    if "auto_advance" in p:
        invoice["auto_advance"] = p["auto_advance"]
    if "automatically_finalizes_at" in p:
        at = p["automatically_finalizes_at"]
        if at and at <= call.now:
            raise invalid(
                "Invalid automatically_finalizes_at: must be in the future.",
                param="automatically_finalizes_at",
            )
        invoice["_requested_finalize_at"] = at or None
        if at and "auto_advance" not in p:
            invoice["auto_advance"] = True
    if invoice["status"] == "draft":
        _schedule(call, invoice)


def _check_collection(invoice: Obj) -> None:
    has_due = invoice["due_date"] is not None or invoice.get("_days_until_due") is not None
    if invoice["collection_method"] == "charge_automatically" and has_due:
        raise invalid(
            "Invoices with collection_method=charge_automatically can't have a due date "
            "(due_date or days_until_due).",
            param="days_until_due" if invoice.get("_days_until_due") else "due_date",
        )
    if invoice["collection_method"] == "send_invoice" and not has_due:
        raise invalid(
            "Invoices with collection_method=send_invoice need days_until_due or due_date.",
            param="days_until_due",
        )


def _schedule(call: Call, invoice: Obj) -> None:
    """Keep `automatically_finalizes_at` and the account's finalization queue in step."""
    if invoice["status"] == "draft" and invoice["auto_advance"]:
        at = invoice.get("_requested_finalize_at") or invoice["created"] + AUTO_FINALIZE_DELAY
        if invoice.get("_finalize_at") != at:
            heapq.heappush(call.account.timers, (at, "finalize", invoice["id"]))
        invoice["_finalize_at"] = at
        invoice["automatically_finalizes_at"] = at
    else:
        invoice["_finalize_at"] = None
        invoice["automatically_finalizes_at"] = None


def run_scheduled(call: Call) -> None:
    """Do what Stripe does on its own once the clock passes a moment: finalize drafts at
    `automatically_finalizes_at`; at an open invoice's `due_date`, send `invoice.overdue` and
    mark the customer delinquent."""
    timers = call.account.timers
    while timers and timers[0][0] <= call.now:
        at, what, invoice_id = heapq.heappop(timers)
        invoice = call.account.get("invoice", invoice_id)
        if invoice is None:
            continue
        if what == "finalize":
            if invoice["status"] == "draft" and invoice["_finalize_at"] == at:
                finalize_invoice(call, invoice)
        elif invoice["status"] == "open" and invoice["due_date"] == at:
            invoice["_overdue"] = True
            call.emit("invoice.overdue", invoice)
            _set_delinquent(call, invoice, True)


def _set_delinquent(call: Call, invoice: Obj, delinquent: bool) -> None:
    """Stripe's `customer.delinquent`: set when an invoice passes its due date, cleared when
    one is paid or marked uncollectible."""
    customer = call.account.objects[invoice["customer"]]
    if customer.get("deleted") or customer["delinquent"] == delinquent:
        return
    before = call.before(customer)
    customer["delinquent"] = delinquent
    call.emit("customer.updated", customer, before)


def new_invoice(call: Call, customer: Obj, currency: str, *, invoice_id: str) -> Obj:
    now = call.now
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Billing Desk Sandbox",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "manual",
        "collection_method": "charge_automatically",
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer["address"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": customer["shipping"],
        "customer_tax_exempt": customer["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": customer["invoice_settings"]["footer"],
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": {
            "amount_tax_display": None,
            "pdf": {"page_size": "auto"},
            "template": None,
            "template_version": None,
        },
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
    }


def _currency(customer: Obj, requested: str | None) -> str:
    if requested is None:
        return str(customer["currency"] or "usd")
    currency = requested.lower()
    if currency not in SUPPORTED:
        raise invalid(f"Invalid currency: {requested}", param="currency")
    return currency


def _pending(call: Call, customer: Obj, currency: str) -> list[Obj]:
    """The customer's pending items in `currency`, newest first (Stripe's line order)."""
    account = call.account
    ids = account.ix.customer("invoiceitem", customer["id"]).ascending()
    found = [account.objects[i] for i in ids]
    return [i for i in reversed(found) if i["invoice"] is None and i["currency"] == currency]


def create(call: Call) -> Obj:
    call.supported(_CREATE_FIELDS)
    p = call.params
    if not p.get("customer"):
        raise missing("customer")
    customer = _customer(call, p["customer"])
    currency = _currency(customer, p.get("currency"))
    pending: list[Obj] = []
    if p.get("pending_invoice_items_behavior", "exclude") == "include":
        pending = _pending(call, customer, currency)
        if len(pending) > items.MAX_ITEMS_PER_INVOICE:
            raise invalid(
                f"An invoice can have at most {items.MAX_ITEMS_PER_INVOICE} invoice items; "
                f"this customer has {len(pending)} pending.",
                param="pending_invoice_items_behavior",
            )
    invoice = new_invoice(call, customer, currency, invoice_id=call.account.new_id("in"))
    _apply_fields(call, invoice, p)
    call.new(invoice)
    for item in pending:
        items.attach(call, item, invoice)
    refresh_draft(call.account, invoice)
    call.emit("invoice.created", invoice)
    return call.respond(invoice)


def retrieve(call: Call) -> Obj:
    call.supported(())
    return call.respond(_invoice(call))


def update(call: Call) -> Obj:
    call.supported(_EDIT_FIELDS)
    invoice = _invoice(call)
    p = call.params
    if invoice["status"] != "draft":
        allowed = {"metadata"} if invoice["status"] in ("paid", "void") else _FINALIZED_EDITABLE
        for name in p:
            if name not in allowed and name != "expand":
                raise StripeError(
                    400,
                    f"You can't update `{name}` on a {invoice['status']} invoice; "
                    "only drafts are fully editable.",
                    code="invoice_not_editable",
                    param=name,
                )
        if "due_date" in p and invoice["collection_method"] != "send_invoice":
            raise invalid("Only send_invoice invoices have a due date.", param="due_date")
        if p.get("auto_advance") and invoice["status"] != "open":
            raise invalid(
                f"auto_advance can't be turned on for a {invoice['status']} invoice.",
                param="auto_advance",
            )
    before = call.before(invoice)
    staged = dict(invoice)  # all or nothing: a refused field leaves the invoice untouched
    _apply_fields(call, staged, p)
    invoice.update(staged)
    call.emit("invoice.updated", invoice, before)
    return call.respond(invoice)


def delete(call: Call) -> Obj:
    call.supported(())
    invoice = _invoice(call)
    if invoice["status"] != "draft":
        raise invalid(
            f"You can only delete draft invoices; {invoice['id']} is {invoice['status']}. "
            "Void it instead.",
            param="invoice",
        )
    account = call.account
    for item_id in list(account.items_of(invoice["id"]).ascending()):
        items.remove_item(call, account.objects[item_id])
    call.emit("invoice.deleted", invoice)
    account.forget(invoice)
    del account.objects[invoice["id"]]
    return {"id": invoice["id"], "object": "invoice", "deleted": True}


def list_(call: Call) -> Obj:
    call.supported({"customer", "status", "created", "due_date", "collection_method"})
    p = call.params
    account = call.account
    customer = p.get("customer")
    ids = account.ix.customer("invoice", customer) if customer else account.ix.of("invoice")
    status = p.get("status")
    created = created_filter(p.get("created"))
    due = created_filter(p.get("due_date"))
    method = p.get("collection_method")

    def keep(obj: Obj) -> bool:
        return (
            (status is None or obj["status"] == status)
            and (method is None or obj["collection_method"] == method)
            and (created is None or created(obj))
            and (due is None or (obj["due_date"] is not None and due({"created": obj["due_date"]})))
        )

    objects, has_more = account.page(ids, p, kind="invoice", keep=keep)
    return call.respond_list("/v1/invoices", objects, has_more)


def search(call: Call) -> Obj:
    call.supported({"query", "page"})
    return search_response(call, "invoice", "/v1/invoices/search")


# the status machine -----------------------------------------------------------------------


def finalize(call: Call) -> Obj:
    call.supported({"auto_advance"})
    invoice = _invoice(call)
    if invoice["status"] != "draft":
        raise invalid(
            f"This invoice is already finalized ({invoice['status']}); you can't re-finalize "
            "a non-draft invoice.",
            param="invoice",
        )
    if "auto_advance" in call.params:
        invoice["auto_advance"] = call.params["auto_advance"]
    finalize_invoice(call, invoice)
    return call.respond(invoice)


def finalize_invoice(call: Call, invoice: Obj) -> None:
    account = call.account
    now = call.now
    customer = account.objects[invoice["customer"]]
    if customer.get("deleted"):
        raise invalid("The invoice's customer has been deleted.", param="customer")
    refresh_draft(account, invoice)
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        invoice["due_date"] = now + 86400 * invoice["_days_until_due"]
    if invoice["number"] is None:
        invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
    invoice["customer_address"] = customer["address"]
    invoice["customer_email"] = customer["email"]
    invoice["customer_name"] = customer["name"]
    invoice["customer_phone"] = customer["phone"]
    invoice["customer_shipping"] = customer["shipping"]
    invoice["status"] = "open"
    invoice["status_transitions"] = {**invoice["status_transitions"], "finalized_at": now}
    invoice["effective_at"] = invoice.get("_effective_at") or now
    invoice["hosted_invoice_url"] = f"{call.base_url}/_sandbox/hosted/{account.id}/{invoice['id']}"
    _schedule(call, invoice)
    balance = customer["balance"]
    before_customer = call.before(customer)
    remaining_balance = apply_balance(invoice, balance)
    if remaining_balance != balance:
        record_transaction(
            call,
            customer,
            remaining_balance - balance,
            "applied_to_invoice",
            currency=invoice["currency"],
            invoice=invoice["id"],
            emit=False,
        )
    if customer["currency"] is None:
        customer["currency"] = invoice["currency"]
    due = invoice["amount_due"]
    minimum = MINIMUM_CHARGE.get(invoice["currency"], 0)
    if 0 < due < minimum:
        # Too small to charge: Stripe marks it paid and carries the amount to the balance.
        record_transaction(
            call,
            customer,
            due,
            "invoice_too_small",
            currency=invoice["currency"],
            invoice=invoice["id"],
            emit=False,
        )
        invoice["amount_remaining"] = 0
    if invoice["auto_advance"] and invoice["collection_method"] == "charge_automatically":
        invoice["next_payment_attempt"] = now + AUTO_FINALIZE_DELAY if due else None
    if invoice["due_date"]:
        heapq.heappush(account.timers, (invoice["due_date"], "overdue", invoice["id"]))
    call.emit("invoice.finalized", invoice)
    if customer["balance"] != balance or before_customer["currency"] != customer["currency"]:
        call.emit("customer.updated", customer, before_customer)
    if invoice["amount_remaining"] == 0:
        mark_paid(call, invoice)


def mark_paid(call: Call, invoice: Obj) -> None:
    invoice["status"] = "paid"
    invoice["auto_advance"] = False
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"] = {**invoice["status_transitions"], "paid_at": call.now}
    call.emit("invoice.paid", invoice)
    _set_delinquent(call, invoice, False)


def void(call: Call) -> Obj:
    call.supported(())
    invoice = _invoice(call)
    status = invoice["status"]
    if status not in ("open", "uncollectible"):
        hint = " Delete the draft instead." if status == "draft" else ""
        raise invalid(
            f"You can only void open or uncollectible invoices; {invoice['id']} is {status}."
            + hint,
            param="invoice",
        )
    returned = invoice["starting_balance"] - (invoice["ending_balance"] or 0)
    if returned:
        # The balance the invoice consumed goes back to the customer.
        customer = call.account.objects[invoice["customer"]]
        record_transaction(
            call,
            customer,
            returned,
            "unapplied_from_invoice",
            currency=invoice["currency"],
            invoice=invoice["id"],
        )
    invoice["status"] = "void"
    invoice["auto_advance"] = False
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"] = {**invoice["status_transitions"], "voided_at": call.now}
    call.emit("invoice.voided", invoice)
    return call.respond(invoice)


def mark_uncollectible(call: Call) -> Obj:
    call.supported(())
    invoice = _invoice(call)
    if invoice["status"] != "open":
        raise invalid(
            f"You can only mark open invoices uncollectible; {invoice['id']} is "
            f"{invoice['status']}.",
            param="invoice",
        )
    invoice["status"] = "uncollectible"
    invoice["auto_advance"] = False
    invoice["next_payment_attempt"] = None
    transitions = invoice["status_transitions"]
    invoice["status_transitions"] = {**transitions, "marked_uncollectible_at": call.now}
    call.emit("invoice.marked_uncollectible", invoice)
    _set_delinquent(call, invoice, False)
    return call.respond(invoice)


def pay(call: Call) -> Obj:
    call.supported({"paid_out_of_band", "forgive", "off_session"})
    invoice = _invoice(call)
    status = invoice["status"]
    if status == "paid":
        raise invalid("Invoice is already paid.", param="invoice")
    if status not in ("open", "uncollectible"):
        hint = " Finalize it first." if status == "draft" else ""
        raise invalid(
            f"You can only pay open or uncollectible invoices; {invoice['id']} is {status}." + hint,
            param="invoice",
        )
    out_of_band = bool(call.params.get("paid_out_of_band"))
    invoice["amount_paid"] += invoice["amount_remaining"]
    invoice["amount_remaining"] = 0
    if not out_of_band:
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
    invoice["_paid_out_of_band"] = out_of_band
    mark_paid(call, invoice)
    return call.respond(invoice)


# lines --------------------------------------------------------------------------------------


def _line_item(call: Call, invoice: Obj, line_id: str, param: str) -> Obj:
    item_id = call.account.ix.line_to_item.get(line_id)
    item = call.account.objects.get(item_id) if item_id else None
    if item is None or item["invoice"] != invoice["id"]:
        raise items.not_found_line(line_id, param)
    return item


def list_lines(call: Call) -> Obj:
    call.supported(())
    invoice = _invoice(call)
    account = call.account
    ids = account.items_of(invoice["id"])
    p = dict(call.params)
    for name in ("starting_after", "ending_before"):
        if p.get(name):
            item_id = account.ix.line_to_item.get(p[name])
            if item_id is None or item_id not in ids:
                raise items.not_found_line(p[name], name)
            p[name] = item_id
    page, has_more = account.page(ids, p, kind="line_item", newest_first=False)
    data = [account.line_of_item(item, invoice["id"]) for item in page]
    rendered = list_object(f"/v1/invoices/{invoice['id']}/lines", data, has_more)
    if call.params.get("expand"):
        account.expand(rendered, call.params["expand"])
    return rendered


_LINE_FIELDS = items.ITEM_FIELDS | {"price_data"}


def _line_fields(line: dict[str, Any], invoice: Obj, prefix: str) -> dict[str, Any]:
    """Line params as item fields: `price_data` becomes a decimal unit amount."""
    for name in line:
        if name not in _LINE_FIELDS | {"id", "invoice_item"}:
            raise invalid(
                f"The Billing Desk sandbox does not support {at(prefix, name)} on invoice lines.",
                param=at(prefix, name),
            )
    fields = {k: v for k, v in line.items() if k not in ("id", "invoice_item", "price_data")}
    price = line.get("price_data")
    if price is not None:
        if price["currency"].lower() != invoice["currency"]:
            raise invalid(
                f"{at(prefix, 'price_data', 'currency')} must be the invoice's currency "
                f"({invoice['currency']}).",
                param=at(prefix, "price_data", "currency"),
            )
        if "product_data" not in price:
            raise invalid(
                "The Billing Desk sandbox has no products: use "
                f"{at(prefix, 'price_data', 'product_data')} instead of a product id.",
                param=at(prefix, "price_data", "product"),
            )
        if "unit_amount" in price:
            fields["unit_amount_decimal"] = Decimal(price["unit_amount"])
        elif "unit_amount_decimal" in price:
            fields["unit_amount_decimal"] = price["unit_amount_decimal"]
        else:
            raise missing(at(prefix, "price_data", "unit_amount"))
        if "amount" in fields:
            raise StripeError(
                400,
                "You may only specify one of these parameters: amount, price_data.",
                code="parameters_exclusive",
                param=at(prefix, "amount"),
            )
        if "description" not in fields:
            fields["description"] = price["product_data"].get("name")
    return fields


def add_lines(call: Call) -> Obj:
    call.supported({"lines", "invoice_metadata"})
    invoice = _invoice(call)
    require_draft(invoice, "add lines to")
    account = call.account
    lines = call.params["lines"]
    items.check_room(call, invoice, len(lines))
    customer = account.objects[invoice["customer"]]
    before = call.before(invoice)
    plan: list[tuple[Obj, Obj, bool]] = []
    seen: set[str] = set()
    for n, line in enumerate(lines):
        prefix = f"lines[{n}]"
        if line.get("invoice_item"):
            item = account.require(
                "invoiceitem", line["invoice_item"], param=at(prefix, "invoice_item"), status=400
            )
            if item["id"] in seen:
                raise invalid(f"{item['id']} is listed twice.", param=at(prefix, "invoice_item"))
            seen.add(item["id"])
            if item["invoice"] is not None or item["customer"] != invoice["customer"]:
                raise invalid(
                    f"The invoice item {item['id']} is not a pending item of this customer.",
                    param=at(prefix, "invoice_item"),
                )
            if item["currency"] != invoice["currency"]:
                raise invalid(
                    f"The invoice item {item['id']} is in {item['currency']}, the invoice in "
                    f"{invoice['currency']}.",
                    param=at(prefix, "invoice_item"),
                )
            fields = _line_fields(line, invoice, prefix)
            plan.append((item, items.item_changes(item, fields, call.now, prefix), False))
        else:
            fields = _line_fields(line, invoice, prefix)
            new = items.build_item(call, customer, invoice["currency"], fields, prefix)
            plan.append((new, {}, True))
    if "invoice_metadata" in call.params:
        invoice["metadata"] = apply_metadata(
            invoice["metadata"], call.params["invoice_metadata"], "invoice_metadata"
        )
    for item, changes, is_new in plan:
        item.update(changes)
        if is_new:
            call.new(item)
        items.attach(call, item, invoice)
        if is_new:
            call.emit("invoiceitem.created", item)
    refresh_draft(account, invoice)
    call.emit("invoice.updated", invoice, before)
    return call.respond(invoice)


def update_lines(call: Call) -> Obj:
    call.supported({"lines", "invoice_metadata"})
    invoice = _invoice(call)
    require_draft(invoice, "update lines on")
    before = call.before(invoice)
    targets = []
    for n, line in enumerate(call.params["lines"]):
        prefix = f"lines[{n}]"
        item = _line_item(call, invoice, line["id"], at(prefix, "id"))
        fields = _line_fields(line, invoice, prefix)
        targets.append((item, items.item_changes(item, fields, call.now, prefix)))
    for item, changes in targets:
        item.update(changes)
    if "invoice_metadata" in call.params:
        invoice["metadata"] = apply_metadata(
            invoice["metadata"], call.params["invoice_metadata"], "invoice_metadata"
        )
    refresh_draft(call.account, invoice)
    call.emit("invoice.updated", invoice, before)
    return call.respond(invoice)


def update_line(call: Call) -> Obj:
    """POST /v1/invoices/{invoice}/lines/{line_item_id}: one line, returned alone."""
    invoice = _invoice(call)
    require_draft(invoice, "update lines on")
    item = _line_item(call, invoice, call.path["line_item_id"], "line_item_id")
    call.supported(_LINE_FIELDS)
    fields = _line_fields({k: v for k, v in call.params.items() if k != "expand"}, invoice, "")
    before = call.before(invoice)
    item.update(items.item_changes(item, fields, call.now))
    refresh_draft(call.account, invoice)
    call.emit("invoice.updated", invoice, before)
    rendered = call.account.line_of_item(item, invoice["id"])
    if call.params.get("expand"):
        call.account.expand(rendered, call.params["expand"])
    return rendered


def remove_lines(call: Call) -> Obj:
    call.supported({"lines", "invoice_metadata"})
    invoice = _invoice(call)
    require_draft(invoice, "remove lines from")
    before = call.before(invoice)
    targets = []
    for n, line in enumerate(call.params["lines"]):
        item = _line_item(call, invoice, line["id"], f"lines[{n}][id]")
        targets.append((item, line["behavior"]))
    for item, behavior in targets:
        if behavior == "delete":
            items.remove_item(call, item)
        else:
            items.detach(call, item)
    if "invoice_metadata" in call.params:
        invoice["metadata"] = apply_metadata(
            invoice["metadata"], call.params["invoice_metadata"], "invoice_metadata"
        )
    refresh_draft(call.account, invoice)
    call.emit("invoice.updated", invoice, before)
    return call.respond(invoice)


def create_preview(call: Call) -> Obj:
    """The invoice the customer's pending items (plus `invoice_items`) would make; not stored."""
    call.supported({"customer", "currency", "invoice_items", "preview_mode"})
    p = call.params
    if not p.get("customer"):
        raise missing("customer")
    customer = _customer(call, p["customer"])
    currency = _currency(customer, p.get("currency"))
    account = call.account
    invoice = new_invoice(call, customer, currency, invoice_id="upcoming_" + account.new_id("in"))
    lines: list[Obj] = []
    pending = {i["id"]: i for i in _pending(call, customer, currency)}
    for n, extra in enumerate(p.get("invoice_items", [])):
        prefix = f"invoice_items[{n}]"
        fields = {k: v for k, v in extra.items() if k not in ("invoiceitem", "currency")}
        unknown = set(fields) - items.ITEM_FIELDS
        if unknown:
            name = at(prefix, min(unknown))
            raise invalid(
                f"The Billing Desk sandbox does not support {name} in previews.", param=name
            )
        if extra.get("invoiceitem"):
            base = pending.get(extra["invoiceitem"])
            if base is None:
                raise items.not_found_line(extra["invoiceitem"], at(prefix, "invoiceitem"))
            pending[base["id"]] = {**base, **items.item_changes(base, fields, call.now, prefix)}
        else:
            item_currency = (extra.get("currency") or currency).lower()
            if item_currency != currency:
                raise invalid(
                    f"{at(prefix, 'currency')} must be the preview's currency ({currency}).",
                    param=at(prefix, "currency"),
                )
            item = items.build_item(call, customer, currency, fields, prefix)
            lines.append(account.line_of_item(item, invoice["id"]))
    lines = [account.line_of_item(i, invoice["id"]) for i in pending.values()] + lines
    set_totals(invoice, sum(line["amount"] for line in lines))
    apply_balance(invoice, customer["balance"])
    invoice["_preview_lines"] = lines
    return call.respond(invoice)
