"""How the intervention dialogs put a correction into words: pure functions over the corrections
service's values, so they are tested without widgets and every dialog says things the same way.
"""

from __future__ import annotations

from html import escape

from billing_desk.domain.corrections import InvoiceStatus, Kind, Proposal, Reason, Status
from billing_desk.domain.reconcile import LocalLine
from billing_desk.services.corrections import Decision, Preview
from billing_desk.ui import format as fmt

REASON_LABELS = {
    Reason.DUPLICATE_CHARGE: "Duplicate charge",
    Reason.PRICING_ERROR: "Pricing error",
    Reason.SERVICE_OUTAGE: "Service outage",
    Reason.GOODWILL: "Goodwill",
    Reason.CUSTOMER_DISPUTE: "Customer dispute",
    Reason.OTHER: "Other (say what in the note)",
}

KIND_LABELS = {
    Kind.ADJUST: "Adjust",
    Kind.VOID: "Void line",
    Kind.CREDIT: "Credit",
    Kind.ONE_OFF: "One-off charge",
    Kind.VOID_INVOICE: "Void invoice",
    Kind.HOLD: "Hold",
    Kind.RELEASE: "Release",
    Kind.UNDO: "Undo",
}


INVOICE_STATES = {
    InvoiceStatus.NONE: "period not closed yet",
    InvoiceStatus.DRAFT: "draft",
    InvoiceStatus.OPEN: "open",
    InvoiceStatus.PAID: "paid",
    InvoiceStatus.UNCOLLECTIBLE: "uncollectible",
    InvoiceStatus.VOID: "void",
}


def reason_label(code: str) -> str:
    try:
        return REASON_LABELS[Reason(code)].split(" (")[0]
    except ValueError:
        return code


def kind_label(code: str) -> str:
    try:
        return KIND_LABELS[Kind(code)]
    except ValueError:
        return code


def total_change(before: int, after: int, code: str) -> str:
    """ "1,234.00 USD → 1,134.00 USD (−100.00)"; unchanged totals say so."""
    if before == after:
        return f"{fmt.money(before, code)} (unchanged)"
    return (
        f"{fmt.money(before, code)} → {fmt.money(after, code)} ({fmt.signed(after - before, code)})"
    )


def impact_text(preview: Preview) -> str:
    """The live preview: what the invoice total becomes, and the line's amount if one changes."""
    plan, invoice = preview.plan, preview.invoice
    code = invoice.currency
    impact = plan.impact
    if plan.hold == "place":
        return (
            f"Invoice total stays {fmt.money(impact.total_before, code)}; the invoice will not "
            "be finalized until the hold is released."
        )
    if plan.hold == "release":
        return (
            f"Invoice total stays {fmt.money(impact.total_before, code)}; the invoice will be "
            "finalized when it is due."
        )
    label = "Left to credit on the invoice" if invoice.status.finalized else "Invoice total"
    text = f"{label}: {total_change(impact.total_before, impact.total_after, code)}"
    if plan.line_change is not None and impact.line_amount_before is not None:
        after = impact.line_amount_after or 0
        state = " (void)" if plan.line_change.voided else ""
        text += (
            f"\nLine {plan.line_change.line_id}: {fmt.money(impact.line_amount_before, code)} → "
            f"{fmt.money(after, code)}{state}"
        )
    if plan.stripe is not None:
        if plan.stripe.kind == "void_invoice":
            text += "\nStripe voids the invoice; nothing is collected for it."
        elif plan.stripe.credit_to == "customer_balance":
            text += "\nStripe issues a credit note; the invoice is paid, so it goes to the balance."
        else:
            text += "\nStripe issues a credit note that lowers the amount due."
    return text


def route_text(preview: Preview) -> str:
    """Before confirming: applies now, or waits for a lead, and why."""
    why = preview.approval_needed
    if why is not None:
        return f"Goes to a lead for approval: {why}. Nothing changes until a lead approves it."
    kind = preview.plan.proposal.kind
    if kind in (Kind.HOLD, Kind.RELEASE):
        return "Applies now."
    return f"Applies now: within the {preview.role.value} limit."


def _line_name(line: LocalLine | None, line_id: int | None) -> str:
    if line is None or line.id != line_id:
        return f"line {line_id}"
    return f"line {line.id} ({line.description or line.item})"


def describe_proposal(
    proposal: Proposal, preview: Preview, customer_name: str = "", line: LocalLine | None = None
) -> str:
    """The review page's summary as rich text (every value escaped)."""
    invoice = preview.invoice
    code = invoice.currency
    impact = preview.plan.impact
    whose = (
        f"the {proposal.period} invoice of {customer_name or proposal.customer_id} "
        f"({INVOICE_STATES[invoice.status]})"
    )
    kind = proposal.kind
    if kind is Kind.ADJUST:
        target = _line_name(line, proposal.line_id)
        if proposal.quantity is not None:
            what = (
                f"Set the quantity of {target} to {fmt.quantity(proposal.quantity)}, billing "
                f"{fmt.money(impact.line_amount_after or 0, code)}"
            )
        else:
            what = f"Set {target} to {fmt.money(proposal.amount or 0, code)}"
        what += f" (was {fmt.money(impact.line_amount_before or 0, code)})"
    elif kind is Kind.VOID:
        what = f"Void {_line_name(line, proposal.line_id)}; its usage stays in the ledger"
    elif kind is Kind.CREDIT:
        amount = fmt.money(proposal.amount or 0, code)
        what = (
            f"Issue a Stripe credit note of {amount}"
            if invoice.status.finalized
            else f"Credit {amount} as a line “Credit: {proposal.reason.value}”"
        )
    elif kind is Kind.ONE_OFF:
        what = (
            f"Add a one-off charge “{proposal.description}” of "
            f"{fmt.money(proposal.amount or 0, code)}"
        )
    elif kind is Kind.VOID_INVOICE:
        what = f"Void the invoice in Stripe ({invoice.stripe_invoice_id or 'not yet in Stripe'})"
    elif kind is Kind.HOLD:
        what = "Hold finalization"
    elif kind is Kind.RELEASE:
        what = f"Release the hold placed by {invoice.held_by or 'someone'}"
    else:
        what = f"Undo correction {proposal.reverts}"
    reason = REASON_LABELS[proposal.reason].split(" (")[0]
    parts = [
        f"<b>{escape(what)}</b> on {escape(whose)}.",
        f"Invoice total: {escape(total_change(impact.total_before, impact.total_after, code))}",
        f"Reason: {escape(reason)}" + (f" — {escape(proposal.note)}" if proposal.note else ""),
    ]
    return "<br>".join(parts)


def describe_decision(decision: Decision) -> str:
    """What happened, for the status bar once the dialog closes."""
    if decision.status is Status.APPLIED:
        return f"Correction {decision.id} applied; the next sync sends it to Stripe."
    if decision.status is Status.PENDING_APPROVAL:
        why = f" ({decision.reason})" if decision.reason else ""
        return f"Correction {decision.id} is waiting for a lead's approval{why}."
    return f"Correction {decision.id} is {decision.status.value.replace('_', ' ')}."
