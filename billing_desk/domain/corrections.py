"""Corrections: what each kind does before and after finalization, its impact, its life.

CONTRACT.md's table, as functions over plain values:

| kind | before finalization (no invoice yet, or a draft) | after finalization |
|---|---|---|
| adjust | sets a usage line's amount or quantity | refused: use credit |
| void | removes a usage line (its increments stay) | refused: use credit |
| credit | a negative line "Credit: REASON" | a credit note (open: pre-payment; paid: balance) |
| one-off | a new line | refused |
| void-invoice | refused (a draft is edited instead) | voids the open (or uncollectible) invoice |
| hold / release | stops / allows finalization | refused |
| undo | reverts an applied adjust, void, credit or one-off | refused |

Amounts are integer minor units. An invoice's total is the sum of its lines after corrections,
and no correction may take it below zero: credits bring it to zero at most.

The life of a correction: `pending_approval → approved → applied`, or `rejected`; an approval
`lapsed` when what it approved changed (back to the queue for a new decision); `failed` when
Stripe refused it; `applied → reverted` by an undo, which is itself a correction under the same
rules. A correction applies at once, without `pending_approval`, when policy allows it.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from billing_desk.domain.audit import canonical_json
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.money import MAX_MINOR, format_money, line_amount

MAX_NOTE = 1000
MAX_DESCRIPTION = 500
_QUANTITY = re.compile(r"[0-9]{1,13}(\.[0-9]{1,12})?")


class Kind(enum.StrEnum):
    ADJUST = "adjust"
    VOID = "void"
    CREDIT = "credit"
    ONE_OFF = "one-off"
    VOID_INVOICE = "void-invoice"
    HOLD = "hold"
    RELEASE = "release"
    UNDO = "undo"


class Reason(enum.StrEnum):
    DUPLICATE_CHARGE = "duplicate-charge"
    PRICING_ERROR = "pricing-error"
    SERVICE_OUTAGE = "service-outage"
    GOODWILL = "goodwill"
    CUSTOMER_DISPUTE = "customer-dispute"
    OTHER = "other"


class Status(enum.StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    APPLIED = "applied"
    REJECTED = "rejected"
    LAPSED = "lapsed"
    FAILED = "failed"
    REVERTED = "reverted"


# Statuses in which a correction still waits on its target (and blocks finalization).
OPEN = frozenset({Status.PENDING_APPROVAL, Status.APPROVED, Status.LAPSED})
AWAITING_DECISION = frozenset({Status.PENDING_APPROVAL, Status.LAPSED})

TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.PENDING_APPROVAL: frozenset({Status.APPROVED, Status.REJECTED}),
    Status.APPROVED: frozenset({Status.APPLIED, Status.LAPSED, Status.FAILED}),
    Status.LAPSED: frozenset({Status.APPROVED, Status.REJECTED}),
    Status.APPLIED: frozenset({Status.REVERTED, Status.FAILED}),
}


class InvoiceStatus(enum.StrEnum):
    """The period's invoice as far as corrections care; NONE before the period is closed."""

    NONE = "none"
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"

    @property
    def finalized(self) -> bool:
        return self not in (InvoiceStatus.NONE, InvoiceStatus.DRAFT)


LINE_KINDS = frozenset({Kind.ADJUST, Kind.VOID})
UNDOABLE = frozenset({Kind.ADJUST, Kind.VOID, Kind.CREDIT, Kind.ONE_OFF})
USAGE = "usage"


class Refused(InvalidInput):
    """The correction cannot be made as asked; the message says why and what to do instead."""


def parse_kind(text: str) -> Kind:
    try:
        return Kind(text)
    except ValueError:
        allowed = ", ".join(k.value for k in Kind if k is not Kind.UNDO)
        raise InvalidInput(f"kind {text!r} is not one of {allowed}") from None


def parse_reason(text: str) -> Reason:
    try:
        return Reason(text)
    except ValueError:
        allowed = ", ".join(r.value for r in Reason)
        raise InvalidInput(f"reason {text!r} is not one of {allowed}") from None


def parse_status(text: str) -> Status:
    try:
        return Status(text)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidInput(f"status {text!r} is not one of {allowed}") from None


def parse_quantity(text: str) -> Decimal:
    """A quantity as typed: a plain decimal >= 0 (at most 12 decimal places, like usage)."""
    if not _QUANTITY.fullmatch(text.strip()):
        raise InvalidInput(f"--quantity {text!r} is not a number like 120 or 0.5")
    return Decimal(text.strip())


