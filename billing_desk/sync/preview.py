"""Stripe's side of a correction preview, next to the local one, so a mismatch shows before
anyone proposes.

- After finalization, a `credit` is previewed as the credit note the sync engine would issue
  (`credit_notes.preview`): pre-payment on an open invoice, to the customer's balance on a paid one.
- Before close (no invoice yet), the line change goes to `invoices.create_preview` over the
  customer's pending items: Stripe's upcoming total before and after.
- On a draft, Stripe's preview leaves the draft's own items out, so the change is computed
  against the draft's lines as Stripe holds them (fetched, not the local copy).
- Holds, releases and invoice voids have nothing for Stripe to compute: `None`.

The store is read in one short transaction and closed before any request to Stripe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from billing_desk.domain.corrections import InvoiceStatus, Plan, Proposal
from billing_desk.domain.errors import InvalidInput
from billing_desk.services.corrections import Preview, preview_correction
from billing_desk.store.models import Customer, Line
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway.client import StripeGateway
from billing_desk.stripe_gateway.previews import CreditNotePreview, ItemChange, StripePreviews

Source = Literal["credit_note_preview", "invoice_preview", "draft"]


@dataclass(frozen=True)
class StripePreview:
    """Stripe's figures for the total the correction works against, before and after, and the
    local change to compare them with. `credit_note` carries the credit note's split."""

    source: Source
    currency: str
    total_before: int
    total_after: int
    local: Preview
    credit_note: CreditNotePreview | None = None

    @property
    def change(self) -> int:
        return self.total_after - self.total_before

    @property
    def matches(self) -> bool:
        impact = self.local.plan.impact
        return (self.total_before, self.change) == (impact.total_before, impact.change)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "currency": self.currency,
            "total_before": self.total_before,
            "total_after": self.total_after,
            "change": self.change,
            "matches": self.matches,
        }
        note = self.credit_note
        if note is not None:
            out["credit_note"] = {
                "invoice": note.invoice,
                "total": note.total,
                "pre_payment_amount": note.pre_payment_amount,
                "post_payment_amount": note.post_payment_amount,
                "customer_balance_amount": note.customer_balance_amount,
                "refund_amount": note.refund_amount,
                "out_of_band_amount": note.out_of_band_amount,
                "amount_remaining_before": note.amount_remaining_before,
                "amount_remaining_after": note.amount_remaining_after,
            }
        return out


@dataclass(frozen=True)
class _Target:
    """What the Stripe request needs from the store."""

    stripe_customer: str | None
    # The Stripe invoice item of the line the plan changes, if it has one.
    invoice_item: str | None
    line_description: str | None


async def stripe_preview(
    gateway: StripeGateway,
    uow_factory: Callable[[], UnitOfWork],
    proposal: Proposal,
    actor: str,
) -> StripePreview | None:
    """Stripe's preview of `proposal` (as `actor` would propose it now), or `None` when Stripe
    has nothing to compute for it. Raises `InvalidInput` for a customer not yet in Stripe and
    the gateway's `StripeFailure`s (transient ones exit 3)."""
    with uow_factory() as uow:
        local = preview_correction(uow, actor, proposal)
        target = _target(uow, local.plan)
    plan, invoice = local.plan, local.invoice
    previews = StripePreviews(gateway)
    if plan.stripe is not None:
        if plan.stripe.kind != "credit_note" or plan.stripe.credit_to is None:
            return None  # a void: Stripe has no preview of one
        assert invoice.stripe_invoice_id is not None  # finalized invoices have one
        note = await previews.credit_note(
            invoice.stripe_invoice_id, plan.stripe.amount, plan.stripe.credit_to, invoice.currency
        )
        return StripePreview(
            "credit_note_preview",
            note.currency,
            note.creditable_before,
            note.creditable_after,
            local,
            note,
        )
    change = _item_change(plan, target)
    if change is None:
        return None  # a hold or a release
    if invoice.status is InvoiceStatus.DRAFT and invoice.stripe_invoice_id is not None:
        draft = await previews.draft(invoice.stripe_invoice_id)
        held = next((ln.amount for ln in draft.lines if ln.invoice_item == change.invoice_item), 0)
        before = draft.total
        after = before + change.amount - (held if change.invoice_item is not None else 0)
        return StripePreview("draft", draft.currency, before, after, local)
    if target.stripe_customer is None:
        raise InvalidInput(
            f"customer {invoice.customer_id} is not in Stripe yet: run `sync` before asking "
            "Stripe for a preview"
        )
    now = await previews.invoice(target.stripe_customer, invoice.currency)
    then = await previews.invoice(target.stripe_customer, invoice.currency, [change])
    return StripePreview("invoice_preview", then.currency, now.total, then.total, local)


def _target(uow: UnitOfWork, plan: Plan) -> _Target:
    session = uow.session
    customer = session.get(Customer, plan.proposal.customer_id)
    item = description = None
    if plan.line_change is not None:
        line = session.get(Line, plan.line_change.line_id)
        if line is not None:
            # A voided line's item was deleted in Stripe: restoring it makes a new one.
            item = None if line.voided else line.stripe_invoice_item
            description = line.description
    return _Target(None if customer is None else customer.stripe_customer_id, item, description)


def _item_change(plan: Plan, target: _Target) -> ItemChange | None:
    """The plan as one invoice item: an existing one at its new amount (0 for a void), or new."""
    if plan.new_line is not None:
        return ItemChange(plan.new_line.amount, description=plan.new_line.description)
    if plan.line_change is None:
        return None
    amount = 0 if plan.line_change.voided else plan.line_change.amount
    return ItemChange(amount, target.invoice_item, target.line_description)
