"""Invoice amounts as Stripe computes them, and the draft-only guard every edit goes through."""

from __future__ import annotations

from billing_desk.sandbox.call import Call
from billing_desk.sandbox.errors import StripeError
from billing_desk.sandbox.state import Account, Obj


def require_draft(invoice: Obj, action: str) -> None:
    """Stripe's refusal to edit a finalized invoice (`invoice_not_editable`)."""
    if invoice["status"] != "draft":
        raise StripeError(
            400,
            f"You can only {action} a draft invoice; {invoice['id']} is {invoice['status']}. "
            "Use a credit note to adjust a finalized invoice.",
            code="invoice_not_editable",
            param="invoice",
        )


def set_totals(invoice: Obj, subtotal: int) -> None:
    """A draft's amounts: no tax or discounts, and no balance applied before finalization."""
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=max(0, subtotal),
        amount_paid=0,
        amount_remaining=max(0, subtotal),
        starting_balance=0,
        ending_balance=None,
    )


def refresh_draft(account: Account, invoice: Obj) -> None:
    objects = account.objects
    subtotal = sum(objects[i]["amount"] for i in account.items_of(invoice["id"]).ascending())
    set_totals(invoice, subtotal)


def apply_balance(invoice: Obj, balance: int) -> int:
    """Apply the customer's balance at finalization; returns the balance left afterwards.

    A negative balance is credit: it reduces what is due, and whatever is not used stays on
    the customer. A positive balance is owed and is added to the amount due.
    """
    net = invoice["total"] + balance
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(0, net)
    invoice["ending_balance"] = min(0, net)
    invoice["amount_remaining"] = invoice["amount_due"]
    return int(invoice["ending_balance"])


def adopt_currency(call: Call, customer: Obj, currency: str) -> None:
    """A customer's currency is fixed by its first item or balance, as in Stripe."""
    if customer["currency"] is None:
        before = call.before(customer)
        customer["currency"] = currency
        call.emit("customer.updated", customer, before)