def transition(correction_id: int, current: Status, target: Status) -> Status:
    """`target` if the state machine allows it from `current`, else `Refused` saying so."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise Refused(f"correction {correction_id} is {current}: it cannot become {target}")
    return target


@dataclass(frozen=True, slots=True)
class LineView:
    id: int
    customer_id: str
    period: str
    kind: str  # usage | one-off | credit
    description: str
    unit_amount: Decimal
    currency: str
    compiled_amount: int
    amount: int
    voided: bool
    version: int


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """The customer's period. `total` is what corrections work against: before finalization the
    sum of the lines after corrections; after it, what the invoice can still be credited."""

    customer_id: str
    period: str
    currency: str
    status: InvoiceStatus
    total: int
    stripe_invoice_id: str | None = None
    held_by: str | None = None


@dataclass(frozen=True, slots=True)
class AppliedView:
    """An applied correction, as an undo needs to see it."""

    id: int
    kind: Kind
    status: Status
    customer_id: str
    period: str
    line_id: int | None
    created_line_id: int | None
    line_amount_before: int | None
    compiled_at_apply: int | None
    # A later applied correction on the same line: undo that one first.
    superseded_by: int | None = None


@dataclass(frozen=True, slots=True)
class Proposal:
    kind: Kind
    customer_id: str
    period: str
    reason: Reason
    note: str | None = None
    line_id: int | None = None
    amount: int | None = None
    quantity: Decimal | None = None
    description: str | None = None
    reverts: int | None = None

    def content(self) -> dict[str, Any]:
        """What an approval approves (with the target's version): every field of the proposal."""
        return {
            "kind": self.kind.value,
            "customer": self.customer_id,
            "period": self.period,
            "reason": self.reason.value,
            "note": self.note,
            "line": self.line_id,
            "amount": self.amount,
            "quantity": None if self.quantity is None else format(self.quantity, "f"),
            "description": self.description,
            "reverts": self.reverts,
        }


@dataclass(frozen=True, slots=True)
class Impact:
    """What the invoice total is, becomes, and the change (after - before), in minor units."""

    total_before: int
    total_after: int
    line_amount_before: int | None = None
    line_amount_after: int | None = None

    @property
    def change(self) -> int:
        return self.total_after - self.total_before

    @property
    def magnitude(self) -> int:
        return abs(self.change)


@dataclass(frozen=True, slots=True)
class LineChange:
    line_id: int
    amount: int
    voided: bool


@dataclass(frozen=True, slots=True)
class NewLine:
    kind: Literal["credit", "one-off"]
    description: str
    amount: int


@dataclass(frozen=True, slots=True)
class StripeAction:
    kind: Literal["credit_note", "void_invoice"]
    amount: int
    credit_to: Literal["pre_payment", "customer_balance"] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What applying the proposal does now: exactly one of the effects, and its impact."""

    proposal: Proposal
    target_key: str
    impact: Impact
    line_version: int | None = None
    line_change: LineChange | None = None
    new_line: NewLine | None = None
    stripe: StripeAction | None = None
    hold: Literal["place", "release"] | None = None


def binding_hash(content: Mapping[str, Any], line_version: int | None, finalized: bool) -> str:
    """What an approval is bound to: the proposal, its target line's version, and whether the
    invoice was finalized. Any of these changing before application lapses the approval."""
    body = canonical_json({"content": dict(content), "line": line_version, "final": finalized})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def credit_description(reason: Reason) -> str:
    return f"Credit: {reason.value}"


def _where(invoice: InvoiceView) -> str:
    return f"{invoice.customer_id} {invoice.period}"


def _check_fields(p: Proposal) -> None:
    """The options each kind takes, and nothing else."""
    if p.reason is Reason.OTHER and not (p.note and p.note.strip()):
        raise InvalidInput("reason 'other' requires --note saying what happened")
    if p.note is not None and len(p.note) > MAX_NOTE:
        raise InvalidInput(f"note is longer than {MAX_NOTE} characters")
    if p.description is not None and not (0 < len(p.description.strip()) <= MAX_DESCRIPTION):
        raise InvalidInput(f"description must be 1 to {MAX_DESCRIPTION} characters")
    needs_line = p.kind in LINE_KINDS
    takes = {
        Kind.ADJUST: {"line", "amount", "quantity"},
        Kind.VOID: {"line"},
        Kind.CREDIT: {"amount"},
        Kind.ONE_OFF: {"amount", "description"},
        Kind.VOID_INVOICE: set(),
        Kind.HOLD: set(),
        Kind.RELEASE: set(),
        Kind.UNDO: {"reverts"},
    }[p.kind]
    given = {
        name
        for name, value in (
            ("line", p.line_id),
            ("amount", p.amount),
            ("quantity", p.quantity),
            ("description", p.description),
            ("reverts", p.reverts),
        )
        if value is not None
    }
    extra = sorted(given - takes)
    if extra:
        raise InvalidInput(f"{p.kind} takes no --{', --'.join(extra)}")
    if needs_line and p.line_id is None:
        raise InvalidInput(f"{p.kind} needs --line LINE_ID")
    if p.kind is Kind.ADJUST and (p.amount is None) == (p.quantity is None):
        raise InvalidInput("adjust needs exactly one of --amount or --quantity")
    if p.kind in (Kind.CREDIT, Kind.ONE_OFF) and p.amount is None:
        raise InvalidInput(f"{p.kind} needs --amount")
    if p.kind is Kind.ONE_OFF and p.description is None:
        raise InvalidInput("one-off needs --description")
    if p.kind is Kind.UNDO and p.reverts is None:
        raise InvalidInput("undo needs the correction it reverts")
    if p.amount is not None:
        if p.amount < 0 or p.amount > MAX_MINOR:
            raise InvalidInput("--amount must be between 0 and what the store can hold")
        if p.kind in (Kind.CREDIT, Kind.ONE_OFF) and p.amount == 0:
            raise InvalidInput(f"{p.kind} --amount must be more than zero")
    if p.quantity is not None and (not p.quantity.is_finite() or p.quantity < 0):
        raise InvalidInput("--quantity must be a number >= 0")


def _check_stage(p: Proposal, invoice: InvoiceView) -> None:
    """CONTRACT.md's before/after finalization table."""
    status = invoice.status
    where = _where(invoice)
    if status is InvoiceStatus.VOID:
        raise Refused(f"the invoice for {where} is void: nothing more can be corrected on it")
    if not status.finalized:
        if p.kind is Kind.VOID_INVOICE:
            raise Refused(
                f"the invoice for {where} is not finalized: void-invoice refused "
                "(a draft is edited instead: void its lines or credit it)"
            )
        return
    if p.kind in LINE_KINDS:
        raise Refused(f"the invoice for {where} is {status}: {p.kind} refused: use credit")
    if p.kind is Kind.ONE_OFF:
        raise Refused(
            f"the invoice for {where} is {status}: one-off refused "
            "(no new charges on a finalized invoice)"
        )
    if p.kind in (Kind.HOLD, Kind.RELEASE):
        raise Refused(f"the invoice for {where} is already {status}: {p.kind} refused")
    if p.kind is Kind.UNDO:
        raise Refused(
            f"the invoice for {where} is {status}: corrections can no longer be undone "
            "(credit it instead)"
        )
    if p.kind is Kind.CREDIT and status is InvoiceStatus.UNCOLLECTIBLE:
        raise Refused(
            f"the invoice for {where} is uncollectible: credit refused (Stripe issues credit "
            "notes on open or paid invoices only; void it instead)"
        )
    if p.kind is Kind.VOID_INVOICE and status is InvoiceStatus.PAID:
        raise Refused(f"the invoice for {where} is paid: void-invoice refused: use credit")


def _check_total(invoice: InvoiceView, after: int) -> None:
    if after < 0:
        code = invoice.currency
        raise Refused(
            f"this would take the invoice total for {_where(invoice)} from "
            f"{format_money(invoice.total, code)} to {format_money(after, code)}: "
            "credits may bring an invoice to zero, never below"
        )


def _usage_line(p: Proposal, line: LineView | None, invoice: InvoiceView) -> LineView:
    if line is None or line.id != p.line_id:
        raise InvalidInput(f"line {p.line_id} does not exist")
    if (line.customer_id, line.period) != (invoice.customer_id, invoice.period):
        raise InvalidInput(
            f"line {line.id} belongs to {line.customer_id} {line.period}, not {_where(invoice)}"
        )
    if line.kind != USAGE:
        raise Refused(
            f"line {line.id} is a {line.kind} line made by a correction: undo that correction "
            "instead"
        )
    if line.voided:
        raise Refused(f"line {line.id} is void: undo the void first")
    return line


def plan(
    p: Proposal,
    invoice: InvoiceView,
    line: LineView | None = None,
    original: AppliedView | None = None,
) -> Plan:
    """Check the proposal against the invoice as it is now and say what applying it does.

    `line` is the target line (adjust, void) or, for an undo, the line the original changed or
    created; `original` is the correction an undo reverts. Raises `InvalidInput`/`Refused`.
    """
    _check_fields(p)
    if (p.customer_id, p.period) != (invoice.customer_id, invoice.period):
        raise InvalidInput(f"the proposal is for {p.customer_id} {p.period}, not {_where(invoice)}")
    _check_stage(p, invoice)
    total = invoice.total
    invoice_key = f"invoice:{invoice.customer_id}:{invoice.period}"
    if p.kind in LINE_KINDS:
        target = _usage_line(p, line, invoice)
        if p.kind is Kind.VOID:
            new_amount, voided = 0, True
        elif p.amount is not None:
            new_amount, voided = p.amount, False
        else:
            assert p.quantity is not None
            new_amount, voided = line_amount(p.quantity, target.unit_amount, target.currency), False
        after = total + new_amount - target.amount
        _check_total(invoice, after)
        return Plan(
            p,
            f"line:{target.id}",
            Impact(total, after, target.amount, new_amount),
            line_version=target.version,
            line_change=LineChange(target.id, new_amount, voided),
        )
    if p.kind is Kind.CREDIT:
        assert p.amount is not None
        after = total - p.amount
        if invoice.status.finalized:
            if after < 0:
                code = invoice.currency
                raise Refused(
                    f"a credit note of {format_money(p.amount, code)} is more than the "
                    f"{format_money(total, code)} the invoice for {_where(invoice)} can still "
                    "be credited"
                )
            credit_to: Literal["pre_payment", "customer_balance"] = (
                "customer_balance" if invoice.status is InvoiceStatus.PAID else "pre_payment"
            )
            return Plan(
                p,
                f"{invoice_key}:credit",
                Impact(total, after),
                stripe=StripeAction("credit_note", p.amount, credit_to),
            )
        _check_total(invoice, after)
        return Plan(
            p,
            f"{invoice_key}:credit",
            Impact(total, after, None, -p.amount),
            new_line=NewLine("credit", credit_description(p.reason), -p.amount),
        )
    if p.kind is Kind.ONE_OFF:
        assert p.amount is not None
        assert p.description is not None
        return Plan(
            p,
            f"{invoice_key}:one-off",
            Impact(total, total + p.amount, None, p.amount),
            new_line=NewLine("one-off", p.description.strip(), p.amount),
        )
    if p.kind is Kind.VOID_INVOICE:
        return Plan(
            p, f"{invoice_key}:void", Impact(total, 0), stripe=StripeAction("void_invoice", total)
        )
    if p.kind is Kind.HOLD:
        if invoice.held_by is not None:
            raise Refused(f"finalization of {_where(invoice)} is already held by {invoice.held_by}")
        return Plan(p, f"{invoice_key}:hold", Impact(total, total), hold="place")
    if p.kind is Kind.RELEASE:
        if invoice.held_by is None:
            raise Refused(f"finalization of {_where(invoice)} is not held: nothing to release")
        return Plan(p, f"{invoice_key}:hold", Impact(total, total), hold="release")
    return _plan_undo(p, invoice, line, original)


def _plan_undo(
    p: Proposal, invoice: InvoiceView, line: LineView | None, original: AppliedView | None
) -> Plan:
    if original is None or original.id != p.reverts:
        raise InvalidInput(f"correction {p.reverts} does not exist")
    if (original.customer_id, original.period) != (invoice.customer_id, invoice.period):
        raise InvalidInput(
            f"correction {original.id} is for {original.customer_id} {original.period}, "
            f"not {_where(invoice)}"
        )
    if original.kind not in UNDOABLE:
        hint = " (release the hold instead)" if original.kind is Kind.HOLD else ""
        raise Refused(f"a {original.kind} correction cannot be undone{hint}")
    if original.status is not Status.APPLIED:
        raise Refused(
            f"correction {original.id} is {original.status}: only an applied one is undone"
        )
    if original.superseded_by is not None:
        raise Refused(
            f"correction {original.superseded_by} changed the same line after {original.id}: "
            "undo it first"
        )
    affected = original.created_line_id or original.line_id
    if line is None or line.id != affected:
        raise InvalidInput(f"line {affected} of correction {original.id} does not exist")
    total = invoice.total
    if original.created_line_id is not None:
        restored, voided = 0, True
    else:
        assert original.line_amount_before is not None
        assert original.compiled_at_apply is not None
        # What the line would bill without the original: its amount then, plus usage since.
        restored = original.line_amount_before + (line.compiled_amount - original.compiled_at_apply)
        voided = False
    after = total + restored - line.amount
    _check_total(invoice, after)
    return Plan(
        p,
        f"line:{line.id}",
        Impact(total, after, line.amount, restored),
        line_version=line.version,
        line_change=LineChange(line.id, restored, voided),
    )
