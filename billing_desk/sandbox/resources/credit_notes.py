"""Credit notes on finalized invoices: create, preview, retrieve, update, list, void, lines.

As Stripe documents it, a credit note first reduces the invoice's `amount_remaining` (and
`amount_due`), not below zero: that part is its `pre_payment_amount`. The rest is its
`post_payment_amount`, which must be split exactly among `refund_amount` (only when the
invoice was paid by a charge), `credit_amount` (to the customer's balance) and
`out_of_band_amount`. An open invoice whose remainder is fully credited becomes paid.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.errors import invalid, missing
from billing_desk.sandbox.resources.customers import record_transaction
from billing_desk.sandbox.resources.invoice_items import dec_str
from billing_desk.sandbox.resources.invoices import mark_paid
from billing_desk.sandbox.state import Obj, apply_metadata, created_filter

_FIELDS = frozenset(
    {"invoice", "amount", "credit_amount", "refund_amount", "out_of_band_amount", "lines",
     "memo", "metadata", "reason", "effective_at", "email_type"}
)  # fmt: skip
_LINE_FIELDS = frozenset(
    {"type", "amount", "description", "invoice_line_item", "quantity", "unit_amount",
     "unit_amount_decimal", "metadata"}
)  # fmt: skip


def _credited(invoice: Obj) -> int:
    return int(
        invoice["pre_payment_credit_notes_amount"] + invoice["post_payment_credit_notes_amount"]
    )


def _build(call: Call, *, preview: bool) -> tuple[Obj, Obj, dict[str, int]]:
    """The credit note the params describe, its invoice, and what it credits per line."""
    call.supported(_FIELDS)
    p = call.params
    account = call.account
    if not p.get("invoice"):
        raise missing("invoice")
    invoice = account.require("invoice", p["invoice"], param="invoice", status=400)
    if invoice["status"] in ("draft", "void"):
        raise invalid(
            f"Credit notes can only be issued for finalized invoices that are not void; "
            f"{invoice['id']} is {invoice['status']}.",
            param="invoice",
        )
    cn_id = account.new_id("cn")
    lines, per_line = _lines(call, invoice, cn_id, p.get("lines") or [])
    lines_total = sum(line["amount"] for line in lines)
    if "amount" in p and lines and p["amount"] != lines_total:
        raise invalid(
            f"The amount ({p['amount']}) must equal the sum of the lines ({lines_total}).",
            param="amount",
        )
    if "amount" not in p and not lines:
        raise missing("amount")
    total = p.get("amount", lines_total)
    if total <= 0:
        raise invalid("A credit note's amount must be greater than zero.", param="amount")
    creditable = invoice["total"] - _credited(invoice)
    if total > creditable:
        raise invalid(
            f"The credit note's amount ({total}) can't exceed what is left to credit on "
            f"{invoice['id']} ({creditable}).",
            param="amount",
        )
    pre = min(total, invoice["amount_remaining"]) if invoice["status"] != "paid" else 0
    post = total - pre
    refund = p.get("refund_amount", 0)
    credit = p.get("credit_amount", 0)
    out_of_band = p.get("out_of_band_amount", 0)
    for name, value in (("refund_amount", refund), ("credit_amount", credit),
                        ("out_of_band_amount", out_of_band)):  # fmt: skip
        if value < 0:
            raise invalid(f"Invalid {name}: must not be negative", param=name)
    if refund + credit + out_of_band != post:
        raise invalid(
            f"The sum of credit_amount, refund_amount and out_of_band_amount "
            f"({refund + credit + out_of_band}) must equal the credit note's post-payment "
            f"amount ({post}): {pre} of its {total} reduces what the invoice still owes.",
            param="credit_amount" if post else "refund_amount",
        )
    if refund:
        refundable = invoice["amount_paid"] - _refunded(invoice)
        if invoice.get("_paid_out_of_band") or refund > refundable:
            raise invalid(
                f"Only {0 if invoice.get('_paid_out_of_band') else refundable} of "
                f"{invoice['id']} was paid by a charge that can be refunded.",
                param="refund_amount",
            )
    kind = "pre_payment" if post == 0 else "post_payment" if pre == 0 else "mixed"
    count = invoice.get("_credit_note_count", 0) + 1
    url = f"{call.base_url}/_sandbox/hosted/{account.id}/{cn_id}"
    note: Obj = {
        "id": cn_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": call.now,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_account": None,
        "customer_balance_transaction": None,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": p.get("effective_at") or call.now,
        "invoice": invoice["id"],
        "livemode": False,
        "memo": p.get("memo") or None,
        "metadata": apply_metadata({}, p.get("metadata", {})),
        "number": f"{invoice['number']}-CN-{count:02d}",
        "out_of_band_amount": out_of_band or None,
        "pdf": url,
        "post_payment_amount": post,
        "pre_payment_amount": pre,
        "pretax_credit_amounts": [],
        "reason": p.get("reason") or None,
        "refunds": [],
        "shipping_cost": None,
        "status": "issued",
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_excluding_tax": total,
        "total_taxes": [],
        "type": kind,
        "voided_at": None,
        "_lines": lines,
        "_credit": credit,
    }
    if refund:
        note["refunds"] = [
            {
                "amount_refunded": refund,
                "payment_record_refund": None,
                "refund": account.new_id("re"),
                "type": "refund",
            }
        ]
    if not preview:
        invoice["_credit_note_count"] = count
    return note, invoice, per_line


def _refunded(invoice: Obj) -> int:
    return int(invoice.get("_refunded", 0))


def _lines(
    call: Call, invoice: Obj, cn_id: str, given: list[dict[str, Any]]
) -> tuple[list[Obj], dict[str, int]]:
    account = call.account
    lines: list[Obj] = []
    per_line: dict[str, int] = {}
    credited = invoice.get("_line_credited", {})
    for n, line in enumerate(given):
        prefix = f"lines[{n}]"
        unknown = set(line) - _LINE_FIELDS
        if unknown:
            name = min(unknown)
            raise invalid(
                f"The Billing Desk sandbox does not support {prefix}[{name}].",
                param=f"{prefix}[{name}]",
            )
        quantity = line.get("quantity", 1)
        base: Obj = {
            "id": account.new_id("cnli"),
            "object": "credit_note_line_item",
            "description": line.get("description") or None,
            "discount_amount": 0,
            "discount_amounts": [],
            "invoice_line_item": None,
            "livemode": False,
            "metadata": line.get("metadata") or {},
            "pretax_credit_amounts": [],
            "quantity": quantity,
            "tax_rates": [],
            "taxes": [],
            "type": line["type"],
            "unit_amount": None,
            "unit_amount_decimal": None,
        }
        if line["type"] == "invoice_line_item":
            line_id = line.get("invoice_line_item")
            if not line_id:
                raise missing(f"{prefix}[invoice_line_item]")
            item_id = account.ix.line_to_item.get(line_id)
            item = account.objects.get(item_id) if item_id else None
            if item is None or item["invoice"] != invoice["id"]:
                raise invalid(
                    f"No such invoice line item: '{line_id}' on {invoice['id']}",
                    param=f"{prefix}[invoice_line_item]",
                    code="resource_missing",
                )
            if "amount" in line:
                amount = line["amount"]
            else:
                unit = Decimal(item["pricing"]["unit_amount_decimal"])
                amount = int((unit * quantity).to_integral_value(ROUND_HALF_UP))
            left = item["amount"] - credited.get(line_id, 0) - per_line.get(line_id, 0)
            if not 0 < amount <= left:
                raise invalid(
                    f"The credit for line {line_id} ({amount}) must be more than zero and at "
                    f"most what is left to credit on it ({left}).",
                    param=f"{prefix}[amount]",
                )
            per_line[line_id] = per_line.get(line_id, 0) + amount
            base.update(
                amount=amount,
                description=base["description"] or item["description"],
                invoice_line_item=line_id,
            )
        else:
            if "unit_amount_decimal" in line:
                unit = line["unit_amount_decimal"]
            elif "unit_amount" in line:
                unit = Decimal(line["unit_amount"])
            else:
                raise missing(f"{prefix}[unit_amount]")
            amount = int((unit * quantity).to_integral_value(ROUND_HALF_UP))
            base.update(
                amount=amount,
                unit_amount=int(unit.to_integral_value(ROUND_HALF_UP)),
                unit_amount_decimal=dec_str(unit),
            )
        lines.append(base)
    return lines, per_line


def create(call: Call) -> Obj:
    note, invoice, per_line = _build(call, preview=False)
    account = call.account
    before_invoice = call.before(invoice)
    pre, post = note["pre_payment_amount"], note["post_payment_amount"]
    invoice["pre_payment_credit_notes_amount"] += pre
    invoice["post_payment_credit_notes_amount"] += post
    invoice["amount_due"] -= pre
    invoice["amount_remaining"] -= pre
    for refund in note["refunds"]:
        invoice["_refunded"] = _refunded(invoice) + refund["amount_refunded"]
    credited = invoice.setdefault("_line_credited", {})
    for line_id, amount in per_line.items():
        credited[line_id] = credited.get(line_id, 0) + amount
    call.new(note)
    if note["_credit"]:
        customer = account.objects[invoice["customer"]]
        txn = record_transaction(
            call,
            customer,
            -note["_credit"],
            "credit_note",
            currency=note["currency"],
            credit_note=note["id"],
            invoice=invoice["id"],
        )
        note["customer_balance_transaction"] = txn["id"]
    call.emit("credit_note.created", note)
    call.emit("invoice.updated", invoice, before_invoice)
    if pre and invoice["amount_remaining"] == 0 and invoice["status"] in ("open", "uncollectible"):
        invoice["_paid_by_credit_note"] = True
        mark_paid(call, invoice)
    return call.respond(note)


def preview(call: Call) -> Obj:
    note, _invoice, _ = _build(call, preview=True)
    return call.respond(note)


def preview_lines(call: Call) -> Obj:
    note, _invoice, _ = _build(call, preview=True)
    return _lines_page(call, note, "/v1/credit_notes/preview/lines")


def _note(call: Call) -> Obj:
    return call.account.require("credit_note", call.path["credit_note"])


def retrieve(call: Call) -> Obj:
    call.supported(())
    return call.respond(_note(call))


def update(call: Call) -> Obj:
    call.supported({"memo", "metadata"})
    note = _note(call)
    before = call.before(note)
    if "metadata" in call.params:  # the one check that can fail comes first
        note["metadata"] = apply_metadata(note["metadata"], call.params["metadata"])
    if "memo" in call.params:
        note["memo"] = call.params["memo"] or None
    call.emit("credit_note.updated", note, before)
    return call.respond(note)


def void(call: Call) -> Obj:
    call.supported(())
    note = _note(call)
    if note["status"] == "void":
        raise invalid(f"The credit note {note['id']} is already void.", param="credit_note")
    if note["refunds"]:
        raise invalid("Credit notes with refunds can't be voided.", param="credit_note")
    account = call.account
    invoice = account.objects[note["invoice"]]
    pre, post = note["pre_payment_amount"], note["post_payment_amount"]
    if pre and invoice.get("_paid_by_credit_note"):
        raise invalid(
            f"The credit note {note['id']} can't be voided: its invoice {invoice['id']} is "
            "paid through credit notes.",
            param="credit_note",
        )
    before_invoice = call.before(invoice)
    invoice["pre_payment_credit_notes_amount"] -= pre
    invoice["post_payment_credit_notes_amount"] -= post
    invoice["amount_due"] += pre
    invoice["amount_remaining"] += pre
    credited = invoice.get("_line_credited", {})
    for line in note["_lines"]:
        if line.get("invoice_line_item"):
            credited[line["invoice_line_item"]] -= line["amount"]
    if note["_credit"]:
        # The balance credit is taken back from the customer.
        record_transaction(
            call,
            account.objects[invoice["customer"]],
            note["_credit"],
            "credit_note",
            currency=note["currency"],
            credit_note=note["id"],
            invoice=invoice["id"],
        )
    note["status"] = "void"
    note["voided_at"] = call.now
    call.emit("credit_note.voided", note)
    call.emit("invoice.updated", invoice, before_invoice)
    return call.respond(note)


def list_(call: Call) -> Obj:
    call.supported({"customer", "invoice", "created"})
    p = call.params
    account = call.account
    if p.get("invoice"):
        ids = account.credit_notes_of(p["invoice"])
    elif p.get("customer"):
        ids = account.ix.customer("credit_note", p["customer"])
    else:
        ids = account.ix.of("credit_note")
    customer = p.get("customer")
    created = created_filter(p.get("created"))

    def keep(obj: Obj) -> bool:
        return (customer is None or obj["customer"] == customer) and (
            created is None or created(obj)
        )

    objects, has_more = account.page(ids, p, kind="credit_note", keep=keep)
    return call.respond_list("/v1/credit_notes", objects, has_more)


def list_lines(call: Call) -> Obj:
    call.supported(())
    note = _note(call)
    return _lines_page(call, note, f"/v1/credit_notes/{note['id']}/lines")


def _lines_page(call: Call, note: Obj, url: str) -> Obj:
    lines: list[Obj] = note["_lines"]
    p = call.params
    limit = p.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100", param="limit")
    ids = [line["id"] for line in lines]
    start, stop = 0, len(lines)
    for name in ("starting_after", "ending_before"):
        cursor = p.get(name)
        if cursor:
            if cursor not in ids:
                raise invalid(
                    f"No such credit note line item: '{cursor}'",
                    param=name,
                    code="resource_missing",
                )
            if name == "starting_after":
                start = ids.index(cursor) + 1
            else:
                stop = ids.index(cursor)
    if p.get("ending_before"):
        page = lines[max(start, stop - limit) : stop]
        has_more = stop - limit > start
    else:
        page = lines[start : start + limit]
        has_more = start + limit < stop
    return {"object": "list", "data": page, "has_more": has_more, "url": url}
