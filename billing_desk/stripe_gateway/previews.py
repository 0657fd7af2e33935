"""What Stripe would compute, without changing anything: credit-note and invoice previews.

`StripePreviews(gateway)` sends through the gateway's `_call` (rate limiter, retries, error
classification, call statistics). Results are the small dataclasses below, money in minor units.

- `credit_note(...)`: `POST /v1/credit_notes/preview` with the parameters `create_credit_note`
  sends, plus the invoice as it is now, so the caller sees what the invoice still owes after it.
- `invoice(...)`: `POST /v1/invoices/create_preview`: the invoice the customer's pending items
  (with the given changes) would make. Stripe previews pending items only: a draft's own items
  are not in it, so a draft is read with `draft(...)` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from billing_desk.domain.errors import InvalidInput
from billing_desk.stripe_gateway.client import StripeGateway
from billing_desk.stripe_gateway.types import StripeInvoice


@dataclass(frozen=True)
class CreditNotePreview:
    invoice: str
    currency: str
    total: int
    # What reduces the invoice's amount_remaining (before payment), and what goes elsewhere.
    pre_payment_amount: int
    post_payment_amount: int
    # The post-payment split: the customer's balance, refunds, and outside Stripe.
    customer_balance_amount: int
    refund_amount: int
    out_of_band_amount: int
    # The invoice's total less every credit note already on it, and what it still owes.
    creditable_before: int
    amount_remaining_before: int

    @property
    def amount_remaining_after(self) -> int:
        return self.amount_remaining_before - self.pre_payment_amount

    @property
    def creditable_after(self) -> int:
        return self.creditable_before - self.total


@dataclass(frozen=True)
class ItemChange:
    """One line of an invoice preview: an existing pending item at a new amount (`invoice_item`),
    or a new item."""

    amount: int
    invoice_item: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class InvoicePreview:
    customer: str
    currency: str
    subtotal: int
    total: int
    # After the customer's balance, as Stripe would apply it at finalization.
    amount_due: int
    line_count: int


class StripePreviews:
    def __init__(self, gateway: StripeGateway) -> None:
        self._gateway = gateway
        self._v1 = gateway._v1

    async def credit_note(
        self,
        invoice_id: str,
        amount: int,
        credit_to: Literal["pre_payment", "customer_balance"],
        currency: str | None = None,
    ) -> CreditNotePreview:
        """A credit note of `amount` on the finalized `invoice_id`, as `create_credit_note`
        would issue it: reducing what is due (`pre_payment`) or, on a paid invoice, credited to
        the customer's balance (`customer_balance`)."""
        invoice = _plain(
            await self._gateway._call(
                "GET /v1/invoices/{id}",
                lambda: self._v1.invoices.retrieve_async(invoice_id),
                invoice_id,
            )
        )
        if currency is not None and currency.lower() != invoice["currency"]:
            raise InvalidInput(
                f"invoice {invoice_id} is in {invoice['currency']}, not {currency.lower()}"
            )
        params: dict[str, Any] = {
            "invoice": invoice_id,
            "lines": [
                {
                    "type": "custom_line_item",
                    "description": "Credit",
                    "quantity": 1,
                    "unit_amount": amount,
                }
            ],
        }
        if credit_to == "customer_balance":
            params["credit_amount"] = amount
        note = _plain(
            await self._gateway._call(
                "GET /v1/credit_notes/preview",
                lambda: self._v1.credit_notes.preview_async(params),  # type: ignore[arg-type]
                f"credit note preview on {invoice_id}",
            )
        )
        post = int(note.get("post_payment_amount") or 0)
        refunded = sum(int(r.get("amount_refunded") or 0) for r in note.get("refunds") or [])
        out_of_band = int(note.get("out_of_band_amount") or 0)
        credited = int(invoice.get("pre_payment_credit_notes_amount") or 0) + int(
            invoice.get("post_payment_credit_notes_amount") or 0
        )
        return CreditNotePreview(
            invoice=invoice_id,
            currency=str(note["currency"]),
            total=int(note["total"]),
            pre_payment_amount=int(note.get("pre_payment_amount") or 0),
            post_payment_amount=post,
            customer_balance_amount=post - refunded - out_of_band,
            refund_amount=refunded,
            out_of_band_amount=out_of_band,
            creditable_before=int(invoice["total"]) - credited,
            amount_remaining_before=int(invoice.get("amount_remaining") or 0),
        )

    async def invoice(
        self, customer: str, currency: str, changes: Sequence[ItemChange] = ()
    ) -> InvoicePreview:
        """The invoice `customer`'s pending items in `currency`, changed by `changes`, would
        make if it were created now."""
        items: list[dict[str, Any]] = []
        for change in changes:
            item: dict[str, Any] = {"amount": change.amount}
            if change.invoice_item is not None:
                item["invoiceitem"] = change.invoice_item
            else:
                item["currency"] = currency
                if change.description is not None:
                    item["description"] = change.description
            items.append(item)
        params: dict[str, Any] = {"customer": customer, "currency": currency}
        if items:
            params["invoice_items"] = items
        obj = _plain(
            await self._gateway._call(
                "POST /v1/invoices/create_preview",
                lambda: self._v1.invoices.create_preview_async(params),  # type: ignore[arg-type]
                f"invoice preview for {customer}",
            )
        )
        lines = obj.get("lines") or {}
        return InvoicePreview(
            customer=customer,
            currency=str(obj["currency"]),
            subtotal=int(obj.get("subtotal") or 0),
            total=int(obj.get("total") or 0),
            amount_due=int(obj.get("amount_due") or 0),
            line_count=len(lines.get("data") or []),
        )

    async def draft(self, invoice_id: str) -> StripeInvoice:
        """The draft with every line, to compute a change against what Stripe holds."""
        return await self._gateway.retrieve_invoice(invoice_id, with_lines=True)


def _plain(obj: Any) -> Any:
    """A StripeObject as plain dicts and lists (StripeObjects are not dicts)."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj
